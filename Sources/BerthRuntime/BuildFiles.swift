import BerthStore

#if canImport(Glibc)
    import Glibc
#endif

/// The files a build's COPY and ADD read, and the image they write over: a build context (one
/// directory) or an image's layers, seen merged as the container sees them, every path resolved
/// inside that root (a link planted in the context or an image can never lead out of it).
public final class BuildFiles {
    let layers: MergedLayers

    /// `lowerDirs`: a build context, or an image's layers topmost first.
    public init(lowerDirs: [String]) throws(RuntimeError) {
        layers = try MergedLayers(lowerDirs: lowerDirs)
    }

    public enum Kind: Sendable, Equatable { case directory, file, link, other }

    /// What is at a path, its links followed (the last one too, as COPY follows its sources).
    public struct Item: Sendable {
        public var kind: Kind
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        public var size: Int64
        public var modified: timespec
    }

    /// The item at `path`, links on the way and at its end resolved inside the root; nil when
    /// nothing is there.
    public func item(_ path: String) throws(RuntimeError) -> Item? {
        guard let (_, entry) = try resolve(Array(path.utf8)) else { return nil }
        return Self.item(entry.stat)
    }

    static func item(_ st: stat) -> Item {
        let kind: Kind =
            switch st.st_mode & S_IFMT {
            case S_IFDIR: .directory
            case S_IFREG: .file
            case S_IFLNK: .link
            default: .other
            }
        return Item(
            kind: kind, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, size: Int64(st.st_size),
            modified: st.st_mtim)
    }

    /// The names in the directory at `path` with what each is (links not followed), sorted;
    /// nil when it is not a directory.
    public func list(_ path: String) throws(RuntimeError) -> [(name: [UInt8], item: Item)]? {
        guard let directory = try layers.directory(at: Array(path.utf8)) else { return nil }
        return try layers.entries(of: directory).map { ($0.name, Self.item($0.stat)) }.sorted {
            $0.name.lexicographicallyPrecedes($1.name)
        }
    }

    /// The content of the regular file at `path`.
    public func readFile(_ path: String, limit: Int = 4 << 20) throws(RuntimeError) -> [UInt8]? {
        try layers.readFile(path, limit: limit)
    }

    /// The sha256 of the regular file at `path` (links followed), read in chunks; nil when
    /// there is none.
    public func contentDigest(_ path: String) throws(RuntimeError) -> Digest? {
        guard let (directory, entry) = try resolve(Array(path.utf8)), entry.type == S_IFREG else { return nil }
        let fd = entry.name.withCName {
            openat(directory.layers[entry.layers[0]].raw, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        }
        guard fd >= 0 else { throw RuntimeError(125, "cannot open \(path): \(errorText())") }
        defer { close(fd) }
        var hasher = Hasher256()
        var buffer = [UInt8](repeating: 0, count: 1 << 17)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw RuntimeError(125, "cannot read \(path): \(errorText())") }
            if n == 0 { return hasher.finalize() }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<n])) }
        }
    }

    /// The target of the symbolic link at `path` (links before it followed).
    public func readLink(_ path: String) throws(RuntimeError) -> [UInt8]? {
        var components = MergedLayers.components(Array(path.utf8))
        guard let name = components.popLast(),
            let directory = try layers.directory(at: components.flatMap { [UInt8(ascii: "/")] + $0 }),
            let entry = try layers.lookup(name, in: directory), entry.type == S_IFLNK
        else { return nil }
        return try MergedLayers.readLink(directory.layers[entry.layers[0]].raw, name)
    }

    /// Where a destination path really is: its directories as the image has them, links
    /// followed inside the root, each with its metadata (so a new layer can recreate them
    /// as they are), then the components that do not exist yet. A component that exists and is
    /// not a directory (nor a link to one) ends the walk: it is in `missing` with what follows
    /// it, and the copy replaces it, as Docker's does.
    public func destination(_ path: String) throws(RuntimeError) -> (existing: [([UInt8], Item)], missing: [[UInt8]]) {
        var stack: [(name: [UInt8], item: Item, directory: MergedLayers.Directory)] = []
        var pending = Array(MergedLayers.components(Array(path.utf8)).reversed())
        var links = 0
        while let component = pending.popLast() {
            if component == [UInt8].dot { continue }
            if component == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                if !stack.isEmpty { stack.removeLast() }
                continue
            }
            let current = stack.last?.directory ?? layers.root
            guard let entry = try layers.lookup(component, in: current) else {
                return (stack.map { ($0.name, $0.item) }, [component] + pending.reversed())
            }
            switch entry.type {
            case S_IFDIR:
                stack.append((component, Self.item(entry.stat), try layers.open(entry, in: current)))
            case S_IFLNK:
                links += 1
                guard links <= MergedLayers.maxLinks else {
                    throw RuntimeError(125, "too many levels of symbolic links in \(path)")
                }
                let target = try MergedLayers.readLink(current.layers[entry.layers[0]].raw, component)
                if target.first == UInt8(ascii: "/") { stack = [] }
                pending.append(contentsOf: MergedLayers.components(target).reversed())
            default:
                return (stack.map { ($0.name, $0.item) }, [component] + pending.reversed())
            }
        }
        return (stack.map { ($0.name, $0.item) }, [])
    }

    /// Whether the host directory at `path` is an overlay upper directory's opaque one.
    public static func isOpaque(_ path: String) -> Bool {
        var value: [UInt8] = [0, 0]
        let n = value.withUnsafeMutableBytes { LinuxCalls.lgetxattr(path, MergedLayers.opaqueXattr, $0.baseAddress, 2) }
        return n == 1 && value[0] == UInt8(ascii: "y")
    }

    /// How COPY writes what it copies.
    public struct CopyOptions {
        /// Owner of every copied file (nil: as the source has it).
        public var owner: (uid: UInt32, gid: UInt32)?
        /// Permission bits of every copied file (--chmod; nil: the source's).
        public var mode: UInt32?
        /// Which paths below the source to copy (a directory's), "/"-separated: .dockerignore.
        public var include: ((_ path: [UInt8], _ isDirectory: Bool) -> Bool)?

        public init(
            owner: (uid: UInt32, gid: UInt32)? = nil, mode: UInt32? = nil,
            include: ((_ path: [UInt8], _ isDirectory: Bool) -> Bool)? = nil
        ) {
            self.owner = owner
            self.mode = mode
            self.include = include
        }
    }

    /// Copies the item at `source` (links followed) into the host directory `destination`: a
    /// directory's contents into `destination` itself (merged with what is there), anything
    /// else as `name`. Owners, modes, times, links, hard links and attributes are kept unless
    /// `options` say otherwise.
    public func copy(_ source: String, into destination: String, as name: [UInt8]?, options: CopyOptions)
        throws(RuntimeError)
    {
        guard let (directory, entry) = try resolve(Array(source.utf8)) else {
            throw RuntimeError(125, "\(source): no such file or directory")
        }
        guard let target = OpenFile.directory(path: destination) else {
            throw RuntimeError(125, "cannot open \(destination): \(errorText())")
        }
        var copy = TreeCopy(layers: layers, destination: target)
        copy.owner = options.owner.map { (uid_t($0.uid), gid_t($0.gid)) }
        copy.mode = options.mode.map { mode_t($0) }
        copy.merge = true
        copy.include = options.include
        if entry.type == S_IFDIR {
            try copy.copyContents(try layers.open(entry, in: directory))
        } else {
            let newName = name ?? entry.name
            try copy.copyEntry(entry, of: directory, into: target, path: newName, as: newName)
        }
    }

    /// The entry at `path` and the merged directory holding it, links followed inside the root
    /// (the root itself is a directory entry of a directory that has it).
    private func resolve(_ path: [UInt8]) throws(RuntimeError) -> (MergedLayers.Directory, MergedLayers.Entry)? {
        var components = MergedLayers.components(path).filter { $0 != [UInt8].dot }
        for _ in 0...MergedLayers.maxLinks {
            guard let name = components.last else {
                // The root: an entry that stands for the root of every layer.
                guard let top = layers.root.layers.first else { return nil }
                var st = stat()
                guard fstat(top.raw, &st) == 0 else { throw RuntimeError(125, "cannot read: \(errorText())") }
                return (
                    layers.root, MergedLayers.Entry(name: .dot, stat: st, layers: Array(layers.root.layers.indices))
                )
            }
            if name == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                components.removeLast()
                if !components.isEmpty { components.removeLast() }
                continue
            }
            let parent = components.dropLast().flatMap { [UInt8(ascii: "/")] + $0 }
            guard let directory = try layers.directory(at: parent), let entry = try layers.lookup(name, in: directory)
            else { return nil }
            guard entry.type == S_IFLNK else { return (directory, entry) }
            let target = try MergedLayers.readLink(directory.layers[entry.layers[0]].raw, name)
            components.removeLast()
            components =
                target.first == UInt8(ascii: "/")
                ? MergedLayers.components(target) : components + MergedLayers.components(target)
        }
        throw RuntimeError(125, "too many levels of symbolic links in \(path.shown)")
    }
}
