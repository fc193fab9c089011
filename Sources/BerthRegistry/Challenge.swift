/// One challenge of a `WWW-Authenticate` header (RFC 7235): a scheme and its parameters, e.g.
/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"`.
public struct Challenge: Sendable, Hashable {
    /// Lowercased: `bearer`, `basic`.
    public var scheme: String
    /// Parameter names lowercased; values unquoted and unescaped.
    public var parameters: [String: String]

    public init(scheme: String, parameters: [String: String]) {
        self.scheme = scheme.lowercased()
        self.parameters = parameters
    }

    public var realm: String? { parameters["realm"] }
    public var service: String? { parameters["service"] }
    /// The scopes the registry asks for, split at spaces (a challenge may name several).
    public var scopes: [String] { (parameters["scope"] ?? "").split(separator: " ").map(String.init) }

    /// Every challenge in the header values (one header may hold several, and a response may
    /// have several headers). Malformed parts are skipped, never guessed at.
    public static func parse(_ headerValues: [String]) -> [Challenge] {
        headerValues.flatMap { parse($0) }
    }

    public static func parse(_ header: String) -> [Challenge] {
        var scanner = Scanner(Array(header.utf8))
        var challenges: [Challenge] = []
        while true {
            scanner.skip { $0 == .space || $0 == .tab || $0 == .comma }
            guard let scheme = scanner.token() else { break }
            var parameters: [String: String] = [:]
            // Parameters: name = value, separated by commas, until a token that is not
            // followed by '=' (the next challenge's scheme) or the end.
            while true {
                let mark = scanner.position
                scanner.skip { $0 == .space || $0 == .tab || $0 == .comma }
                guard let name = scanner.token() else {
                    scanner.position = mark
                    break
                }
                scanner.skip { $0 == .space || $0 == .tab }
                guard scanner.peek == .equals else {
                    scanner.position = mark
                    break
                }
                scanner.position += 1
                scanner.skip { $0 == .space || $0 == .tab }
                let value: String?
                if scanner.peek == .quote {
                    value = scanner.quoted()
                } else {
                    value = scanner.token()
                }
                guard let value else {
                    // A malformed value: drop the rest of this header.
                    return challenges + [Challenge(scheme: scheme, parameters: parameters)]
                }
                parameters[name.lowercased()] = value
            }
            challenges.append(Challenge(scheme: scheme, parameters: parameters))
        }
        return challenges
    }

    private struct Scanner {
        let bytes: [UInt8]
        var position = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skip(_ predicate: (UInt8) -> Bool) {
            while let b = peek, predicate(b) { position += 1 }
        }

        /// An RFC 7230 token (tchar+), or for token68 values also '/', '+' and trailing '='.
        mutating func token() -> String? {
            let start = position
            while let b = peek, Self.isTokenChar(b) { position += 1 }
            return position > start ? String(decoding: bytes[start..<position], as: UTF8.self) : nil
        }

        mutating func quoted() -> String? {
            guard peek == .quote else { return nil }
            position += 1
            var out: [UInt8] = []
            while let b = peek {
                position += 1
                if b == .quote { return String(decoding: out, as: UTF8.self) }
                if b == .backslash {
                    guard let escaped = peek else { return nil }
                    position += 1
                    out.append(escaped)
                } else {
                    out.append(b)
                }
            }
            return nil  // unterminated
        }

        static func isTokenChar(_ b: UInt8) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return Array("!#$%&'*+-.^_`|~/:".utf8).contains(b)
            }
        }
    }
}

extension UInt8 {
    fileprivate static let space = UInt8(ascii: " ")
    fileprivate static let tab = UInt8(ascii: "\t")
    fileprivate static let comma = UInt8(ascii: ",")
    fileprivate static let equals = UInt8(ascii: "=")
    fileprivate static let quote = UInt8(ascii: "\"")
    fileprivate static let backslash = UInt8(ascii: "\\")
}
