/// A signal by number, parsed from `SIGTERM`, `TERM`, `sigterm`, `15` or `SIGRTMIN+3` as Docker does.
public struct Signal: Sendable, Hashable, CustomStringConvertible {
    public var number: Int32

    public init(number: Int32) { self.number = number }

    /// Linux's numbering (the same on x86_64 and arm64).
    static let names: [(String, Int32)] = [
        ("HUP", 1), ("INT", 2), ("QUIT", 3), ("ILL", 4), ("TRAP", 5), ("ABRT", 6), ("IOT", 6),
        ("BUS", 7), ("FPE", 8), ("KILL", 9), ("USR1", 10), ("SEGV", 11), ("USR2", 12),
        ("PIPE", 13), ("ALRM", 14), ("TERM", 15), ("STKFLT", 16), ("CHLD", 17), ("CONT", 18),
        ("STOP", 19), ("TSTP", 20), ("TTIN", 21), ("TTOU", 22), ("URG", 23), ("XCPU", 24),
        ("XFSZ", 25), ("VTALRM", 26), ("PROF", 27), ("WINCH", 28), ("IO", 29), ("POLL", 29),
        ("PWR", 30), ("SYS", 31),
    ]
    static let rtMin: Int32 = 34
    static let rtMax: Int32 = 64

    public init?(parsing text: String) {
        // ASCII only: a signal name never has other letters, and Unicode case rules could turn
        // one that is not a name into one ("ß" upper-cases to "SS").
        var s = String(decoding: text.utf8.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
        if !s.isEmpty, s.allSatisfy({ $0.isASCII && $0.isNumber }) {
            // 32 and 33 belong to glibc's threads and are never delivered to a program.
            guard let n = Int32(s), (1...Self.rtMax).contains(n), n != 32 && n != 33 else { return nil }
            number = n
            return
        }
        if s.hasPrefix("SIG") { s.removeFirst(3) }
        if let (_, n) = Self.names.first(where: { $0.0 == s }) {
            number = n
            return
        }
        for (base, sign, name) in [(Self.rtMin, Int32(1), "RTMIN"), (Self.rtMax, Int32(-1), "RTMAX")]
        where s.hasPrefix(name) {
            let offsetText = s.dropFirst(name.count)
            if offsetText.isEmpty {
                number = base
                return
            }
            let expectedSign: Character = sign > 0 ? "+" : "-"
            let digits = offsetText.dropFirst()
            guard offsetText.first == expectedSign, !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let offset = Int32(digits),
                (0...(Self.rtMax - Self.rtMin)).contains(offset)
            else { return nil }
            number = base + sign * offset
            return
        }
        return nil
    }

    public var description: String {
        if let (name, _) = Self.names.first(where: { $0.1 == number }) { return "SIG\(name)" }
        if number >= Self.rtMin && number <= Self.rtMax { return "SIGRTMIN+\(number - Self.rtMin)" }
        return "\(number)"
    }
}
