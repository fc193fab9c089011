import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Writes entries with journald's native protocol (sd_journal_sendv; sd_journal_send is variadic
/// and not callable from Swift), so any field can be set, and values may hold any bytes:
/// libsystemd sends a value with a newline in its length-prefixed binary form. A stream from
/// sd_journal_stream_fd could carry neither.
public enum JournalWriter {
    /// syslog priorities, as PRIORITY carries them.
    public enum Priority: Int, Sendable {
        case emergency = 0
        case alert, critical, error, warning, notice, info, debug
    }

    /// Sends one entry made of `fields`, in order. Names must be journald field names
    /// ([A-Z0-9_], not starting with a digit or '_', at most 64 bytes): journald silently drops
    /// any other, so they are refused here.
    public static func send(_ fields: [(name: String, value: [UInt8])]) throws {
        guard !fields.isEmpty else {
            throw SystemdError(
                operation: "sd_journal_sendv", message: "an entry needs at least one field", errno: EINVAL)
        }
        for (name, _) in fields where !isValidFieldName(name) {
            throw SystemdError(
                operation: "sd_journal_sendv", message: "invalid journal field name \"\(name)\"", errno: EINVAL)
        }
        // One buffer of NAME=value items, and iovecs pointing into it.
        var buffer: [UInt8] = []
        var ranges: [Range<Int>] = []
        for (name, value) in fields {
            let start = buffer.count
            buffer += name.utf8
            buffer.append(UInt8(ascii: "="))
            buffer += value
            ranges.append(start..<buffer.count)
        }
        let r = buffer.withUnsafeMutableBytes { bytes in
            let vecs = ranges.map { iovec(iov_base: bytes.baseAddress! + $0.lowerBound, iov_len: $0.count) }
            return vecs.withUnsafeBufferPointer { sd_journal_sendv($0.baseAddress, Int32($0.count)) }
        }
        if r < 0 { throw SystemdError(operation: "sd_journal_sendv", code: r) }
    }

    /// Sends MESSAGE (bytes as given), PRIORITY, SYSLOG_IDENTIFIER if given, then `fields`.
    public static func send(
        message: [UInt8], priority: Priority = .info, identifier: String? = nil,
        fields: [(name: String, value: [UInt8])] = []
    ) throws {
        var all: [(name: String, value: [UInt8])] = [
            ("MESSAGE", message), ("PRIORITY", Array(String(priority.rawValue).utf8)),
        ]
        if let identifier { all.append(("SYSLOG_IDENTIFIER", Array(identifier.utf8))) }
        try send(all + fields)
    }

    /// `send(message:...)` for text: MESSAGE and the fields as UTF-8.
    public static func send(
        message: String, priority: Priority = .info, identifier: String? = nil, fields: [String: String] = [:]
    ) throws {
        let extra = fields.sorted { $0.key < $1.key }.map { (name: $0.key, value: Array($0.value.utf8)) }
        try send(message: Array(message.utf8), priority: priority, identifier: identifier, fields: extra)
    }

    /// journal_field_valid() of journald for fields a client may set.
    public static func isValidFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, first != UInt8(ascii: "_"),
            !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        else { return false }
        return bytes.allSatisfy {
            (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }
}
