/// A strict RFC 8259 scanner that runs before json-c. json-c 0.16 reports no position for a value
/// and, even in strict mode, accepts NaN and Infinity, keeps the last of duplicate keys, truncates
/// keys at an escaped NUL and saturates big integers. This scanner rejects all of those with a
/// located message and records where every value (and every member's key) starts, by JSON path,
/// so later errors can point into the file.
struct StrictJSONScanner {
    struct Position {
        var value: (line: Int, column: Int)
        var key: (line: Int, column: Int)?
    }

    struct SyntaxError: Error {
        var line: Int
        var column: Int
        var path: JSONPath
        var message: String
    }

    static let maxDepth = 64

    private let bytes: [UInt8]
    private var i: Int
    private var line = 1
    private var column = 1
    private(set) var positions: [JSONPath: Position] = [:]

    init(_ bytes: [UInt8], startingAt offset: Int = 0) {
        self.bytes = bytes
        self.i = offset
    }

    /// Scans one complete document: a single value with nothing but whitespace after it.
    mutating func scanDocument() throws(SyntaxError) {
        skipWhitespace()
        if i == bytes.count { throw error("the file is empty: expected a JSON object", at: .root) }
        try scanValue(.root, depth: 0)
        skipWhitespace()
        if i < bytes.count {
            throw error(
                commentOr("expected the end of the file after the JSON document, found \(describeByte())"),
                at: .root)
        }
    }

    // MARK: values

    private mutating func scanValue(_ path: JSONPath, depth: Int) throws(SyntaxError) {
        skipWhitespace()
        guard i < bytes.count else {
            throw error("unexpected end of file: expected a value", at: path)
        }
        positions[path, default: Position(value: (0, 0))].value = (line, column)
        switch bytes[i] {
        case UInt8(ascii: "{"): try scanObject(path, depth: depth + 1)
        case UInt8(ascii: "["): try scanArray(path, depth: depth + 1)
        case UInt8(ascii: "\""): _ = try scanString(path, decode: false)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try scanNumber(path)
        case UInt8(ascii: "t"): try scanLiteral("true", path)
        case UInt8(ascii: "f"): try scanLiteral("false", path)
        case UInt8(ascii: "n"): try scanLiteral("null", path)
        case UInt8(ascii: "N"), UInt8(ascii: "I"):
            throw error("NaN and Infinity are not JSON numbers", at: path)
        case UInt8(ascii: "'"):
            throw error("strings must use double quotes (\"), not single quotes", at: path)
        default:
            throw error(
                commentOr(
                    "expected a value (object, array, string, number, true, false or null), found \(describeByte())"),
                at: path)
        }
    }

    private mutating func scanObject(_ path: JSONPath, depth: Int) throws(SyntaxError) {
        if depth > Self.maxDepth {
            throw error("nesting is deeper than \(Self.maxDepth) levels", at: path)
        }
        advance()  // {
        var seen: [String: (line: Int, column: Int)] = [:]
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            advance()
            return
        }
        while true {
            skipWhitespace()
            guard i < bytes.count else {
                throw error("unexpected end of file: expected a string key", at: path)
            }
            guard bytes[i] == UInt8(ascii: "\"") else {
                if bytes[i] == UInt8(ascii: "}") && !seen.isEmpty {
                    throw error("trailing comma before '}' is not allowed", at: path)
                }
                if bytes[i] == UInt8(ascii: "'") {
                    throw error("keys must use double quotes (\"), not single quotes", at: path)
                }
                throw error(commentOr("expected a string key in double quotes, found \(describeByte())"), at: path)
            }
            let keyStart = (line, column)
            let key = try scanString(path, decode: true)
            if key.unicodeScalars.contains("\0") {
                throw SyntaxError(
                    line: keyStart.0, column: keyStart.1, path: path,
                    message: "object key \(JSONPath.quoted(key)) contains a NUL character")
            }
            if let first = seen[key] {
                throw SyntaxError(
                    line: keyStart.0, column: keyStart.1, path: path.appending(key),
                    message:
                        "duplicate key \(JSONPath.quoted(key)) (first at line \(first.line), column \(first.column))")
            }
            seen[key] = keyStart
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else {
                throw error(
                    "expected ':' after the key \(JSONPath.quoted(key)), found \(describeByte())",
                    at: path.appending(key))
            }
            advance()
            let memberPath = path.appending(key)
            try scanValue(memberPath, depth: depth)
            positions[memberPath]?.key = keyStart
            skipWhitespace()
            guard i < bytes.count else {
                throw error("unexpected end of file: expected ',' or '}'", at: path)
            }
            if bytes[i] == UInt8(ascii: ",") {
                advance()
            } else if bytes[i] == UInt8(ascii: "}") {
                advance()
                return
            } else {
                throw error(
                    commentOr("expected ',' or '}' after an object member, found \(describeByte())"), at: path)
            }
        }
    }

    private mutating func scanArray(_ path: JSONPath, depth: Int) throws(SyntaxError) {
        if depth > Self.maxDepth {
            throw error("nesting is deeper than \(Self.maxDepth) levels", at: path)
        }
        advance()  // [
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            advance()
            return
        }
        var index = 0
        while true {
            skipWhitespace()
            if peek(UInt8(ascii: "]")) {
                throw error("trailing comma before ']' is not allowed", at: path)
            }
            try scanValue(path.appending(index), depth: depth)
            index += 1
            skipWhitespace()
            guard i < bytes.count else {
                throw error("unexpected end of file: expected ',' or ']'", at: path)
            }
            if bytes[i] == UInt8(ascii: ",") {
                advance()
            } else if bytes[i] == UInt8(ascii: "]") {
                advance()
                return
            } else {
                throw error(
                    commentOr("expected ',' or ']' after an array element, found \(describeByte())"), at: path)
            }
        }
    }

    /// Scans a string; decodes it only when asked (keys), since json-c builds the values.
    private mutating func scanString(_ path: JSONPath, decode: Bool) throws(SyntaxError) -> String {
        let start = (line, column)
        advance()  // "
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else {
                throw SyntaxError(
                    line: start.0, column: start.1, path: path,
                    message: "unterminated string: end of file before the closing '\"'")
            }
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "\""):
                advance()
                return decode ? String(decoding: out, as: UTF8.self) : ""
            case UInt8(ascii: "\\"):
                advance()
                let scalar = try scanEscape(path)
                if decode { out.append(contentsOf: Array(String(scalar).utf8)) }
            case 0x0A, 0x0D:
                throw error("unterminated string: a string cannot span lines (write \\n)", at: path)
            case 0..<0x20:
                throw error("\(describeByte()) must be escaped inside a string", at: path)
            case 0x80...:
                let length = try utf8SequenceLength(path)
                if decode { out.append(contentsOf: bytes[i..<i + length]) }
                for _ in 0..<length { advance() }
            default:
                if decode { out.append(b) }
                advance()
            }
        }
    }

    private mutating func scanEscape(_ path: JSONPath) throws(SyntaxError) -> Unicode.Scalar {
        guard i < bytes.count else {
            throw error("unterminated string: end of file after '\\'", at: path)
        }
        let b = bytes[i]
        let at = (line, column)
        advance()
        switch b {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try scanHex4(path)
            if (0xDC00...0xDFFF).contains(high) {
                throw error("invalid \\u escape: lone low surrogate \\u\(hex(high))", at: path)
            }
            guard (0xD800...0xDBFF).contains(high) else { return Unicode.Scalar(high)! }
            guard peek(UInt8(ascii: "\\")), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "u")
            else {
                throw error(
                    "invalid \\u escape: high surrogate \\u\(hex(high)) is not followed by a low surrogate",
                    at: path)
            }
            advance()
            advance()
            let low = try scanHex4(path)
            guard (0xDC00...0xDFFF).contains(low) else {
                throw error(
                    "invalid \\u escape: high surrogate \\u\(hex(high)) is followed by \\u\(hex(low))",
                    at: path)
            }
            return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))!
        default:
            // Back to the escaped byte, which may have been a line break.
            i -= 1
            (line, column) = at
            // A visible character is shown after its backslash; a line break, NUL or space is named.
            let shown = describeByte()
            if b != 0x20 && shown.hasPrefix("'") {
                throw error("invalid escape '\\\(shown.dropFirst().dropLast())' in a string", at: path)
            }
            throw error("invalid escape: '\\' followed by \(shown)", at: path)
        }
    }

    private mutating func scanHex4(_ path: JSONPath) throws(SyntaxError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.count, let digit = hexValue(bytes[i]) else {
                throw error("invalid \\u escape: expected 4 hexadecimal digits", at: path)
            }
            value = value << 4 | digit
            advance()
        }
        return value
    }

    /// Validates one UTF-8 sequence at `i` (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
    private func utf8SequenceLength(_ path: JSONPath) throws(SyntaxError) -> Int {
        let b0 = bytes[i]
        func cont(_ k: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            i + k < bytes.count && range.contains(bytes[i + k])
        }
        let ok: Bool
        let length: Int
        switch b0 {
        case 0xC2...0xDF: (ok, length) = (cont(1), 2)
        case 0xE0: (ok, length) = (cont(1, 0xA0...0xBF) && cont(2), 3)
        case 0xED: (ok, length) = (cont(1, 0x80...0x9F) && cont(2), 3)
        case 0xE1...0xEC, 0xEE...0xEF: (ok, length) = (cont(1) && cont(2), 3)
        case 0xF0: (ok, length) = (cont(1, 0x90...0xBF) && cont(2) && cont(3), 4)
        case 0xF1...0xF3: (ok, length) = (cont(1) && cont(2) && cont(3), 4)
        case 0xF4: (ok, length) = (cont(1, 0x80...0x8F) && cont(2) && cont(3), 4)
        default: (ok, length) = (false, 1)
        }
        guard ok else {
            throw error("invalid UTF-8 in a string (byte 0x\(hex(UInt32(b0), width: 2)))", at: path)
        }
        return length
    }

    private mutating func scanNumber(_ path: JSONPath) throws(SyntaxError) {
        let start = i
        var isInteger = true
        if peek(UInt8(ascii: "-")) {
            advance()
            if peek(UInt8(ascii: "I")) { throw error("NaN and Infinity are not JSON numbers", at: path) }
        }
        guard i < bytes.count, isDigit(bytes[i]) else {
            throw error("invalid number: expected a digit, found \(describeByte())", at: path)
        }
        if bytes[i] == UInt8(ascii: "0") {
            advance()
            if i < bytes.count, isDigit(bytes[i]) {
                throw error("invalid number: leading zeros are not allowed", at: path)
            }
        } else {
            while i < bytes.count, isDigit(bytes[i]) { advance() }
        }
        if peek(UInt8(ascii: ".")) {
            isInteger = false
            advance()
            guard i < bytes.count, isDigit(bytes[i]) else {
                throw error("invalid number: expected a digit after '.'", at: path)
            }
            while i < bytes.count, isDigit(bytes[i]) { advance() }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            isInteger = false
            advance()
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { advance() }
            guard i < bytes.count, isDigit(bytes[i]) else {
                throw error("invalid number: expected a digit in the exponent", at: path)
            }
            while i < bytes.count, isDigit(bytes[i]) { advance() }
        }
        if i < bytes.count, isNumberTail(bytes[i]) {
            throw error("invalid number: unexpected \(describeByte())", at: path)
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        let shown = text.count > 40 ? String(text.prefix(40)) + "…" : text
        if isInteger {
            if Int64(text) == nil {
                throw SyntaxError(
                    line: positions[path]!.value.line, column: positions[path]!.value.column,
                    path: path,
                    message:
                        "number \(shown) is out of range: integers must lie between -9223372036854775808 and 9223372036854775807"
                )
            }
        } else if let value = Double(text), !value.isFinite {
            throw SyntaxError(
                line: positions[path]!.value.line, column: positions[path]!.value.column,
                path: path, message: "number \(shown) is out of range for a 64-bit float")
        }
    }

    private mutating func scanLiteral(_ word: StaticString, _ path: JSONPath) throws(SyntaxError) {
        let expected = word.withUTF8Buffer { Array($0) }
        var k = 0
        while k < expected.count, i + k < bytes.count, bytes[i + k] == expected[k] { k += 1 }
        if k < expected.count || (i + k < bytes.count && isLetter(bytes[i + k])) {
            var end = i
            while end < bytes.count, end - i < 20, isLetter(bytes[end]) { end += 1 }
            let found = String(decoding: bytes[i..<max(end, i + 1)], as: UTF8.self)
            throw error(
                "invalid literal '\(found)': expected true, false, null, a number, a string, an array or an object",
                at: path)
        }
        for _ in 0..<k { advance() }
    }

    // MARK: bytes and positions

    private mutating func advance() {
        let b = bytes[i]
        i += 1
        if b == 0x0A {
            line += 1
            column = 1
        } else if b & 0xC0 != 0x80 {
            column += 1
        }
    }

    private func peek(_ b: UInt8) -> Bool { i < bytes.count && bytes[i] == b }

    private mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: advance()
            default: return
            }
        }
    }

    /// Comments are the commonest non-JSON a hand-written file has: say so rather than "found '/'".
    private func commentOr(_ message: String) -> String {
        guard peek(UInt8(ascii: "/")), i + 1 < bytes.count,
            bytes[i + 1] == UInt8(ascii: "/") || bytes[i + 1] == UInt8(ascii: "*")
        else { return message }
        return "comments (// or /* */) are not allowed in JSON"
    }

    private func error(_ message: String, at path: JSONPath) -> SyntaxError {
        SyntaxError(line: line, column: column, path: path, message: message)
    }

    /// How the byte at the cursor reads in an error: 'x', the character, or the invalid byte.
    private func describeByte(quoted: Bool = true) -> String {
        guard i < bytes.count else { return "end of file" }
        let b = bytes[i]
        if b == 0 { return "a NUL byte" }
        if b < 0x20 || b == 0x7F { return "control character U+\(hex(UInt32(b)))" }
        if b < 0x80 {
            let c = String(UnicodeScalar(b))
            return quoted ? "'\(c)'" : c
        }
        let length = (try? utf8SequenceLength(.root)) ?? 0
        if length > 0 {
            let c = String(decoding: bytes[i..<i + length], as: UTF8.self)
            // A no-break space or a second byte order mark would print as a blank: name it.
            if quoted, let scalar = c.unicodeScalars.first, Self.isInvisible(scalar) {
                let what =
                    scalar.value == 0xFEFF
                    ? "a byte order mark"
                    : scalar.properties.isWhitespace ? "a space JSON does not allow" : "an invisible character"
                return "U+\(hex(scalar.value)) (\(what))"
            }
            return quoted ? "'\(c)'" : c
        }
        return "invalid UTF-8 byte 0x\(hex(UInt32(b), width: 2))"
    }

    private static func isInvisible(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .format, .control, .spaceSeparator, .lineSeparator, .paragraphSeparator, .nonspacingMark,
            .enclosingMark, .spacingMark, .privateUse, .unassigned:
            true
        default: scalar.properties.isWhitespace
        }
    }

    private func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
    private func isLetter(_ b: UInt8) -> Bool { (b | 0x20) >= 0x61 && (b | 0x20) <= 0x7A }
    private func isNumberTail(_ b: UInt8) -> Bool {
        isLetter(b) || isDigit(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "+")
            || b == UInt8(ascii: "-")
    }
    private func hexValue(_ b: UInt8) -> UInt32? {
        switch b {
        case 0x30...0x39: UInt32(b - 0x30)
        case 0x41...0x46: UInt32(b - 0x41 + 10)
        case 0x61...0x66: UInt32(b - 0x61 + 10)
        default: nil
        }
    }
    private func hex(_ v: UInt32, width: Int = 4) -> String {
        String(v, radix: 16, uppercase: true).leftPadded(to: width)
    }
}
