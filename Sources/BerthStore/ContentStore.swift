import Foundation

/// Blobs by digest under ROOT/blobs/sha256/HEX, as an OCI image layout keeps them. Every blob is
/// written to ROOT/ingest first, hashed while it is written, checked against the digest it
/// claims (and its size), synced and only then renamed into place: a blob in blobs/ is always
/// whole and right, and a crash leaves at most a temp file in ingest/ (removed by GC).
public struct ContentStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public var blobs: String { root + "/blobs/sha256" }
    public var ingestDirectory: String { root + "/ingest" }

    public func path(_ digest: Digest) -> String { blobs + "/" + digest.hex }

    public func contains(_ digest: Digest) -> Bool { access(path(digest), F_OK) == 0 }

    public func size(_ digest: Digest) -> Int64? {
        var st = stat()
        return stat(path(digest), &st) == 0 ? Int64(st.st_size) : nil
    }

    public func read(_ digest: Digest) throws(StoreError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path(digest)) else {
            throw StoreError("blob \(digest) is not in the store")
        }
        return Array(data)
    }

    /// Writes a whole blob; returns its digest (checked against `expected` when given).
    @discardableResult
    public func write(_ bytes: [UInt8], expected: Digest? = nil) throws(StoreError) -> Digest {
        let writer = try ingest(expected: expected, size: Int64(bytes.count))
        var failure: StoreError?
        bytes.withUnsafeBytes { buffer in
            do throws(StoreError) { try writer.write(buffer) } catch { failure = error }
        }
        if let failure { throw failure }
        return try writer.commit()
    }

    /// Starts writing a blob. Nothing is visible until `commit()`; `abort()` (or dropping the
    /// writer uncommitted) removes the temp file.
    public func ingest(expected: Digest? = nil, size: Int64? = nil) throws(StoreError) -> BlobWriter {
        for dir in [blobs, ingestDirectory] where access(dir, F_OK) != 0 { try Directories.create(dir) }
        let temp =
            ingestDirectory + "/" + (expected?.hex ?? "blob") + "-"
            + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.system("cannot create", temp) }
        return BlobWriter(store: self, fd: fd, temp: temp, expected: expected, expectedSize: size)
    }
}

/// One blob being written: hashed as it goes, verified and renamed into place on commit.
public final class BlobWriter {
    let store: ContentStore
    private var fd: Int32
    let temp: String
    public let expected: Digest?
    public let expectedSize: Int64?
    private var hasher = Hasher256()
    /// Bytes written so far (a download resumes from here).
    public private(set) var written: Int64 = 0

    init(store: ContentStore, fd: Int32, temp: String, expected: Digest?, expectedSize: Int64?) {
        self.store = store
        self.fd = fd
        self.temp = temp
        self.expected = expected
        self.expectedSize = expectedSize
    }

    deinit { abort() }

    public func write(_ bytes: UnsafeRawBufferPointer) throws(StoreError) {
        guard fd >= 0 else { throw StoreError("write to a finished blob") }
        if let expectedSize, written + Int64(bytes.count) > expectedSize {
            throw StoreError("blob \(expected?.description ?? "") is larger than its declared \(expectedSize) bytes")
        }
        hasher.update(bytes)
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StoreError.system("cannot write", temp) }
            offset += n
        }
        written += Int64(bytes.count)
    }

    /// Checks the digest and size, syncs, and renames the blob into place; returns its digest.
    /// A wrong digest or size is an error and leaves nothing behind.
    public func commit() throws(StoreError) -> Digest {
        guard fd >= 0 else { throw StoreError("commit of a finished blob") }
        let digest = hasher.finalize()
        defer { abort() }
        if let expected, expected != digest {
            throw StoreError("digest mismatch: expected \(expected), the content is \(digest)")
        }
        if let expectedSize, expectedSize != written {
            throw StoreError("size mismatch for \(digest): expected \(expectedSize) bytes, got \(written)")
        }
        guard fsync(fd) == 0 else { throw StoreError.system("cannot sync", temp) }
        close(fd)
        fd = -1
        guard rename(temp, store.path(digest)) == 0 else { throw StoreError.system("cannot store", store.path(digest)) }
        return digest
    }

    /// Drops what was written.
    public func abort() {
        if fd >= 0 {
            close(fd)
            fd = -1
        }
        unlink(temp)
    }
}
