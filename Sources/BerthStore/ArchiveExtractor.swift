import CArchive

/// A build's ADD of a local archive: a tar, plain, gzip or zstd, unpacked into a directory with
/// the same care as a layer (nothing lands outside it; see LayerUnpacker).
public enum ArchiveExtractor {
    /// Whether `path` is a tar archive (plain or compressed), judged by its content as Docker does.
    public static func isArchive(_ path: String) -> Bool {
        guard let archive = archive_read_new() else { return false }
        defer { archive_read_free(archive) }
        archive_read_support_format_tar(archive)
        archive_read_support_format_gnutar(archive)
        Archive.supportCompression(archive)
        var entry: OpaquePointer?
        guard archive_read_open_filename(archive, path, 1 << 16) == ARCHIVE_OK else { return false }
        let r = archive_read_next_header(archive, &entry)
        return r == ARCHIVE_OK || r == ARCHIVE_WARN
    }

    /// Unpacks the archive at `path` into the directory `destination`, merging with what is there.
    public static func extract(_ path: String, into destination: String) throws(StoreError) {
        _ = try LayerUnpacker(blob: path, destination: destination).unpack()
    }
}
