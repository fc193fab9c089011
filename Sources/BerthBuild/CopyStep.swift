import BerthRuntime
import BerthStore
import Foundation

/// COPY and ADD: files from the build context (less what .dockerignore excludes), from an
/// earlier stage or from an image, written into a new layer directory that holds them and the
/// directories leading to them as the image has those (so the layer merges into the image as
/// Docker's does). Every source and the destination are resolved inside their own root.
struct CopyStep {
    let instruction: Instruction
    let sources: [String]
    let destination: String
    /// The files read: the context, or a stage's or image's layers.
    let files: BuildFiles
    /// For --from, the state read (its manifest is what the cache key needs).
    let fromState: BuildState?
    let owner: (uid: UInt32, gid: UInt32)?
    let mode: UInt32?
    let ignore: IgnorePatterns?
    let root: String
    let workdir: String

    var description: String {
        "\(fromState.map { "--from=\($0.manifest) " } ?? "")\(owner.map { "--chown=\($0.uid):\($0.gid) " } ?? "")"
            + "\(mode.map { "--chmod=\(String($0, radix: 8)) " } ?? "")\(sources) \(destination)"
    }

    init(instruction: Instruction, words: [String], stage: StageBuild, run: inout BuildRun) throws(BuildError) {
        self.instruction = instruction
        root = run.builder.root
        workdir = stage.state.settings.workingDir ?? "/"
        guard words.count >= 2 else { throw BuildError("needs at least one source and a destination") }
        for flag in instruction.flags where !["from", "chown", "chmod", "link"].contains(flag.name) {
            throw BuildError("the flag --\(flag.name) is not supported")
        }
        destination = words[words.count - 1]
        var sources = Array(words.dropLast())
        if instruction.keyword == "ADD",
            let url = sources.first(where: { $0.contains("://") || $0.hasPrefix("git@") })
        {
            throw BuildError(
                "\(url): fetching URLs is not supported (berth builds without reaching the network for ADD);"
                    + " download it into the context and ADD the file")
        }
        if let from = instruction.flag("from") {
            let source = try stage.expand(from, run)
            let state = try run.base(source, before: stage.index, line: instruction.line, keyword: instruction.keyword)
            fromState = state
            do {
                // An image without layers (scratch) has no files: every source is then missing.
                files = try Self.imageFiles(state, root: root) ?? BuildFiles(lowerDirs: [])
            } catch let error as BuildError {
                throw error
            } catch { throw BuildError("\(error)") }
            ignore = nil
        } else {
            fromState = nil
            do { files = try BuildFiles(lowerDirs: [run.options.context]) } catch { throw BuildError("\(error)") }
            ignore = run.ignore
        }
        if let chmod = instruction.flag("chmod") {
            guard let value = UInt32(chmod, radix: 8), value <= 0o7777 else {
                throw BuildError("--chmod=\(chmod): expected an octal mode")
            }
            mode = value
        } else {
            mode = nil
        }
        owner = try instruction.flag("chown").map { (chown) throws(BuildError) in
            try Self.owner(try stage.expand(chown, run), in: stage.state, root: run.builder.root)
        }
        self.sources = try sources.map { (s) throws(BuildError) in try Self.clean(s) }
        sources = self.sources
        // Each source must match something (after globbing and .dockerignore).
        for source in sources where try matches(source).isEmpty {
            throw BuildError("\(source): no such file or directory\(fromState == nil ? " in the build context" : "")")
        }
    }

    /// A source path relative to its root, cleaned; climbing out of the root is refused.
    static func clean(_ path: String) throws(BuildError) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                guard !parts.isEmpty else { throw BuildError("\(path): outside of the build context") }
                parts.removeLast()
                continue
            }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// --chown: names resolved in the image's own /etc/passwd and /etc/group; a user without a
    /// group gets the group of the same number, as Docker's.
    static func owner(_ text: String, in state: BuildState, root: String) throws(BuildError) -> (UInt32, UInt32) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        if let uid = UInt32(parts[0]), parts.count == 1 { return (uid, uid) }
        if let uid = UInt32(parts[0]), parts.count == 2, let gid = UInt32(parts[1]) { return (uid, gid) }
        var passwd: String?
        var group: String?
        if let files = try imageFiles(state, root: root) {
            do {
                passwd = try files.readFile("/etc/passwd").map { String(decoding: $0, as: UTF8.self) }
                group = try files.readFile("/etc/group").map { String(decoding: $0, as: UTF8.self) }
            } catch { throw BuildError("\(error)") }
        }
        do {
            let user = try UserDatabase.resolve(user: text, groupAdd: [], passwd: passwd, group: group)
            return (user.uid, parts.count == 2 ? user.gid : user.uid)
        } catch {
            throw BuildError("--chown=\(text): \(error)")
        }
    }

    /// The paths a source stands for: itself, or what its glob matches, less what is ignored.
    func matches(_ source: String) throws(BuildError) -> [String] {
        if !PathPattern.hasMeta(source) {
            if let ignore, !source.isEmpty, ignore.excludes(source) { return [] }
            return (try? files.item("/" + source)) != nil ? [source] : []
        }
        var found = [""]
        for component in source.split(separator: "/").map(String.init) {
            var next: [String] = []
            for base in found {
                if !PathPattern.hasMeta(component) {
                    next.append(base.isEmpty ? component : base + "/" + component)
                    continue
                }
                let listed: [(name: [UInt8], item: BuildFiles.Item)]
                do { listed = try files.list("/" + base) ?? [] } catch { throw BuildError("\(error)") }
                for entry in listed {
                    let name = String(decoding: entry.name, as: UTF8.self)
                    let matched: Bool
                    do { matched = try PathPattern.match(component, name) } catch { throw BuildError("\(error)") }
                    if matched { next.append(base.isEmpty ? name : base + "/" + name) }
                }
            }
            found = next
        }
        return found.filter { path in
            (try? files.item("/" + path)) != nil && !(ignore?.excludes(path) ?? false)
        }
    }

    /// What the cache key needs of the sources: for a stage or an image, its manifest (already
    /// in the description); for the context, every file's name, type, mode, size and content.
    func sourceDigest() throws(BuildError) -> String {
        guard fromState == nil else { return "" }
        var hasher = Hasher256()
        for source in sources {
            for path in try matches(source) { try hash(path, into: &hasher) }
        }
        return hasher.finalize().description
    }

    private func hash(_ path: String, into hasher: inout Hasher256) throws(BuildError) {
        if let ignore, !path.isEmpty, ignore.excludes(path), !ignore.mayReinclude(under: path) { return }
        let item: BuildFiles.Item?
        do { item = try files.item("/" + path) } catch { throw BuildError("\(error)") }
        guard let item else { return }
        hasher.update(Array("\(path)\0\(item.kind)\0\(String(item.mode, radix: 8))\0\(item.size)\0".utf8))
        switch item.kind {
        case .file:
            do {
                guard let digest = try files.contentDigest("/" + path) else { return }
                hasher.update(Array(digest.description.utf8))
            } catch { throw BuildError("\(error)") }
        case .directory:
            let listed: [(name: [UInt8], item: BuildFiles.Item)]
            do { listed = try files.list("/" + path) ?? [] } catch { throw BuildError("\(error)") }
            for entry in listed {
                let name = String(decoding: entry.name, as: UTF8.self)
                let child = path.isEmpty ? name : path + "/" + name
                if entry.item.kind == .link {
                    hasher.update(Array("\(child)\0link\0".utf8))
                    hasher.update((try? files.readLink("/" + child)) ?? [])
                } else {
                    try hash(child, into: &hasher)
                }
            }
        default:
            return
        }
    }

    /// Writes the new layer and gives the state with it.
    func perform(on state: BuildState, run: BuildRun) throws(BuildError) -> BuildState {
        let work = try Self.workDirectory(root: root)
        defer { Self.remove(work) }
        let layer = work + "/fs"
        let target = Metadata.join(workdir, destination)
        let intoDirectory =
            destination.hasSuffix("/") || destination.hasSuffix("/.") || sources.count > 1
            || sources.contains(where: PathPattern.hasMeta)
        var matched: [String] = []
        for source in sources { matched += try matches(source) }
        if matched.count > 1 && !destination.hasSuffix("/") {
            throw BuildError("when copying more than one file, the destination must be a directory ending with /")
        }
        let image = try Self.imageFiles(state, root: root)
        let isExistingDirectory = (try? image?.item(target))?.kind == .directory
        let directory = intoDirectory || isExistingDirectory ? target : (target as NSString).deletingLastPathComponent
        let destinationDirectory = try Self.makeDirectories(
            directory, in: layer, image: image, owner: owner ?? (0, 0))
        let options = BuildFiles.CopyOptions(
            owner: owner ?? (fromState == nil ? (0, 0) : nil), mode: mode,
            include: ignore.map { ignore in
                { (path: [UInt8], _: Bool) -> Bool in !ignore.excludes(String(decoding: path, as: UTF8.self)) }
            })
        for path in matched {
            let item = try? files.item("/" + path)
            let name: [UInt8]? =
                intoDirectory || isExistingDirectory
                ? nil : Array((target as NSString).lastPathComponent.utf8)
            do {
                if instruction.keyword == "ADD", fromState == nil, item?.kind == .file {
                    // A local archive is unpacked; anything else is copied as COPY does.
                    let staged = work + "/archive"
                    _ = mkdir(staged, 0o700)
                    try files.copy("/" + path, into: staged, as: Array("a".utf8), options: BuildFiles.CopyOptions())
                    if ArchiveExtractor.isArchive(staged + "/a") {
                        try ArchiveExtractor.extract(staged + "/a", into: destinationDirectory)
                        continue
                    }
                }
                // A file source passed .dockerignore already; a directory's contents are filtered.
                var sourceOptions = options.prefixed(path)
                if item?.kind != .directory { sourceOptions.include = nil }
                try files.copy("/" + path, into: destinationDirectory, as: name, options: sourceOptions)
            } catch let error as BuildError {
                throw error
            } catch {
                throw BuildError("\(error)")
            }
        }
        return try Self.commit(directory: layer, onto: state, history: instruction.text, root: root)
    }

    /// A working directory on berth's own filesystem (so the layer can be renamed into place).
    static func workDirectory(root: String) throws(BuildError) -> String {
        let parent = root + "/builds"
        _ = mkdir(parent, 0o700)
        let path = parent + "/.copy-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(path, 0o700) == 0, mkdir(path + "/fs", 0o755) == 0 else {
            throw BuildError("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    static func remove(_ path: String) { try? FileManager.default.removeItem(atPath: path) }

    /// What builds killed half-way through a COPY left: work directories whose process is gone.
    static func collectWorkDirectories(root: String) {
        let parent = root + "/builds"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where name.hasPrefix(".copy-")
        {
            let pid = name.dropFirst(6).prefix { $0 != "-" }
            guard let pid = pid_t(pid), kill(pid, 0) != 0, errno == ESRCH else { continue }
            remove(parent + "/" + name)
        }
    }

    static func imageFiles(_ state: BuildState, root: String) throws(BuildError) -> BuildFiles? {
        guard !state.layers.isEmpty else { return nil }
        do {
            return try BuildFiles(
                lowerDirs: try Snapshotter(root: root).prepare(state.image, content: ContentStore(root: root)))
        } catch { throw BuildError("\(error)") }
    }

    /// Creates `path` below `layer`: the directories the image has, as it has them (links on
    /// the way resolved, so a COPY into /usr/local/bin where that is a link lands where the
    /// link points), then the missing ones, 0755 and owned by `owner`. Returns the host path.
    static func makeDirectories(
        _ path: String, in layer: String, image: BuildFiles?, owner: (uid: UInt32, gid: UInt32)
    ) throws(BuildError) -> String {
        let resolved: (existing: [([UInt8], BuildFiles.Item)], missing: [[UInt8]])
        do {
            resolved = try image?.destination(path) ?? ([], path.split(separator: "/").map { Array($0.utf8) })
        } catch { throw BuildError("\(error)") }
        var current = layer
        for (name, item) in resolved.existing {
            current += "/" + String(decoding: name, as: UTF8.self)
            guard mkdir(current, 0o755) == 0 || errno == EEXIST else {
                throw BuildError("cannot create \(current): \(String(cString: strerror(errno)))")
            }
            chown(current, item.uid, item.gid)
            chmod(current, mode_t(item.mode))
            var times = [item.modified, item.modified]
            utimensat(AT_FDCWD, current, &times, AT_SYMLINK_NOFOLLOW)
        }
        for name in resolved.missing {
            current += "/" + String(decoding: name, as: UTF8.self)
            guard mkdir(current, 0o755) == 0 || errno == EEXIST else {
                throw BuildError("cannot create \(current): \(String(cString: strerror(errno)))")
            }
            chown(current, owner.uid, owner.gid)
        }
        return current
    }

    /// WORKDIR's directory, as a layer, when the image does not have it yet.
    static func makeDirectoryLayer(_ path: String, in state: BuildState, run: BuildRun) throws(BuildError)
        -> WrittenLayer?
    {
        let image = try imageFiles(state, root: run.builder.root)
        if let image, (try? image.item(path))?.kind == .directory { return nil }
        let work = try workDirectory(root: run.builder.root)
        defer { remove(work) }
        _ = try makeDirectories(path, in: work + "/fs", image: image, owner: (0, 0))
        let (layer, _) = try writeLayer(work + "/fs", onto: state, root: run.builder.root)
        return layer
    }

    /// The directory (in overlay form) as the state's next layer: written to the store, and
    /// adopted as that layer's snapshot. An empty directory adds no layer.
    static func commit(directory: String, onto state: BuildState, history: String, root: String)
        throws(BuildError) -> BuildState
    {
        let (layer, _) = try writeLayer(directory, onto: state, root: root)
        return try state.adding(history: history, layer: layer, content: ContentStore(root: root))
    }

    static func writeLayer(_ directory: String, onto state: BuildState, root: String) throws(BuildError)
        -> (WrittenLayer?, Digest?)
    {
        do {
            let written = try LayerWriter.write(directory: directory, content: ContentStore(root: root))
            if written.isEmpty { return (nil, nil) }
            let chain = ChainID.chain(state.config.rootfs.diffIDs + [written.diffID]).last!
            try Snapshotter(root: root).adopt(directory, chain: chain)
            return (written, chain)
        } catch {
            throw BuildError("cannot write the layer: \(error)")
        }
    }
}

extension BuildFiles.CopyOptions {
    /// The same filter for a directory's contents: its paths are relative to the directory.
    func prefixed(_ directory: String) -> BuildFiles.CopyOptions {
        guard let include else { return self }
        var copy = self
        let prefix = Array((directory.isEmpty ? "" : directory + "/").utf8)
        copy.include = { path, isDirectory in include(prefix + path, isDirectory) }
        return copy
    }
}
