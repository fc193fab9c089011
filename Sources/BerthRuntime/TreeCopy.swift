#if canImport(Glibc)
    import Glibc
#endif

/// Copies a directory of an image's merged layers into a new directory of the host, as
/// `cp -a` would and as Docker fills a volume: regular files (content, owner, mode, times,
/// extended attributes), directories, symbolic links (copied, never followed), fifos and device
/// nodes; files hard-linked to each other stay hard-linked in the copy. Sockets are left out,
/// as Docker's copy leaves them out. Every file is created anew (O_EXCL, O_NOFOLLOW) in a
/// directory only this copy writes to.
struct TreeCopy {
    let layers: MergedLayers
    /// The directory the copy goes into.
    let destination: OpenFile
    /// The first copy of each file that has more than one name, by its path below `destination`.
    private var copied: [FileID: [UInt8]] = [:]
    /// A build's COPY: every copied file gets this owner (--chown, or root) and mode (--chmod)...
    var owner: (uid: uid_t, gid: gid_t)?
    var mode: mode_t?
    /// ...what is already in the destination is merged with (directories) or replaced (the
    /// rest), and only the paths (below the destination) this accepts are copied.
    var merge = false
    var include: ((_ path: [UInt8], _ isDirectory: Bool) -> Bool)?

    /// Sockets are not among them: a socket file means nothing without its listener.
    static let copiedTypes: Set<mode_t> = [S_IFDIR, S_IFREG, S_IFLNK, S_IFIFO, S_IFCHR, S_IFBLK]

    init(layers: MergedLayers, destination: OpenFile) {
        self.layers = layers
        self.destination = destination
    }

    /// Copies what `source` holds into the destination, then the metadata of the source's own
    /// directory (from its topmost layer) onto the destination itself.
    mutating func copy(_ source: MergedLayers.Directory) throws(RuntimeError) {
        try copyEntries(of: source, into: destination, path: [])
        guard let top = source.layers.first else { return }
        var st = stat()
        guard fstat(top.raw, &st) == 0 else { throw RuntimeError(125, "cannot read the image: \(errorText())") }
        try FileAttributes.copy(st, from: top.raw, .dot, to: destination.raw, .dot, shownAs: .dot)
    }

    /// Copies what `source` holds into the destination, leaving the destination's own metadata.
    mutating func copyContents(_ source: MergedLayers.Directory) throws(RuntimeError) {
        try copyEntries(of: source, into: destination, path: [])
    }

    private mutating func copyEntries(of source: MergedLayers.Directory, into directory: OpenFile, path: [UInt8])
        throws(RuntimeError)
    {
        for entry in try layers.entries(of: source) {
            try copyEntry(entry, of: source, into: directory, path: path.appendingComponent(entry.name))
        }
    }

    /// One entry of `source` copied into `directory` as `name` (its own name by default).
    mutating func copyEntry(
        _ entry: MergedLayers.Entry, of source: MergedLayers.Directory, into directory: OpenFile, path: [UInt8],
        as newName: [UInt8]? = nil
    ) throws(RuntimeError) {
        guard Self.copiedTypes.contains(entry.type) else { return }
        if let include, !include(path, entry.type == S_IFDIR) { return }
        let from = source.layers[entry.layers[0]].raw
        let name = newName ?? entry.name
        var st = entry.stat
        if let owner {
            st.st_uid = owner.uid
            st.st_gid = owner.gid
        }
        if let mode { st.st_mode = st.st_mode & S_IFMT | mode }
        if merge { try makeRoom(for: name, isDirectory: entry.type == S_IFDIR, in: directory, path: path) }
        if entry.type != S_IFDIR && st.st_nlink > 1 {
            if let first = copied[FileID(st)] {
                guard destination.link(first, as: name, in: directory) else {
                    throw RuntimeError(125, "cannot link \(path.shown) to \(first.shown): \(errorText())")
                }
                return
            }
            copied[FileID(st)] = path
        }
        switch entry.type {
        case S_IFDIR:
            let made = name.withCName({ mkdirat(directory.raw, $0, 0o700) }) == 0 || (merge && errno == EEXIST)
            guard made, let child = OpenFile.directory(directory.raw, name)
            else { throw RuntimeError(125, "cannot create \(path.shown): \(errorText())") }
            try copyEntries(of: try layers.open(entry, in: source), into: child, path: path)
        case S_IFREG:
            try copyFile(from, entry.name, into: directory.raw, as: name, path: path)
        case S_IFLNK:
            let target = try MergedLayers.readLink(from, entry.name)
            guard target.withCName({ t in name.withCName { symlinkat(t, directory.raw, $0) } }) == 0 else {
                throw RuntimeError(125, "cannot create the link \(path.shown): \(errorText())")
            }
        default:
            guard name.withCName({ mknodat(directory.raw, $0, entry.type | 0o600, st.st_rdev) }) == 0 else {
                throw RuntimeError(125, "cannot create \(path.shown): \(errorText())")
            }
        }
        try FileAttributes.copy(st, from: from, entry.name, to: directory.raw, name, shownAs: path)
    }

    /// Merging: a directory stays for a directory to merge into; anything else in the way goes.
    private func makeRoom(for name: [UInt8], isDirectory: Bool, in directory: OpenFile, path: [UInt8])
        throws(RuntimeError)
    {
        var st = stat()
        guard name.withCName({ fstatat(directory.raw, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 else { return }
        if isDirectory && st.st_mode & S_IFMT == S_IFDIR { return }
        try DirectoryTree.remove(directory.raw, name)
    }

    /// The content of a regular file, by copy_file_range where the filesystems allow it (a
    /// reflink or an in-kernel copy), else by read and write.
    private func copyFile(
        _ sourceDirectory: Int32, _ name: [UInt8], into directory: Int32, as newName: [UInt8], path: [UInt8]
    ) throws(RuntimeError) {
        let input = name.withCName {
            openat(sourceDirectory, $0, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
        }
        guard input >= 0 else { throw RuntimeError(125, "cannot read \(path.shown) in the image: \(errorText())") }
        defer { close(input) }
        let output = newName.withCName {
            openat(directory, $0, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        }
        guard output >= 0 else { throw RuntimeError(125, "cannot create \(path.shown): \(errorText())") }
        defer { close(output) }
        var inKernel = true
        var buffer: [UInt8] = []
        while true {
            var n: Int
            if inKernel {
                n = LinuxCalls.copyFileRange(input, nil, output, nil, 1 << 30, 0)
                if n < 0 && [EXDEV, EINVAL, ENOSYS, EOPNOTSUPP, EPERM].contains(errno) {
                    inKernel = false
                    continue
                }
            } else {
                if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 17) }
                n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if n > 0 { try writeAll(output, buffer[..<n], path: path) }
            }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw RuntimeError(125, "cannot copy \(path.shown): \(errorText())") }
            if n == 0 { return }
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: ArraySlice<UInt8>, path: [UInt8]) throws(RuntimeError) {
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw RuntimeError(125, "cannot write \(path.shown): \(errorText())") }
            offset += n
        }
    }
}
