#if canImport(Glibc)
    import Glibc
#endif

/// An image's read-only layers seen merged, as overlayfs shows them to the container: a name
/// comes from the topmost layer that has it; directories of the same name merge with those
/// below; a whiteout (a character device 0/0) hides the name in every layer below it; an opaque
/// directory (xattr trusted.overlay.opaque=y) hides the directories of its name below it.
///
/// Every lookup is by descriptor, one component at a time, without following symbolic links;
/// links on a path are resolved here against the merged root, so nothing can lead outside the
/// layers (an absolute link or ".." past the top stays at the root, as with RESOLVE_IN_ROOT).
struct MergedLayers {
    /// One directory of the merged view: that directory in each layer that contributes to it,
    /// topmost first.
    struct Directory {
        var layers: [OpenFile]
    }

    /// What a name in a merged directory is.
    struct Entry {
        var name: [UInt8]
        /// Its metadata, from the topmost layer that has it.
        var stat: stat
        /// Indices into the directory's layers: the one the entry comes from first, then, for a
        /// directory, those whose directory of that name merges with it.
        var layers: [Int]

        var type: mode_t { stat.st_mode & S_IFMT }
    }

    /// Symbolic links followed on one path before giving up, as the kernel's ELOOP.
    static let maxLinks = 40
    static let opaqueXattr = "trusted.overlay.opaque"

    let root: Directory

    /// `lowerDirs`: the layers' directories, topmost first.
    init(lowerDirs: [String]) throws(RuntimeError) {
        var layers: [OpenFile] = []
        for path in lowerDirs {
            guard let fd = OpenFile.directory(path: path) else {
                throw RuntimeError(125, "cannot open the image layer \(path): \(errorText())")
            }
            layers.append(fd)
        }
        root = Directory(layers: layers)
    }

    static func isWhiteout(_ st: stat) -> Bool { st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0 }

    /// The entry `name` of `directory`, or nil when no layer has it or a whiteout hides it.
    func lookup(_ name: [UInt8], in directory: Directory) throws(RuntimeError) -> Entry? {
        var found: Entry?
        for (index, layer) in directory.layers.enumerated() {
            var st = stat()
            guard name.withCName({ fstatat(layer.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else {
                if errno == ENOENT { continue }
                throw RuntimeError(125, "cannot look up \(name.shown) in the image: \(errorText())")
            }
            let isDirectory = st.st_mode & S_IFMT == S_IFDIR
            if var entry = found {
                // Below a directory only directories merge; anything else ends the merge.
                guard isDirectory else { break }
                entry.layers.append(index)
                found = entry
            } else {
                if Self.isWhiteout(st) { return nil }
                found = Entry(name: name, stat: st, layers: [index])
                if !isDirectory { break }
            }
            if try Self.isOpaque(layer.raw, name) { break }
        }
        return found
    }

    /// Every entry of `directory`, in no particular order.
    func entries(of directory: Directory) throws(RuntimeError) -> [Entry] {
        var names: [[UInt8]] = []
        var seen: Set<[UInt8]> = []
        for layer in directory.layers {
            for name in try DirectoryTree.names(layer.raw) where seen.insert(name).inserted { names.append(name) }
        }
        var entries: [Entry] = []
        for name in names {
            if let entry = try lookup(name, in: directory) { entries.append(entry) }
        }
        return entries
    }

    /// The merged directory an entry of type directory stands for.
    func open(_ entry: Entry, in directory: Directory) throws(RuntimeError) -> Directory {
        var layers: [OpenFile] = []
        for index in entry.layers {
            guard let fd = OpenFile.directory(directory.layers[index].raw, entry.name) else {
                throw RuntimeError(125, "cannot open \(entry.name.shown) in the image: \(errorText())")
            }
            layers.append(fd)
        }
        return Directory(layers: layers)
    }

    /// The directory at `path`, resolved as the container will see it: symbolic links followed
    /// inside the merged root. Nil when nothing is there, or something that is not a directory.
    func directory(at path: [UInt8]) throws(RuntimeError) -> Directory? {
        var stack = [root]
        // Components still to walk, the next one last.
        var pending = Array(Self.components(path).reversed())
        var links = 0
        while let component = pending.popLast() {
            if component == [UInt8].dot { continue }
            if component == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                if stack.count > 1 { stack.removeLast() }
                continue
            }
            let current = stack[stack.count - 1]
            guard let entry = try lookup(component, in: current) else { return nil }
            switch entry.type {
            case S_IFDIR:
                stack.append(try open(entry, in: current))
            case S_IFLNK:
                links += 1
                guard links <= Self.maxLinks else {
                    throw RuntimeError(125, "too many levels of symbolic links in \(path.shown) in the image")
                }
                let target = try Self.readLink(current.layers[entry.layers[0]].raw, component)
                if target.first == UInt8(ascii: "/") { stack = [root] }
                pending.append(contentsOf: Self.components(target).reversed())
            default:
                return nil
            }
        }
        return stack[stack.count - 1]
    }

    /// The content of the regular file at `path` as the container will see it (its /etc/passwd),
    /// or nil when there is none. A link as the last component is followed inside the root.
    func readFile(_ path: String, limit: Int = 4 << 20) throws(RuntimeError) -> [UInt8]? {
        var components = Self.components(Array(path.utf8))
        for _ in 0...Self.maxLinks {
            guard let name = components.popLast(),
                let directory = try directory(at: components.flatMap { [UInt8(ascii: "/")] + $0 }),
                let entry = try lookup(name, in: directory)
            else { return nil }
            if entry.type == S_IFLNK {
                let target = try Self.readLink(directory.layers[entry.layers[0]].raw, name)
                components =
                    target.first == UInt8(ascii: "/") ? Self.components(target) : components + Self.components(target)
                continue
            }
            guard entry.type == S_IFREG else { return nil }
            let fd = name.withCName {
                openat(directory.layers[entry.layers[0]].raw, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard fd >= 0 else { throw RuntimeError(125, "cannot open \(path) in the image: \(errorText())") }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while bytes.count < limit {
                let n = read(fd, &buffer, buffer.count)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                bytes += buffer[0..<n]
            }
            return bytes
        }
        throw RuntimeError(125, "too many levels of symbolic links in \(path) in the image")
    }

    static func components(_ path: [UInt8]) -> [[UInt8]] {
        path.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).map(Array.init)
    }

    static func readLink(_ directory: Int32, _ name: [UInt8]) throws(RuntimeError) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = name.withCName { cName in
            buffer.withUnsafeMutableBufferPointer { readlinkat(directory, cName, $0.baseAddress!, $0.count) }
        }
        guard n >= 0 else { throw RuntimeError(125, "cannot read the link \(name.shown): \(errorText())") }
        return Array(buffer[..<n])
    }

    static func isOpaque(_ directory: Int32, _ name: [UInt8]) throws(RuntimeError) -> Bool {
        var value: [UInt8] = [0, 0]
        let n = value.withUnsafeMutableBytes { bytes in
            Xattrs.path(directory, name).withCName { LinuxCalls.lgetxattr($0, opaqueXattr, bytes.baseAddress, 2) }
        }
        if n < 0 {
            // No such attribute, or a size that is not "y": not opaque.
            if [ENODATA, ENOTSUP, ERANGE].contains(errno) { return false }
            throw RuntimeError(125, "cannot read the attributes of \(name.shown) in the image: \(errorText())")
        }
        return n == 1 && value[0] == UInt8(ascii: "y")
    }
}
