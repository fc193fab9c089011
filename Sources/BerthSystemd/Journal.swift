import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Reads the journal through sd-journal. Field values are bytes: a container may write anything,
/// and String(cString:) would silently repair invalid UTF-8.
///
/// Like sd-bus, sd-journal does no locking: an instance belongs to one thread at a time (the type
/// is not Sendable). `wait` blocks; call it from a thread of its own, not the cooperative pool.
public final class Journal {
    private let j: OpaquePointer

    /// The local system journal: this machine's own system journal files, not remote or user
    /// ones (SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM).
    public convenience init() throws {
        var j: OpaquePointer?
        let r = sd_journal_open(&j, Int32(SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM))
        guard r >= 0, let j else { throw SystemdError(operation: "sd_journal_open", code: r) }
        self.init(handle: j)
    }

    /// The journal files in one directory (e.g. /var/log/journal/MACHINE-ID, or a copy).
    public convenience init(directory: String) throws {
        var j: OpaquePointer?
        let r = sd_journal_open_directory(&j, directory, 0)
        guard r >= 0, let j else { throw SystemdError(operation: "sd_journal_open_directory \(directory)", code: r) }
        self.init(handle: j)
    }

    private init(handle: OpaquePointer) {
        j = handle
        // By default sd_journal_get_data returns only the first 64 KiB of a field: a log line must
        // come back whole.
        sd_journal_set_data_threshold(j, 0)
    }

    deinit { sd_journal_close(j) }

    // MARK: matches

    /// Adds a FIELD=value match. Matches of different fields are ANDed, of the same field ORed,
    /// until `addDisjunction`.
    public func addMatch(_ field: String, _ value: [UInt8]) throws {
        let bytes = Array(field.utf8) + [UInt8(ascii: "=")] + value
        let r = bytes.withUnsafeBytes { sd_journal_add_match(j, $0.baseAddress, $0.count) }
        if r < 0 { throw SystemdError(operation: "sd_journal_add_match \(field)", code: r) }
    }

    public func addMatch(_ field: String, _ value: String) throws { try addMatch(field, Array(value.utf8)) }

    /// Starts a new group of matches, ORed with the groups before it.
    public func addDisjunction() throws {
        let r = sd_journal_add_disjunction(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_add_disjunction", code: r) }
    }

    /// Starts a new group of matches, ANDed with the groups before it.
    public func addConjunction() throws {
        let r = sd_journal_add_conjunction(j)
        if r < 0 { throw SystemdError(operation: "sd_journal_add_conjunction", code: r) }
    }

    public func flushMatches() { sd_journal_flush_matches(j) }

    // MARK: position

    public func seekHead() throws { try check("sd_journal_seek_head", sd_journal_seek_head(j)) }

    /// After the last entry: `previous()` gives the newest.
    public func seekTail() throws { try check("sd_journal_seek_tail", sd_journal_seek_tail(j)) }

    /// At the entry with this cursor (or the nearest, if it is gone): the next `next()` gives it.
    public func seek(cursor: String) throws {
        try check("sd_journal_seek_cursor", sd_journal_seek_cursor(j, cursor))
    }

    /// Entries from this realtime (microseconds since the epoch) on.
    public func seek(realtime: UInt64) throws {
        try check("sd_journal_seek_realtime_usec", sd_journal_seek_realtime_usec(j, realtime))
    }

    /// Moves to the next entry that matches; false at the end.
    public func moveToNext() throws -> Bool {
        let r = sd_journal_next(j)
        try check("sd_journal_next", r)
        return r > 0
    }

    /// Moves to the previous entry that matches; false at the start.
    public func moveToPrevious() throws -> Bool {
        let r = sd_journal_previous(j)
        try check("sd_journal_previous", r)
        return r > 0
    }

    /// Moves to the next entry and reads it whole; nil at the end.
    public func next() throws -> Entry? {
        try moveToNext() ? try currentEntry() : nil
    }

    /// Moves to the previous entry and reads it whole; nil at the start.
    public func previous() throws -> Entry? {
        try moveToPrevious() ? try currentEntry() : nil
    }

    /// Blocks until the journal changes or `timeout` passes (nil: no limit); true when entries
    /// were appended or files added or removed, false on timeout. After true, `next()` again.
    @discardableResult
    public func wait(timeout: Duration?) throws -> Bool {
        let r = sd_journal_wait(j, timeout.map { $0.microseconds } ?? UInt64.max)
        try check("sd_journal_wait", r)
        return r != Int32(SD_JOURNAL_NOP)
    }

    // MARK: the current entry

    /// One field of the current entry, as bytes ("FIELD=" stripped); nil when the entry lacks it.
    public func field(_ name: String) throws -> [UInt8]? {
        var data: UnsafeRawPointer?
        var length = 0
        let r = sd_journal_get_data(j, name, &data, &length)
        if r == -ENOENT { return nil }
        try check("sd_journal_get_data \(name)", r)
        guard let data else { return nil }
        let prefix = name.utf8.count + 1
        guard length >= prefix else { return [] }
        return Array(UnsafeRawBufferPointer(start: data + prefix, count: length - prefix))
    }

    /// Every field of the current entry, in the journal's order. A name may occur more than once.
    public func fields() throws -> [Field] {
        var out: [Field] = []
        var data: UnsafeRawPointer?
        var length = 0
        sd_journal_restart_data(j)
        while true {
            // The "available" variant skips fields this libsystemd cannot read (compressed with
            // an algorithm it lacks) instead of failing the whole entry.
            let r = sd_journal_enumerate_available_data(j, &data, &length)
            try check("sd_journal_enumerate_available_data", r)
            guard r > 0, let data else { return out }
            let bytes = UnsafeRawBufferPointer(start: data, count: length)
            guard let eq = bytes.firstIndex(of: UInt8(ascii: "=")) else { continue }
            // Field names are ASCII ([A-Z0-9_]), so decoding them loses nothing.
            out.append(Field(name: String(decoding: bytes[..<eq], as: UTF8.self), value: Array(bytes[(eq + 1)...])))
        }
    }

    /// When the current entry was written, in microseconds since the epoch.
    public func realtime() throws -> UInt64 {
        var usec: UInt64 = 0
        try check("sd_journal_get_realtime_usec", sd_journal_get_realtime_usec(j, &usec))
        return usec
    }

    /// The current entry's cursor, a stable position to `seek(cursor:)` to later.
    public func cursor() throws -> String {
        var pointer: UnsafeMutablePointer<CChar>?
        try check("sd_journal_get_cursor", sd_journal_get_cursor(j, &pointer))
        guard let pointer else { throw SystemdError(operation: "sd_journal_get_cursor", code: -ENOMEM) }
        defer { free(pointer) }
        // A cursor is ASCII text systemd made.
        return String(cString: pointer)
    }

    /// The current entry, read whole.
    public func currentEntry() throws -> Entry {
        Entry(fields: try fields(), realtime: try realtime(), cursor: try cursor())
    }

    private func check(_ operation: String, _ r: Int32) throws {
        if r < 0 { throw SystemdError(operation: operation, code: r) }
    }
}
