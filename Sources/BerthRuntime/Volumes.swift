import BerthSpec

#if canImport(Glibc)
    import Glibc
#endif

/// Named volumes: ROOT/volumes/NAME (see VolumeLayout), created on first use and, while empty,
/// filled with what the image has at the mount target, as Docker does.
public enum Volumes {
    /// The named volumes a spec mounts, in order, without repeats.
    public static func names(in spec: ContainerSpec) -> [String] {
        var seen: Set<String> = []
        return spec.volumes.compactMap {
            guard case .volume(let name) = $0.source, seen.insert(name).inserted else { return nil }
            return name
        }
    }

    /// Creates each named volume the spec mounts that does not exist yet, and fills each one
    /// that is empty from the image (`lowerDirs`: its read-only layers, topmost first) at the
    /// first of its mount targets that has something there. A volume that holds anything is
    /// never touched.
    static func prepare(root: String, spec: ContainerSpec, lowerDirs: [String]) throws(RuntimeError) {
        let names = names(in: spec)
        guard !names.isEmpty else { return }
        try VolumeUsers.claim(root: root, container: spec.name, volumes: names)
        let store = VolumeStore(root: root)
        var image: MergedLayers?
        for mount in spec.volumes {
            guard case .volume(let name) = mount.source else { continue }
            do throws(RuntimeError) {
                let lock = try lock(name, in: store)
                try VolumeFill.recover(lock)
                try restoreRecord(name, in: store, lock)
                guard let data = OpenFile.directory(lock.directory.raw, VolumeLayout.dataName),
                    try DirectoryTree.isEmpty(data.raw)
                else { continue }
                if image == nil { image = try MergedLayers(lowerDirs: lowerDirs) }
                guard let layers = image, let source = try layers.directory(at: Array(mount.target.utf8)) else {
                    continue
                }
                try VolumeFill.fill(lock, from: source, in: layers)
            } catch {
                throw RuntimeError(125, "volume \(name): \(error.description)")
            }
        }
    }

    /// The volume's lock, the volume created first if needed (or again, if it was removed
    /// while we waited for the lock).
    private static func lock(_ name: String, in store: VolumeStore) throws(RuntimeError) -> VolumeLock {
        for _ in 0..<10 {
            if let lock = try VolumeLock.acquire(store.layout(name)) { return lock }
            try store.create(name)
        }
        throw RuntimeError(125, "it keeps being removed while being prepared")
    }

    /// A volume from before records were kept gets its record (and a `_data` if it lacks one).
    private static func restoreRecord(_ name: String, in store: VolumeStore, _ lock: VolumeLock) throws(RuntimeError) {
        let layout = store.layout(name)
        if mkdirat(lock.directory.raw, "_data", 0o755) != 0 && errno != EEXIST {
            throw RuntimeError(125, "cannot create \(layout.data): \(errorText())")
        }
        if faccessat(lock.directory.raw, VolumeLayout.recordName, F_OK, AT_SYMLINK_NOFOLLOW) != 0,
            let record = store.record(name)
        {
            try Files.write(layout.recordFile, record.bytes)
        }
    }
}
