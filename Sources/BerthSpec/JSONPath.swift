/// A path into a JSON document, printed the way users write it: `ports[1].host`,
/// `labels["com.example.tier"]`; the document itself is `$`.
public struct JSONPath: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Component: Hashable, Sendable {
        case key(String)
        case index(Int)
    }

    public var components: [Component]

    public init(_ components: [Component] = []) { self.components = components }

    public static let root = JSONPath()

    public func appending(_ key: String) -> JSONPath { JSONPath(components + [.key(key)]) }
    public func appending(_ index: Int) -> JSONPath { JSONPath(components + [.index(index)]) }

    public var description: String {
        if components.isEmpty { return "$" }
        var out = ""
        for component in components {
            switch component {
            case .index(let i): out += "[\(i)]"
            case .key(let k) where k.utf8.count <= JSONPath.quotedLimit && JSONPath.isIdentifier(k):
                out += out.isEmpty ? k : ".\(k)"
            case .key(let k): out += "[\(JSONPath.quoted(k))]"
            }
        }
        return out
    }

    public static func < (a: JSONPath, b: JSONPath) -> Bool { a.description < b.description }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first == "$" || first.isASCIILetter
        else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0 == "$" || $0.isASCIILetter || $0.isASCIIDigit }
    }

    /// Strings longer than this are cut short, with "…", where messages and paths quote them.
    static let quotedLimit = 256

    /// A JSON string literal for `s`, with control characters escaped so output stays on one line,
    /// and a huge string (a megabyte-long key) cut at `quotedLimit` characters.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for (n, scalar) in s.unicodeScalars.enumerated() {
            if n == quotedLimit {
                out += "…"
                break
            }
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += "\\u" + String(scalar.value, radix: 16).leftPadded(to: 4)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Unicode.Scalar {
    var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
