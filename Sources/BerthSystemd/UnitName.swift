/// systemd's rules for unit names, checked before a name is sent, so a bad container name can
/// never become a confusing bus error (or a different unit).
public enum UnitName {
    static let suffixes: Set = [
        "service", "socket", "device", "mount", "automount", "swap", "target", "path", "timer",
        "slice", "scope",
    ]

    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard bytes.count <= 255, let dot = bytes.lastIndex(of: UInt8(ascii: ".")), dot > 0 else { return false }
        let suffix = String(decoding: bytes[(dot + 1)...], as: UTF8.self)
        guard suffixes.contains(suffix) else { return false }
        let prefix = bytes[..<dot]
        if prefix.first == UInt8(ascii: "@") { return false }
        return prefix.allSatisfy { b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b)
                || b == UInt8(ascii: ":") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "\\") || b == UInt8(ascii: "@")
        }
    }
}
