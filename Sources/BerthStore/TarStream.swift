import CArchive

#if canImport(Glibc)
    import Glibc
#endif

/// The regular files of a tar archive (plain or compressed), read once, in order, with
/// libarchive: what `berth load` reads. Nothing is extracted to disk here; the caller decides
/// where each file's bytes go.
struct TarReader {
    /// Calls `body` for each regular file with its path and a function that reads its content in
    /// chunks (nil at the end).
    static func forEachFile(
        path: String,
        _ body: (_ name: String, _ size: Int64, _ read: () throws(StoreError) -> [UInt8]?) throws(StoreError) -> Void
    ) throws(StoreError) {
        guard let archive = archive_read_new() else { throw StoreError("libarchive: out of memory") }
        defer { archive_read_free(archive) }
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        Archive.supportCompression(archive)
        guard archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK else {
            throw StoreError("cannot read \(path): \(message(archive))")
        }
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(archive, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry else {
                throw StoreError("cannot read \(path): \(message(archive))")
            }
            guard archive_entry_filetype(entry) == S_IFREG, let cName = archive_entry_pathname(entry) else { continue }
            var name = String(cString: cName)
            while name.hasPrefix("./") { name.removeFirst(2) }
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            try body(name, archive_entry_size(entry)) { () throws(StoreError) -> [UInt8]? in
                let n = archive_read_data(archive, &buffer, buffer.count)
                if n < 0 { throw StoreError("cannot read \(name) in \(path): \(message(archive))") }
                return n == 0 ? nil : Array(buffer[0..<n])
            }
        }
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
    }
}

/// A tar archive written with libarchive (pax), file by file: what `berth save` writes.
final class TarWriter {
    private let archive: OpaquePointer
    let path: String

    init(path: String) throws(StoreError) {
        guard let archive = archive_write_new() else { throw StoreError("libarchive: out of memory") }
        self.archive = archive
        self.path = path
        archive_write_set_format_pax_restricted(archive)
        guard archive_write_open_filename(archive, path) == ARCHIVE_OK else {
            let why = TarReader.message(archive)
            archive_write_free(archive)
            throw StoreError("cannot write \(path): \(why)")
        }
    }

    deinit { archive_write_free(archive) }

    /// A regular file of `size` bytes whose content `fill` writes through the function it is
    /// given, in chunks.
    func addFile(
        _ name: String, size: Int64, mode: UInt32 = 0o644,
        _ fill: ((UnsafeRawBufferPointer) throws(StoreError) -> Void) throws(StoreError) -> Void
    ) throws(StoreError) {
        guard let entry = archive_entry_new() else { throw StoreError("libarchive: out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_set_pathname(entry, name)
        archive_entry_set_filetype(entry, 0o100000)  // AE_IFREG, a macro Swift cannot import
        archive_entry_set_perm(entry, mode)
        archive_entry_set_size(entry, size)
        guard archive_write_header(archive, entry) == ARCHIVE_OK else {
            throw StoreError("cannot write \(name) to \(path): \(TarReader.message(archive))")
        }
        var written: Int64 = 0
        try fill { (chunk) throws(StoreError) in
            guard archive_write_data(archive, chunk.baseAddress, chunk.count) == chunk.count else {
                throw StoreError("cannot write \(name) to \(path): \(TarReader.message(archive))")
            }
            written += Int64(chunk.count)
        }
        guard written == size else { throw StoreError("\(name): wrote \(written) bytes of \(size)") }
    }

    func addFile(_ name: String, bytes: [UInt8], mode: UInt32 = 0o644) throws(StoreError) {
        try addFile(name, size: Int64(bytes.count), mode: mode) { (write) throws(StoreError) in
            var failure: StoreError?
            bytes.withUnsafeBytes { buffer in
                do throws(StoreError) { try write(buffer) } catch { failure = error }
            }
            if let failure { throw failure }
        }
    }

    func close() throws(StoreError) {
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw StoreError("cannot finish \(path): \(TarReader.message(archive))")
        }
    }
}
