#if canImport(Glibc)
    import Glibc
#endif

/// Walks of directory trees by descriptor, never following a symbolic link, with names kept as
/// bytes: what a container or an image wrote may be any name at all.
enum DirectoryTree {
    /// The names in a directory, without "." and "..".
    static func names(_ directory: Int32) throws(RuntimeError) -> [[UInt8]] {
        let copy = dup(directory)
        guard copy >= 0, let stream = fdopendir(copy) else {
            if copy >= 0 { close(copy) }
            throw RuntimeError(125, "cannot list a directory: \(errorText())")
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var names: [[UInt8]] = []
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw RuntimeError(125, "cannot list a directory: \(errorText())") }
                break
            }
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            if name == [UInt8].dot || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
            names.append(name)
        }
        return names
    }

    static func isEmpty(_ directory: Int32) throws(RuntimeError) -> Bool { try names(directory).isEmpty }

    /// Removes `name` below `parent` and everything under it; a name already gone is fine.
    static func remove(_ parent: Int32, _ name: [UInt8]) throws(RuntimeError) {
        var st = stat()
        guard name.withCName({ fstatat(parent, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            if errno == ENOENT { return }
            throw RuntimeError(125, "cannot remove \(name.shown): \(errorText())")
        }
        if st.st_mode & S_IFMT == S_IFDIR {
            guard let directory = OpenFile.directory(parent, name) else {
                if errno == ENOENT { return }
                throw RuntimeError(125, "cannot remove \(name.shown): \(errorText())")
            }
            for child in try names(directory.raw) { try remove(directory.raw, child) }
        }
        let flags = st.st_mode & S_IFMT == S_IFDIR ? AT_REMOVEDIR : 0
        if name.withCName({ unlinkat(parent, $0, flags) }) != 0 && errno != ENOENT {
            throw RuntimeError(125, "cannot remove \(name.shown): \(errorText())")
        }
    }

    /// Bytes in the files below a directory, each hard-linked file counted once, as
    /// `docker system df` and `docker volume prune` count them.
    static func size(_ directory: Int32) -> UInt64 {
        var seen: Set<FileID> = []
        return size(directory, seen: &seen)
    }

    private static func size(_ directory: Int32, seen: inout Set<FileID>) -> UInt64 {
        var total: UInt64 = 0
        for name in (try? names(directory)) ?? [] {
            var st = stat()
            guard name.withCName({ fstatat(directory, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { continue }
            if st.st_mode & S_IFMT == S_IFDIR {
                if let child = OpenFile.directory(directory, name) { total += size(child.raw, seen: &seen) }
            } else if st.st_nlink < 2 || seen.insert(FileID(st)).inserted {
                total += UInt64(max(0, st.st_size))
            }
        }
        return total
    }
}

/// An inode, to find hard links.
struct FileID: Hashable {
    var device: UInt64
    var inode: UInt64

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
    }
}
