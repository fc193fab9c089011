import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the journal through sd-journal. Field values are bytes: a container may write anything,
/// and String(cString:) would silently repair invalid UTF-8.
public final class Journal {
    private var j: OpaquePointer?

    public struct Entry: Sendable {
        /// Every field of the entry, values as raw bytes.
        public var fields: [String: [UInt8]]
        public var realtime: UInt64
        public var cursor: String

        public subscript(field: String) -> [UInt8]? { fields[field] }

        /// For display only: invalid UTF-8 is replaced.
        public func string(_ field: String) -> String? {
            fields[field].map { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// The local system journal (the machine's own, not remote or user journals).
    public init() throws {
        let r = sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM))
        if r < 0 { throw SystemdError(operation: "sd_journal_open", code: r) }
    }

    /// The journal files in one directory.
    public init(directory: String) throws {
        let r = sd_journal_open_directory(&j, directory, 0)
        if r < 0 { throw SystemdError(operation: "sd_journal_open_directory \(directory)", code: r) }
    }

    deinit { sd_journal_close(j) }

    /// Adds a FIELD=value match; matches of different fields are ANDed, of the same field ORed.
    public func addMatch(_ field: String, _ value: [UInt8]) throws {
        let bytes = Array(field.utf8) + [UInt8(ascii: "=")] + value
        let r = bytes.withUnsafeBytes { sd_journal_add_match(j, $0.baseAddress, $0.count) }
        if r < 0 { throw SystemdError(operation: "sd_journal_add_match \(field)", code: r) }
    }

    public func addMatch(_ field: String, _ value: String) throws { try addMatch(field, Array(value.utf8)) }

    /// Starts a new group of matches, ORed with the previous ones.
    public func addDisjunction() throws {
        let r = sd_journal_add_disjunction(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_add_disjunction", code: r) }
    }

    public func flushMatches() { sd_journal_flush_matches(j) }

    public func seekHead() throws {
        let r = sd_journal_seek_head(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_seek_head", code: r) }
    }

    public func seekTail() throws {
        let r = sd_journal_seek_tail(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_seek_tail", code: r) }
    }

    public func seek(cursor: String) throws {
        let r = sd_journal_seek_cursor(j, cursor)
        if r < 0 { throw SystemdError(operation: "sd_journal_seek_cursor", code: r) }
    }

    /// Entries from this realtime (microseconds since the epoch) on.
    public func seek(realtime: UInt64) throws {
        let r = sd_journal_seek_realtime_usec(j, realtime)
        if r < 0 { throw SystemdError(operation: "sd_journal_seek_realtime_usec", code: r) }
    }

    /// Moves to the next entry and reads it; nil at the end.
    public func next() throws -> Entry? {
        let r = sd_journal_next(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_next", code: r) }
        return r == 0 ? nil : try current()
    }

    /// Moves to the previous entry and reads it; nil at the start.
    public func previous() throws -> Entry? {
        let r = sd_journal_previous(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_previous", code: r) }
        return r == 0 ? nil : try current()
    }

    /// Blocks until the journal changes or `timeout` passes; true when something was appended
    /// or the files changed. Call from a thread of its own.
    @discardableResult
    public func wait(timeout: Duration) throws -> Bool {
        let (seconds, attoseconds) = timeout.components
        let usec = UInt64(max(0, seconds)) * 1_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000_000)
        let r = sd_journal_wait(j, usec)
        if r < 0 { throw SystemdError(operation: "sd_journal_wait", code: r) }
        return r != Int32(SD_JOURNAL_NOP)
    }

    /// One field of the current entry, as bytes.
    public func field(_ name: String) throws -> [UInt8]? {
        var data: UnsafeRawPointer?
        var length = 0
        let r = sd_journal_get_data(j, name, &data, &length)
        if r == -ENOENT { return nil }
        if r < 0 { throw SystemdError(operation: "sd_journal_get_data \(name)", code: r) }
        guard let data else { return nil }
        let all = UnsafeRawBufferPointer(start: data, count: length)
        return Array(all[(name.utf8.count + 1)...])
    }

    private func current() throws -> Entry {
        var fields: [String: [UInt8]] = [:]
        var data: UnsafeRawPointer?
        var length = 0
        sd_journal_restart_data(j)
        while true {
            let r = sd_journal_enumerate_data(j, &data, &length)
            if r == 0 { break }
            // An entry with a field that cannot be read (e.g. compressed with an unsupported
            // algorithm) still yields its other fields.
            if r < 0 { continue }
            guard let data else { continue }
            let bytes = UnsafeRawBufferPointer(start: data, count: length)
            guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            fields[String(decoding: bytes[..<eq], as: UTF8.self)] = Array(bytes[(eq + 1)...])
        }
        var realtime: UInt64 = 0
        sd_journal_get_realtime_usec(j, &realtime)
        var cursorPointer: UnsafeMutablePointer<CChar>?
        var cursor = ""
        if sd_journal_get_cursor(j, &cursorPointer) >= 0, let cursorPointer {
            cursor = String(cString: cursorPointer)
            free(cursorPointer)
        }
        return Entry(fields: fields, realtime: realtime, cursor: cursor)
    }
}

/// Writes entries with the native protocol (sd_journal_sendv), so any field can be set and
/// values may hold any bytes, newlines included.
public enum JournalWriter {
    public static func send(_ fields: [(String, [UInt8])]) throws {
        let items = fields.map { Array($0.0.utf8) + [UInt8(ascii: "=")] + $0.1 }
        let r = withIOVecs(items) { sd_journal_sendv($0, Int32($1)) }
        if r < 0 { throw SystemdError(operation: "sd_journal_sendv", code: r) }
    }

    public static func send(message: String, priority: Int = 6, fields: [String: String] = [:]) throws {
        var all: [(String, [UInt8])] = [("MESSAGE", Array(message.utf8)), ("PRIORITY", Array(String(priority).utf8))]
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) { all.append((k, Array(v.utf8))) }
        try send(all)
    }

    private static func withIOVecs<R>(_ items: [[UInt8]], _ body: (UnsafePointer<iovec>, Int) -> R) -> R {
        // Every buffer must stay alive while the iovecs point into it.
        let buffers = items.map { bytes -> UnsafeMutableRawBufferPointer in
            let b = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
            b.copyBytes(from: bytes)
            return b
        }
        defer { for b in buffers { b.deallocate() } }
        let vecs = zip(buffers, items).map { iovec(iov_base: $0.0.baseAddress, iov_len: $0.1.count) }
        return vecs.withUnsafeBufferPointer { body($0.baseAddress!, $0.count) }
    }
}
