#if canImport(Glibc)
    import Glibc
#endif

/// A file's metadata copied to another: owner, permission bits (setuid, setgid and sticky
/// included), extended attributes but overlayfs's own, and times. Files are named by a
/// directory descriptor and a name; a symbolic link is never followed.
enum FileAttributes {
    /// In the order the kernel needs: chown clears setuid and setgid, so the mode comes after
    /// it; chown and writes drop security.capability, so the attributes come after both; and
    /// the times come last, as anything else would change them.
    static func copy(
        _ st: stat, from source: Int32, _ sourceName: [UInt8], to destination: Int32, _ destinationName: [UInt8],
        shownAs path: [UInt8]
    ) throws(RuntimeError) {
        let isLink = st.st_mode & S_IFMT == S_IFLNK
        guard destinationName.withCName({ fchownat(destination, $0, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) }) == 0
        else { throw RuntimeError(125, "cannot change the owner of \(path.shown): \(errorText())") }
        // Links have no mode of their own.
        if !isLink, destinationName.withCName({ fchmodat(destination, $0, st.st_mode & 0o7777, 0) }) != 0 {
            throw RuntimeError(125, "cannot change the mode of \(path.shown): \(errorText())")
        }
        try Xattrs.copy(from: source, sourceName, to: destination, destinationName, shownAs: path)
        var times = [st.st_atim, st.st_mtim]
        guard destinationName.withCName({ utimensat(destination, $0, &times, AT_SYMLINK_NOFOLLOW) }) == 0 else {
            throw RuntimeError(125, "cannot set the times of \(path.shown): \(errorText())")
        }
    }
}

/// Extended attributes, through /proc/self/fd/DIR/NAME with the l* calls: that reaches any
/// kind of file (links, devices, fifos too) by descriptor, and never follows the last name.
enum Xattrs {
    /// overlayfs's own attributes (opaque, redirect, origin...) describe a layer, not its files.
    static let overlayPrefix = Array("trusted.overlay.".utf8)

    static func path(_ directory: Int32, _ name: [UInt8]) -> [UInt8] {
        Array("/proc/self/fd/\(directory)/".utf8) + name
    }

    static func copy(
        from source: Int32, _ sourceName: [UInt8], to destination: Int32, _ destinationName: [UInt8],
        shownAs shown: [UInt8]
    ) throws(RuntimeError) {
        let from = path(source, sourceName)
        let to = path(destination, destinationName)
        for name in try names(from, shownAs: shown) where !name.starts(with: overlayPrefix) {
            guard let value = try value(from, name, shownAs: shown) else { continue }
            let r = to.withCName { cPath in
                name.withCName { cName in
                    value.withUnsafeBytes { LinuxCalls.lsetxattr(cPath, cName, $0.baseAddress, $0.count, 0) }
                }
            }
            // A filesystem or a namespace that cannot hold the attribute: left out, as Docker's
            // own copy of image content does.
            if r != 0 && errno != ENOTSUP && errno != EPERM {
                throw RuntimeError(125, "cannot set the attribute \(name.shown) of \(shown.shown): \(errorText())")
            }
        }
    }

    static func names(_ path: [UInt8], shownAs shown: [UInt8]) throws(RuntimeError) -> [[UInt8]] {
        while true {
            let size = path.withCName { LinuxCalls.llistxattr($0, nil, 0) }
            if size < 0 && errno == ENOTSUP { return [] }
            guard size >= 0 else {
                throw RuntimeError(125, "cannot list the attributes of \(shown.shown): \(errorText())")
            }
            if size == 0 { return [] }
            var buffer = [UInt8](repeating: 0, count: size)
            let n = path.withCName { cPath in
                buffer.withUnsafeMutableBytes {
                    LinuxCalls.llistxattr(cPath, $0.baseAddress!.assumingMemoryBound(to: CChar.self), size)
                }
            }
            if n < 0 && errno == ERANGE { continue }  // it grew in between: ask again
            guard n >= 0 else {
                throw RuntimeError(125, "cannot list the attributes of \(shown.shown): \(errorText())")
            }
            return buffer[..<n].split(separator: 0).map(Array.init)
        }
    }

    /// The value of one attribute, or nil if it went away meanwhile.
    static func value(_ path: [UInt8], _ name: [UInt8], shownAs shown: [UInt8]) throws(RuntimeError) -> [UInt8]? {
        while true {
            let size = path.withCName { cPath in name.withCName { LinuxCalls.lgetxattr(cPath, $0, nil, 0) } }
            if size < 0 && errno == ENODATA { return nil }
            guard size >= 0 else {
                throw RuntimeError(125, "cannot read the attribute \(name.shown) of \(shown.shown): \(errorText())")
            }
            var buffer = [UInt8](repeating: 0, count: size)
            let n = path.withCName { cPath in
                name.withCName { cName in
                    buffer.withUnsafeMutableBytes { LinuxCalls.lgetxattr(cPath, cName, $0.baseAddress, size) }
                }
            }
            if n < 0 && errno == ERANGE { continue }
            if n < 0 && errno == ENODATA { return nil }
            guard n >= 0 else {
                throw RuntimeError(125, "cannot read the attribute \(name.shown) of \(shown.shown): \(errorText())")
            }
            return Array(buffer[..<n])
        }
    }
}
