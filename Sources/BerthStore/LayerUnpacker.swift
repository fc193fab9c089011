import CArchive
import Foundation

/// Unpacks a layer blob (gzip, zstd or plain tar) into a directory in overlay form, in one pass
/// that also computes the layer's diffID (the digest of the uncompressed tar). Every entry is
/// created relative to a descriptor of its parent directory, which is reached one component at
/// a time without following symbolic links: an entry with an absolute path, a `..` component,
/// or a path through a symlink that an earlier entry planted, is refused, as is a hard link to
/// anything outside the layer. OCI whiteouts become overlay whiteouts (a character device 0/0),
/// `.wh..wh..opq` becomes the directory's `trusted.overlay.opaque=y`, and no `trusted.overlay.*`
/// attribute of the layer's own is kept.
struct LayerUnpacker {
    let blob: String
    let destination: String

    /// Unpacks; returns the diffID.
    func unpack() throws(StoreError) -> Digest {
        let raw = try Archive.openRaw(blob)
        defer { archive_read_free(raw.archive) }
        let source = DecompressedSource(raw: raw.archive, blob: blob)
        guard let tar = archive_read_new() else { throw StoreError("libarchive: out of memory") }
        defer { archive_read_free(tar) }
        archive_read_support_format_tar(tar)
        archive_read_support_format_gnutar(tar)
        let context = Unmanaged.passUnretained(source).toOpaque()
        let opened = archive_read_open(
            tar, context, nil,
            { _, context, buffer in
                let source = Unmanaged<DecompressedSource>.fromOpaque(context!).takeUnretainedValue()
                return source.next(buffer)
            }, nil)
        guard opened == ARCHIVE_OK else { throw StoreError("\(blob): \(Archive.message(tar))") }
        let root = open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw StoreError.system("cannot open", destination) }
        defer { close(root) }
        var directoryTimes: [([[UInt8]], timespec)] = []
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(tar, &entry)
            if r == ARCHIVE_EOF { break }
            guard r == ARCHIVE_OK || r == ARCHIVE_WARN, let entry else {
                throw source.failure ?? StoreError("\(blob): \(Archive.message(tar))")
            }
            try extract(entry, from: tar, root: root, directoryTimes: &directoryTimes)
        }
        if let failure = source.failure { throw failure }
        try source.drain()
        // Directories' times last: what was written into them changed them.
        for (components, time) in directoryTimes.reversed() {
            guard let parent = try? Paths.parent(root, Array(components.dropLast()), create: false) else { continue }
            defer { if parent != root { close(parent) } }
            var times = [time, time]
            _ = Paths.withCName(components.last ?? [0x2E]) { utimensat(parent, $0, &times, AT_SYMLINK_NOFOLLOW) }
        }
        return source.hasher.finalize()
    }

    private func extract(
        _ entry: OpaquePointer, from tar: OpaquePointer, root: Int32, directoryTimes: inout [([[UInt8]], timespec)]
    ) throws(StoreError) {
        // Names are bytes: an image may hold names that are not UTF-8, and they must stay as they are.
        let pathBytes = Paths.bytes(archive_entry_pathname(entry))
        let path = String(decoding: pathBytes, as: UTF8.self)
        let components = try Paths.components(pathBytes)
        guard let name = components.last else {
            // "./" itself: the layer's root, which is ours.
            guard archive_entry_filetype(entry) == S_IFDIR else {
                throw StoreError("refused tar entry \(path): it names the layer's root but is not a directory")
            }
            return
        }
        let parent = try Paths.parent(root, Array(components.dropLast()), create: true, entry: path)
        defer { if parent != root { close(parent) } }

        if name == Array(".wh..wh..opq".utf8) {
            guard lsetxattr(Paths.procPath(parent, [UInt8(ascii: ".")]), "trusted.overlay.opaque", "y", 1, 0) == 0
            else {
                throw StoreError.system("cannot mark as opaque", path)
            }
            return
        }
        if name.starts(with: Array(".wh.".utf8)) {
            let hidden = Array(name.dropFirst(4))
            guard !hidden.isEmpty, hidden != [0x2E], hidden != [0x2E, 0x2E] else {
                throw StoreError("invalid whiteout \(path)")
            }
            try Paths.remove(parent, hidden)
            guard Paths.withCName(hidden, { mknodat(parent, $0, S_IFCHR | 0o000, berth_makedev(0, 0)) }) == 0 else {
                throw StoreError.system("cannot create the whiteout", path)
            }
            return
        }

        let mode = archive_entry_mode(entry)
        let type = mode & S_IFMT
        var st = stat()
        let exists = Paths.withCName(name) { fstatat(parent, $0, &st, AT_SYMLINK_NOFOLLOW) } == 0
        // A later entry replaces an earlier one, except that a directory stays a directory.
        if exists && !(type == S_IFDIR && st.st_mode & S_IFMT == S_IFDIR) { try Paths.remove(parent, name) }

        if let hardlink = archive_entry_hardlink(entry) {
            let target = Paths.bytes(hardlink)
            let targetComponents = try Paths.components(target)
            guard let targetName = targetComponents.last else { throw StoreError("\(path): a hard link to the root") }
            let targetParent = try Paths.parent(root, Array(targetComponents.dropLast()), create: false, entry: path)
            defer { if targetParent != root { close(targetParent) } }
            let linked = Paths.withCName(targetName) { t in
                Paths.withCName(name) { linkat(targetParent, t, parent, $0, 0) }
            }
            guard linked == 0 else {
                throw StoreError.system("cannot link \(path) to", String(decoding: target, as: UTF8.self))
            }
            return
        }
        switch type {
        case S_IFDIR:
            if !exists {
                guard Paths.withCName(name, { mkdirat(parent, $0, 0o700) }) == 0 else {
                    throw StoreError.system("cannot create", path)
                }
            }
        case S_IFREG:
            let fd = Paths.withCName(name) {
                openat(parent, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            guard fd >= 0 else { throw StoreError.system("cannot create", path) }
            defer { close(fd) }
            try Archive.copyData(tar, to: fd, entry: path)
        case S_IFLNK:
            let target = Paths.bytes(archive_entry_symlink(entry))
            let made = Paths.withCName(target) { t in Paths.withCName(name) { symlinkat(t, parent, $0) } }
            guard made == 0 else { throw StoreError.system("cannot create", path) }
        case S_IFCHR, S_IFBLK, S_IFIFO:
            let device = berth_makedev(
                UInt32(archive_entry_rdevmajor(entry)), UInt32(archive_entry_rdevminor(entry)))
            let made = Paths.withCName(name) {
                mknodat(parent, $0, type | (mode & 0o7777), type == S_IFIFO ? 0 : device)
            }
            guard made == 0 else { throw StoreError.system("cannot create", path) }
        default:
            return  // sockets and the like have no place in a layer
        }
        // Owner first: a change of owner clears the setuid and setgid bits.
        let uid = UInt32(truncatingIfNeeded: archive_entry_uid(entry))
        let gid = UInt32(truncatingIfNeeded: archive_entry_gid(entry))
        guard Paths.withCName(name, { fchownat(parent, $0, uid, gid, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw StoreError.system("cannot set the owner of", path)
        }
        if type != S_IFLNK {
            guard Paths.withCName(name, { fchmodat(parent, $0, mode & 0o7777, 0) }) == 0 else {
                throw StoreError.system("cannot set the mode of", path)
            }
        }
        try setXattrs(entry, parent: parent, name: name, path: path)
        let time = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry))
        if type == S_IFDIR {
            directoryTimes.append((components, time))
        } else {
            var times = [time, time]
            _ = Paths.withCName(name) { utimensat(parent, $0, &times, AT_SYMLINK_NOFOLLOW) }
        }
    }

    private func setXattrs(_ entry: OpaquePointer, parent: Int32, name: [UInt8], path: String) throws(StoreError) {
        guard archive_entry_xattr_reset(entry) > 0 else { return }
        var key: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        let target = Paths.procPath(parent, name)
        while archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK {
            guard let key else { continue }
            let keyName = String(cString: key)
            // Overlay's own metadata must never come from an image.
            if keyName.hasPrefix("trusted.overlay.") { continue }
            guard lsetxattr(target, key, value, size, 0) == 0 else {
                throw StoreError.system("cannot set \(keyName) on", path)
            }
        }
    }
}

/// The decompressed bytes of a blob, handed to the tar reader while they are hashed.
final class DecompressedSource {
    let raw: OpaquePointer
    let blob: String
    var hasher = Hasher256()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var failure: StoreError?

    init(raw: OpaquePointer, blob: String) {
        self.raw = raw
        self.blob = blob
    }

    func next(_ out: UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int {
        let n = buffer.withUnsafeMutableBytes { archive_read_data(raw, $0.baseAddress, $0.count) }
        if n < 0 {
            failure = StoreError("\(blob): \(Archive.message(raw))")
            return -1
        }
        buffer.withUnsafeBytes { bytes in
            hasher.update(UnsafeRawBufferPointer(rebasing: bytes[0..<n]))
            out?.pointee = bytes.baseAddress.map { UnsafeRawPointer($0) }
        }
        return n
    }

    /// What follows the tar's end marker belongs to the diffID too.
    func drain() throws(StoreError) {
        while true {
            let n = next(nil)
            if n < 0 { throw failure! }
            if n == 0 { return }
        }
    }
}

enum Archive {
    /// gzip and zstd, decoded in process. Never `archive_read_support_filter_all`: some of its
    /// filters run an external program (lrzip, lzop, grzip), which an image must not be able to
    /// make berth run. A plain tar needs no filter.
    static func supportCompression(_ archive: OpaquePointer) {
        archive_read_support_filter_gzip(archive)
        archive_read_support_filter_zstd(archive)
    }

    /// A blob opened as one stream of decompressed bytes (any of libarchive's filters).
    static func openRaw(_ path: String) throws(StoreError) -> (archive: OpaquePointer, Void) {
        guard let archive = archive_read_new() else { throw StoreError("libarchive: out of memory") }
        Archive.supportCompression(archive)
        archive_read_support_format_raw(archive)
        var entry: OpaquePointer?
        guard archive_read_open_filename(archive, path, 1 << 20) == ARCHIVE_OK,
            archive_read_next_header(archive, &entry) == ARCHIVE_OK
        else {
            let why = message(archive)
            archive_read_free(archive)
            throw StoreError("cannot read \(path): \(why)")
        }
        return (archive, ())
    }

    static func message(_ archive: OpaquePointer) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
    }

    static func copyData(_ archive: OpaquePointer, to fd: Int32, entry: String) throws(StoreError) {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = archive_read_data(archive, &buffer, buffer.count)
            if n < 0 { throw StoreError("\(entry): \(message(archive))") }
            if n == 0 { return }
            var offset = 0
            while offset < n {
                let w = buffer[offset..<n].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw StoreError.system("cannot write", entry) }
                offset += w
            }
        }
    }
}

/// Paths inside a layer, resolved by descriptor, never through a symbolic link. Names are bytes.
enum Paths {
    static func bytes(_ cString: UnsafePointer<CChar>?) -> [UInt8] {
        guard let cString else { return [] }
        return Array(
            UnsafeBufferPointer(
                start: UnsafeRawPointer(cString).assumingMemoryBound(to: UInt8.self), count: strlen(cString)))
    }

    static func withCName<T>(_ name: [UInt8], _ body: (UnsafePointer<CChar>) -> T) -> T {
        (name + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) { body($0) }
        }
    }

    /// The components of an entry's path, cleaned lexically as Docker does (`a/../b` is `b`);
    /// absolute paths and paths that climb out of the layer are refused.
    static func components(_ path: [UInt8]) throws(StoreError) -> [[UInt8]] {
        let shown = String(decoding: path, as: UTF8.self)
        guard path.first != UInt8(ascii: "/") else { throw StoreError("refused tar entry \(shown): an absolute path") }
        var parts: [[UInt8]] = []
        for part in path.split(separator: UInt8(ascii: "/")) where part.elementsEqual([0x2E]) == false {
            if part.elementsEqual([0x2E, 0x2E]) {
                guard parts.popLast() != nil else {
                    throw StoreError("refused tar entry \(shown): a path that leaves the layer")
                }
            } else {
                parts.append(Array(part))
            }
        }
        return parts
    }

    /// The directory `components` below `root`, opened one component at a time with O_NOFOLLOW,
    /// created (0755) where missing when asked. The caller closes it unless it is `root`.
    static func parent(_ root: Int32, _ components: [[UInt8]], create: Bool, entry: String = "")
        throws(StoreError) -> Int32
    {
        var fd = root
        for component in components {
            let flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
            var next = withCName(component) { openat(fd, $0, flags) }
            if next < 0 && errno == ENOENT && create {
                if withCName(component, { mkdirat(fd, $0, 0o755) }) != 0 && errno != EEXIST {
                    throw StoreError.system("cannot create the folders of", entry)
                }
                next = withCName(component) { openat(fd, $0, flags) }
            }
            let failure = errno
            if fd != root { close(fd) }
            guard next >= 0 else {
                if failure == ELOOP || failure == ENOTDIR {
                    throw StoreError("refused tar entry \(entry): its path goes through a symbolic link or a file")
                }
                throw StoreError.system("cannot open the folders of", entry, failure)
            }
            fd = next
        }
        return fd
    }

    /// Removes what is at `name` (a whole tree for a directory).
    static func remove(_ parent: Int32, _ name: [UInt8]) throws(StoreError) {
        let shown = String(decoding: name, as: UTF8.self)
        if withCName(name, { unlinkat(parent, $0, 0) }) == 0 || errno == ENOENT { return }
        guard errno == EISDIR else { throw StoreError.system("cannot replace", shown) }
        let fd = withCName(name) { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw StoreError.system("cannot open", shown) }
        var children: [[UInt8]] = []
        if let dir = fdopendir(dup(fd)) {
            while let item = readdir(dir) {
                let child = withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
                if child != [0x2E] && child != [0x2E, 0x2E] { children.append(child) }
            }
            closedir(dir)
        }
        for child in children { try remove(fd, child) }
        close(fd)
        guard withCName(name, { unlinkat(parent, $0, AT_REMOVEDIR) }) == 0 else {
            throw StoreError.system("cannot replace", shown)
        }
    }

    /// A path naming `name` in the directory `fd` without resolving anything above it again.
    static func procPath(_ fd: Int32, _ name: [UInt8]) -> [CChar] {
        (Array("/proc/self/fd/\(fd)/".utf8) + name + [0]).map { CChar(bitPattern: $0) }
    }
}

extension LayerUnpacker {
    /// The digest of a blob's decompressed content (a layer's diffID, without unpacking it).
    static func plainDigest(_ blob: String) throws(StoreError) -> Digest {
        let raw = try Archive.openRaw(blob)
        defer { archive_read_free(raw.archive) }
        let source = DecompressedSource(raw: raw.archive, blob: blob)
        try source.drain()
        return source.hasher.finalize()
    }
}
