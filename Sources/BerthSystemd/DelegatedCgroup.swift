#if canImport(Glibc)
    import Glibc
#endif

/// Sub-cgroups in a unit's delegated subtree (Delegate=yes). The subtree is its owner's to manage:
/// systemd 252 moves processes into a sub-cgroup (AttachProcessesToUnit) but does not create
/// it, so berth makes the directory first, in every hierarchy systemd tracks processes in.
enum DelegatedCgroup {
    /// Where systemd's process-tracking hierarchies are mounted, by cgroup layout: the unified
    /// root (v2), the unified hierarchy of a hybrid host, and the named v1 hierarchy (hybrid and
    /// legacy). Only those holding the unit's cgroup are used. Other v1 controllers need
    /// nothing: systemd attaches there to the nearest existing parent, the unit's own cgroup.
    static let roots = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]

    /// A sub-cgroup path as AttachProcessesToUnit wants it ("/exec", "/a/b"), or nil when it
    /// would leave the subtree or is malformed.
    static func normalize(_ path: String) -> String? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains(where: { $0 == "." || $0 == ".." }) else { return nil }
        return "/" + parts.joined(separator: "/")
    }

    /// Creates `subcgroup` (normalized) and its parents below the unit's cgroup `controlGroup`.
    static func create(_ subcgroup: String, below controlGroup: String) -> Int32 {
        var created = false
        for root in roots {
            let base = root + controlGroup
            var isUnit = stat()
            guard stat(base, &isUnit) == 0, isUnit.st_mode & S_IFMT == S_IFDIR else { continue }
            var path = base
            for part in subcgroup.split(separator: "/") {
                path += "/" + part
                if mkdir(path, 0o755) != 0 && errno != EEXIST { return errno }
            }
            created = true
        }
        return created ? 0 : ENOENT
    }
}
