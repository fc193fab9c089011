#if canImport(Glibc)
    import Glibc
#endif

/// systemd's rules for unit names (src/basic/unit-name.c), checked before a name is sent, so a
/// bad container name becomes a clear error naming it, never a confusing bus error or, worse, a
/// different unit. Also systemd-escape's escaping, for turning arbitrary text into a name part.
public enum UnitName {
    /// What a valid name is: "foo.service", "foo@bar.service" or the template "foo@.service".
    public enum Kind: Sendable, Equatable {
        case plain
        case instance
        case template
    }

    /// UNIT_NAME_MAX is 256 including the terminating NUL.
    public static let maxLength = 255

    /// The unit types (the part after the last dot) this systemd knows.
    public static let types: Set<String> = [
        "service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope",
    ]

    /// The kind of a valid unit name, or nil when systemd would reject it.
    public static func kind(of name: String) -> Kind? {
        let bytes = Array(name.utf8)
        guard !bytes.isEmpty, bytes.count <= maxLength,
            let dot = bytes.lastIndex(of: UInt8(ascii: ".")), dot > 0,
            types.contains(String(decoding: bytes[(dot + 1)...], as: UTF8.self))
        else { return nil }
        let prefix = bytes[..<dot]
        guard prefix.allSatisfy({ isValidChar($0) || $0 == UInt8(ascii: "@") }) else { return nil }
        // Only the first '@' separates prefix and instance; an instance may contain more.
        guard let at = prefix.firstIndex(of: UInt8(ascii: "@")) else { return .plain }
        if at == 0 { return nil }
        return at + 1 == dot ? .template : .instance
    }

    /// Whether systemd accepts `name` as a unit name (any kind, templates included).
    public static func isValid(_ name: String) -> Bool { kind(of: name) != nil }

    /// Throws unless `name` names a concrete unit (plain or instance; a template can never be
    /// loaded, started or stopped), so the error names the unit and the operation.
    public static func check(_ name: String, for operation: String) throws(SystemdError) {
        switch kind(of: name) {
        case .plain, .instance: return
        case .template:
            throw SystemdError(
                operation: operation, unit: name, message: "a template is not a unit that can be used here",
                errno: EINVAL)
        case nil:
            throw SystemdError(
                operation: operation, unit: name,
                message: "invalid unit name (at most \(maxLength) bytes of [A-Za-z0-9:_.\\-@], a known type suffix)",
                errno: EINVAL)
        }
    }

    /// systemd-escape: '/' becomes '-', and '-', '\\', a leading '.' and every byte outside
    /// [A-Za-z0-9:_.] become \xNN, so any text (a path, a non-ASCII name) is a valid name part
    /// that `unescape` turns back into the same bytes.
    public static func escape(_ text: String) -> String {
        escape(bytes: Array(text.utf8))
    }

    public static func escape(bytes: [UInt8]) -> String {
        var out = ""
        for (i, b) in bytes.enumerated() {
            if b == UInt8(ascii: "/") {
                out.append("-")
            } else if (i == 0 && b == UInt8(ascii: ".")) || b == UInt8(ascii: "-") || b == UInt8(ascii: "\\")
                || !isValidChar(b)
            {
                out += "\\x" + String(b >> 4, radix: 16) + String(b & 0xF, radix: 16)
            } else {
                out.append(Character(Unicode.Scalar(b)))
            }
        }
        return out
    }

    /// The bytes an escaped name part stands for ('-' back to '/', \xNN to the byte); nil when
    /// a '\\' is not followed by 'x' and two hex digits.
    public static func unescape(_ escaped: String) -> [UInt8]? {
        let bytes = Array(escaped.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            switch bytes[i] {
            case UInt8(ascii: "-"):
                out.append(UInt8(ascii: "/"))
                i += 1
            case UInt8(ascii: "\\"):
                guard i + 3 < bytes.count, bytes[i + 1] == UInt8(ascii: "x"),
                    let high = hexValue(bytes[i + 2]), let low = hexValue(bytes[i + 3])
                else { return nil }
                out.append(high << 4 | low)
                i += 4
            default:
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// VALID_CHARS of unit-name.c: letters, digits and ":-_.\".
    private static func isValidChar(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"):
            true
        case UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "\\"):
            true
        default:
            false
        }
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): b - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): b - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): b - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
