import CArchive
import Foundation

/// A layer written into the content store.
public struct WrittenLayer: Sendable {
    /// The compressed blob (`MediaType.ociLayerGzip`).
    public var descriptor: Descriptor
    /// The digest of the uncompressed tar.
    public var diffID: Digest
    /// The tar holds no entry at all (a step that changed nothing).
    public var isEmpty: Bool
}

/// Writes a tree in overlay form (a RUN step's upper directory, a COPY's new files, a
/// container's changes) as an OCI layer: the reverse of `LayerUnpacker`. Overlay whiteouts
/// (character devices 0/0) become `.wh.NAME` files, `trusted.overlay.opaque=y` becomes
/// `DIR/.wh..wh..opq`, and overlay's other attributes (origin, impure, ...) are left out.
public enum LayerWriter {
    /// Writes the tree under `directory` (in overlay form) as a gzip-compressed OCI layer into
    /// `content`, in one streaming pass: the tar is hashed for the diffID as it is made, then
    /// compressed straight into the blob; neither is ever whole in memory or on disk. `skip`
    /// holds paths relative to `directory` ("etc/hosts") left out with everything under them.
    public static func write(directory: String, content: ContentStore, skip: Set<String> = []) throws(StoreError)
        -> WrittenLayer
    {
        let blob = try content.ingest()
        do throws(StoreError) {
            let root = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard root >= 0 else { throw StoreError.system("cannot open", directory) }
            defer { close(root) }
            let stream = LayerStream(blob: blob, directory: directory)
            defer { stream.free() }
            try stream.open()
            var tree = TreeWriter(stream: stream, directory: directory, skip: Self.normalized(skip))
            try tree.addChildren(of: root, path: [], opaque: Self.isOpaque(root, [UInt8(ascii: ".")]))
            let diffID = try stream.finish()
            let size = blob.written
            let digest = try blob.commit()
            return WrittenLayer(
                descriptor: Descriptor(mediaType: MediaType.ociLayerGzip, digest: digest, size: size),
                diffID: diffID, isEmpty: tree.entries == 0)
        } catch {
            blob.abort()
            throw error
        }
    }

    /// "./etc/hosts/" and "/etc//hosts" are "etc/hosts".
    static func normalized(_ paths: Set<String>) -> Set<[UInt8]> {
        Set(
            paths.map { path in
                let parts = path.utf8.split(separator: UInt8(ascii: "/")).filter { !$0.elementsEqual([0x2E]) }
                return Array(parts.joined(separator: [UInt8(ascii: "/")]))
            })
    }

    /// The directory `name` in `parent` has `trusted.overlay.opaque=y`.
    static func isOpaque(_ parent: Int32, _ name: [UInt8]) -> Bool {
        var value: UInt8 = 0
        let n = lgetxattr(Paths.procPath(parent, name), "trusted.overlay.opaque", &value, 1)
        return n == 1 && value == UInt8(ascii: "y")
    }
}

/// The tar written entry by entry (pax), hashed for the diffID, and fed as the one entry of a
/// raw gzip archive whose output goes to the blob. libarchive calls back into `plain` and
/// `compressed` with the context pointer of this object.
private final class LayerStream {
    let blob: BlobWriter
    let directory: String
    private var tar: OpaquePointer?
    private var gzip: OpaquePointer?
    private var hasher = Hasher256()
    /// Why a callback failed (a full disk, say), which libarchive only knows as -1.
    private var failure: StoreError?
    /// Where files are read, a chunk at a time.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)

    init(blob: BlobWriter, directory: String) {
        self.blob = blob
        self.directory = directory
        tar = archive_write_new()
        gzip = archive_write_new()
    }

    /// Frees both archives, before this object goes: an unfinished one is closed, which calls
    /// back into this object, which must find nothing more to write.
    func free() {
        failure = failure ?? StoreError("closed")
        if let tar { archive_write_free(tar) }
        if let gzip { archive_write_free(gzip) }
        tar = nil
        gzip = nil
    }

    deinit { buffer.deallocate() }

    func open() throws(StoreError) {
        guard let tar, let gzip else { throw StoreError("libarchive: out of memory") }
        let context = Unmanaged.passUnretained(self).toOpaque()
        // zlib in process, never an external gzip; no timestamp in the gzip header, so that the
        // same tree gives the same blob.
        guard archive_write_add_filter_gzip(gzip) == ARCHIVE_OK,
            archive_write_set_options(gzip, "gzip:compression-level=6,gzip:!timestamp") == ARCHIVE_OK,
            archive_write_set_format_raw(gzip) == ARCHIVE_OK,
            // No blocking and no padding: the blob ends where the gzip stream does.
            archive_write_set_bytes_per_block(gzip, 0) == ARCHIVE_OK,
            archive_write_open2(
                gzip, context, nil,
                { _, context, buffer, length in
                    Unmanaged<LayerStream>.fromOpaque(context!).takeUnretainedValue().compressed(buffer, length)
                }, nil, nil) == ARCHIVE_OK
        else { throw StoreError("cannot compress a layer of \(directory): \(Archive.message(gzip))") }
        guard let raw = archive_entry_new() else { throw StoreError("libarchive: out of memory") }
        defer { archive_entry_free(raw) }
        archive_entry_set_pathname(raw, "layer.tar")
        archive_entry_set_filetype(raw, 0o100000)  // AE_IFREG
        guard archive_write_header(gzip, raw) == ARCHIVE_OK else {
            throw StoreError("cannot compress a layer of \(directory): \(Archive.message(gzip))")
        }
        // Full pax rather than pax_restricted: the restricted format drops an mtime's
        // nanoseconds unless the entry needs an extended header for something else.
        guard archive_write_set_format_pax(tar) == ARCHIVE_OK,
            archive_write_set_bytes_per_block(tar, 1 << 16) == ARCHIVE_OK,
            // The tar ends with its two zero blocks, not padded to a whole block.
            archive_write_set_bytes_in_last_block(tar, 1) == ARCHIVE_OK,
            archive_write_open2(
                tar, context, nil,
                { _, context, buffer, length in
                    Unmanaged<LayerStream>.fromOpaque(context!).takeUnretainedValue().plain(buffer, length)
                }, nil, nil) == ARCHIVE_OK
        else { throw StoreError("cannot write a layer of \(directory): \(Archive.message(tar))") }
    }

    private func plain(_ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
        guard failure == nil, let gzip else { return -1 }
        hasher.update(UnsafeRawBufferPointer(start: buffer, count: length))
        guard archive_write_data(gzip, buffer, length) == length else {
            failure = failure ?? StoreError("cannot compress a layer of \(directory): \(Archive.message(gzip))")
            return -1
        }
        return length
    }

    private func compressed(_ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
        guard failure == nil else { return -1 }
        do throws(StoreError) {
            try blob.write(UnsafeRawBufferPointer(start: buffer, count: length))
        } catch {
            failure = error
            return -1
        }
        return length
    }

    /// What went wrong in libarchive or under it, about `path`.
    func error(_ path: String) -> StoreError {
        failure ?? StoreError("cannot write \(path) of \(directory) to a layer: \(Archive.message(tar!))")
    }

    func header(_ entry: OpaquePointer, path: String) throws(StoreError) {
        // A warning is a name that is not text in the locale's charset: it is written as bytes.
        let r = archive_write_header(tar, entry)
        guard r == ARCHIVE_OK || r == ARCHIVE_WARN else { throw error(path) }
    }

    func data(_ bytes: UnsafeRawBufferPointer, path: String) throws(StoreError) {
        guard archive_write_data(tar, bytes.baseAddress, bytes.count) == bytes.count else { throw error(path) }
    }

    /// Ends the tar and the gzip stream; returns the diffID. The blob is then complete.
    func finish() throws(StoreError) -> Digest {
        guard archive_write_close(tar) == ARCHIVE_OK else { throw error("the end") }
        if let failure { throw failure }
        guard archive_write_close(gzip) == ARCHIVE_OK else {
            throw failure ?? StoreError("cannot compress a layer of \(directory): \(Archive.message(gzip!))")
        }
        return hasher.finalize()
    }
}

/// The walk: each directory's entries in byte order of their names in the tar, a directory's
/// content right after it; everything opened relative to its parent's descriptor, never
/// through a symbolic link.
private struct TreeWriter {
    let stream: LayerStream
    let directory: String
    let skip: Set<[UInt8]>
    /// The first path written of each inode with several names: later names link to it.
    var written: [InodeKey: [UInt8]] = [:]
    var entries = 0

    struct InodeKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    init(stream: LayerStream, directory: String, skip: Set<[UInt8]>) {
        self.stream = stream
        self.directory = directory
        self.skip = skip
    }

    /// The children of the directory `fd` (at `path`, "" or ending in "/"); `opaque` first.
    mutating func addChildren(of fd: Int32, path: [UInt8], opaque: Bool) throws(StoreError) {
        if opaque {
            try addMarker(path + Array(".wh..wh..opq".utf8), like: fd)
        }
        var children: [(name: [UInt8], tarName: [UInt8], st: stat)] = []
        for name in try Self.list(fd, path: shown(path)) {
            var st = stat()
            guard Paths.withCName(name, { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw StoreError.system("cannot read", shown(path + name))
            }
            let whiteout = st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0
            children.append((name, whiteout ? Array(".wh.".utf8) + name : name, st))
        }
        children.sort { $0.tarName.lexicographicallyPrecedes($1.tarName) }
        for child in children where !skip.contains(path + child.name) {
            try add(child.name, tarPath: path + child.tarName, st: child.st, parent: fd)
        }
    }

    private func shown(_ path: [UInt8]) -> String { directory + "/" + String(decoding: path, as: UTF8.self) }

    private mutating func add(_ name: [UInt8], tarPath: [UInt8], st: stat, parent: Int32) throws(StoreError) {
        let type = st.st_mode & S_IFMT
        if type == S_IFSOCK { return }  // a socket has no place in a layer
        if type == S_IFCHR && st.st_rdev == 0 {
            // A whiteout. overlayfs may give all of them one inode: never a hard link.
            try addEntry(tarPath, st: st, type: S_IFREG, mode: 0o600, xattrsOf: nil)
            return
        }
        let key = InodeKey(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if type != S_IFDIR && st.st_nlink > 1 {
            if let first = written[key] {
                try addEntry(tarPath, st: st, type: type, mode: st.st_mode & 0o7777, xattrsOf: nil, hardlink: first)
                return
            }
            written[key] = tarPath
        }
        let mode = st.st_mode & 0o7777
        switch type {
        case S_IFDIR:
            let fd = Paths.withCName(name) { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw StoreError.system("cannot open", shown(tarPath)) }
            defer { close(fd) }
            try addEntry(tarPath + [UInt8(ascii: "/")], st: st, type: type, mode: mode, xattrsOf: (parent, name))
            try addChildren(
                of: fd, path: tarPath + [UInt8(ascii: "/")], opaque: LayerWriter.isOpaque(parent, name))
        case S_IFREG:
            let fd = Paths.withCName(name) { openat(parent, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
            guard fd >= 0 else { throw StoreError.system("cannot open", shown(tarPath)) }
            defer { close(fd) }
            var opened = stat()
            guard fstat(fd, &opened) == 0, opened.st_ino == st.st_ino, opened.st_dev == st.st_dev else {
                throw StoreError("\(shown(tarPath)) changed while it was written to a layer")
            }
            try addEntry(tarPath, st: st, type: type, mode: mode, xattrsOf: (parent, name))
            try copy(fd, size: Int64(st.st_size), path: tarPath)
        case S_IFLNK:
            let target = try Self.readLink(parent, name, path: shown(tarPath))
            try addEntry(tarPath, st: st, type: type, mode: mode, xattrsOf: (parent, name), symlink: target)
        case S_IFIFO, S_IFCHR, S_IFBLK:
            try addEntry(tarPath, st: st, type: type, mode: mode, xattrsOf: (parent, name))
        default:
            return
        }
    }

    /// `DIR/.wh..wh..opq`: an empty file with the directory's owner, mode and time, as Docker
    /// writes it.
    private mutating func addMarker(_ tarPath: [UInt8], like directoryFD: Int32) throws(StoreError) {
        var st = stat()
        guard fstat(directoryFD, &st) == 0 else { throw StoreError.system("cannot read", shown(tarPath)) }
        try addEntry(tarPath, st: st, type: S_IFREG, mode: st.st_mode & 0o777, xattrsOf: nil)
    }

    private mutating func addEntry(
        _ tarPath: [UInt8], st: stat, type: UInt32, mode: UInt32, xattrsOf source: (Int32, [UInt8])?,
        symlink: [UInt8]? = nil, hardlink: [UInt8]? = nil
    ) throws(StoreError) {
        guard let entry = archive_entry_new() else { throw StoreError("libarchive: out of memory") }
        defer { archive_entry_free(entry) }
        Paths.withCName(tarPath) { archive_entry_set_pathname(entry, $0) }
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode)
        // Numbers only: names would mean the host's passwd, not the image's.
        archive_entry_set_uid(entry, Int64(st.st_uid))
        archive_entry_set_gid(entry, Int64(st.st_gid))
        archive_entry_set_mtime(entry, st.st_mtim.tv_sec, st.st_mtim.tv_nsec)
        // Whiteouts and opaque markers are regular files made from a device or a directory.
        let hasData = type == S_IFREG && st.st_mode & S_IFMT == S_IFREG && hardlink == nil
        archive_entry_set_size(entry, hasData ? Int64(st.st_size) : 0)
        if type == S_IFCHR || type == S_IFBLK { archive_entry_set_rdev(entry, st.st_rdev) }
        if let symlink { Paths.withCName(symlink) { archive_entry_set_symlink(entry, $0) } }
        if let hardlink { Paths.withCName(hardlink) { archive_entry_set_hardlink(entry, $0) } }
        if let (parent, name) = source {
            for (key, value) in try Self.xattrs(parent, name, path: shown(tarPath)) {
                value.withUnsafeBytes { archive_entry_xattr_add_entry(entry, key, $0.baseAddress, $0.count) }
            }
        }
        try stream.header(entry, path: shown(tarPath))
        entries += 1
    }

    /// Exactly `size` bytes of the open file: one that grew or shrank while it was read is an
    /// error, not a layer whose header disagrees with its content.
    private func copy(_ fd: Int32, size: Int64, path: [UInt8]) throws(StoreError) {
        var remaining = size
        while remaining > 0 {
            let buffer = stream.buffer
            let n = read(fd, buffer.baseAddress, Int(min(Int64(buffer.count), remaining)))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw StoreError.system("cannot read", shown(path)) }
            guard n > 0 else { throw StoreError("\(shown(path)) shrank while it was written to a layer") }
            try stream.data(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), path: shown(path))
            remaining -= Int64(n)
        }
        var extra: UInt8 = 0
        guard read(fd, &extra, 1) == 0 else { throw StoreError("\(shown(path)) grew while it was written to a layer") }
    }

    static func list(_ fd: Int32, path: String) throws(StoreError) -> [[UInt8]] {
        guard let dir = fdopendir(dup(fd)) else { throw StoreError.system("cannot list", path) }
        defer { closedir(dir) }
        rewinddir(dir)
        var names: [[UInt8]] = []
        while let item = readdir(dir) {
            let name = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
        }
        return names
    }

    static func readLink(_ parent: Int32, _ name: [UInt8], path: String) throws(StoreError) -> [UInt8] {
        var target = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = Paths.withCName(name) { name in
            target.withUnsafeMutableBytes { readlinkat(parent, name, $0.baseAddress!, $0.count) }
        }
        guard n >= 0 else { throw StoreError.system("cannot read the link", path) }
        return Array(target[0..<n])
    }

    /// The names of the extended attributes of `target` (a link itself, not what it names).
    static func xattrNames(_ target: [CChar], path: String) throws(StoreError) -> [String] {
        while true {
            let size = llistxattr(target, nil, 0)
            if size < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP) { return [] }
            guard size >= 0 else { throw StoreError.system("cannot list the attributes of", path) }
            if size == 0 { return [] }
            var names = [CChar](repeating: 0, count: size)
            let n = llistxattr(target, &names, size)
            if n < 0 && errno == ERANGE { continue }  // one was added meanwhile
            guard n >= 0 else { throw StoreError.system("cannot list the attributes of", path) }
            return names[0..<n].split(separator: 0).map {
                String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
    }

    /// The extended attributes of `name` (not following a link), by name, without overlay's.
    static func xattrs(_ parent: Int32, _ name: [UInt8], path: String) throws(StoreError) -> [(String, [UInt8])] {
        let target = Paths.procPath(parent, name)
        var result: [(String, [UInt8])] = []
        for key in try xattrNames(target, path: path) where !key.hasPrefix("trusted.overlay.") {
            var value = [UInt8]()
            while true {
                let size = lgetxattr(target, key, nil, 0)
                if size < 0 && errno == ENODATA { break }  // removed meanwhile
                guard size >= 0 else { throw StoreError.system("cannot read \(key) of", path) }
                value = [UInt8](repeating: 0, count: size)
                let n = lgetxattr(target, key, &value, size)
                if n < 0 && errno == ERANGE { continue }
                guard n >= 0 else { throw StoreError.system("cannot read \(key) of", path) }
                value.removeLast(size - n)
                result.append((key, value))
                break
            }
        }
        return result.sorted { $0.0 < $1.0 }
    }
}

extension Snapshotter {
    /// Makes `directory`, a tree already in overlay form (a build step's upper directory), the
    /// snapshot of `chain`, as `unpack` would have made it from the layer, without writing and
    /// unpacking the layer. The directory is moved, so it must be on the filesystem of `root`.
    /// If the chain has a snapshot already, `directory` is removed. If this fails, `directory`
    /// is left where it was.
    public func adopt(_ directory: String, chain: Digest) throws(StoreError) {
        var st = stat()
        guard lstat(directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw StoreError("cannot adopt \(directory) as a snapshot: not a directory")
        }
        let stored = try withChainLock(chain) { () throws(StoreError) in
            // An upper directory carries overlay's bookkeeping of the mount it was in.
            try Self.stripOverlayAttributes(directory)
            let temp = temporary(chain)
            guard mkdir(temp, 0o700) == 0 else { throw StoreError.system("cannot create", temp) }
            guard rename(directory, temp + "/fs") == 0 else {
                let code = errno
                rmdir(temp)
                if code == EXDEV {
                    throw StoreError(
                        "cannot adopt \(directory) as a snapshot: it is not on the filesystem of \(root)")
                }
                throw StoreError.system("cannot move \(directory) to", temp + "/fs", code)
            }
            do throws(StoreError) {
                try store(temp, chain: chain)
            } catch {
                rename(temp + "/fs", directory)
                removeTree(temp)
                throw error
            }
        }
        if !stored { removeTree(directory) }
    }

    /// Removes every `trusted.overlay.*` attribute but `opaque` in the tree, links not followed.
    static func stripOverlayAttributes(_ path: String) throws(StoreError) {
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { throw StoreError.system("cannot open", path) }
        defer { close(root) }
        try strip(root, [UInt8(ascii: ".")], path: path)
        try stripChildren(root, path: path)
    }

    private static func stripChildren(_ fd: Int32, path: String) throws(StoreError) {
        for name in try TreeWriter.list(fd, path: path) {
            let shown = path + "/" + String(decoding: name, as: UTF8.self)
            try strip(fd, name, path: shown)
            var st = stat()
            guard Paths.withCName(name, { fstatat(fd, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                throw StoreError.system("cannot read", shown)
            }
            guard st.st_mode & S_IFMT == S_IFDIR else { continue }
            let child = Paths.withCName(name) { openat(fd, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            guard child >= 0 else { throw StoreError.system("cannot open", shown) }
            defer { close(child) }
            try stripChildren(child, path: shown)
        }
    }

    private static func strip(_ parent: Int32, _ name: [UInt8], path: String) throws(StoreError) {
        let target = Paths.procPath(parent, name)
        for key in try TreeWriter.xattrNames(target, path: path)
        where key.hasPrefix("trusted.overlay.") && key != "trusted.overlay.opaque" {
            guard lremovexattr(target, key) == 0 || errno == ENODATA else {
                throw StoreError.system("cannot remove \(key) from", path)
            }
        }
    }
}
