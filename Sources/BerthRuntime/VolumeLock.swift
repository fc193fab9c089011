#if canImport(Glibc)
    import Glibc
#endif

/// A volume held exclusively: ROOT/volumes/NAME/lock, flock'd, released when this goes.
/// Creating, filling and removing a volume happen under it, so two containers starting at once
/// fill a volume once, and a volume is never removed under a fill.
final class VolumeLock {
    /// The volume's directory.
    let directory: OpenFile
    private let lock: OpenFile

    private init(directory: OpenFile, lock: OpenFile) {
        self.directory = directory
        self.lock = lock
    }

    /// Waits for the lock of the volume; nil when there is no such volume (or it was removed
    /// while we waited: a remover renames the directory away before it lets go).
    static func acquire(_ layout: VolumeLayout) throws(RuntimeError) -> VolumeLock? {
        while true {
            guard let directory = OpenFile.directory(path: layout.directory) else {
                if errno == ENOENT || errno == ENOTDIR { return nil }
                throw RuntimeError(125, "cannot open the volume \(layout.name): \(errorText())")
            }
            let fd = openat(directory.raw, VolumeLayout.lockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw RuntimeError(125, "cannot lock the volume \(layout.name): \(errorText())") }
            let lock = OpenFile(fd)
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else {
                    throw RuntimeError(125, "cannot lock the volume \(layout.name): \(errorText())")
                }
            }
            var held = stat()
            var current = stat()
            guard fstat(directory.raw, &held) == 0 else {
                throw RuntimeError(125, "cannot lock the volume \(layout.name): \(errorText())")
            }
            if stat(layout.directory, &current) == 0 && FileID(current) == FileID(held) {
                return VolumeLock(directory: directory, lock: lock)
            }
        }
    }

    /// Takes the lock of a directory only if nobody holds it (for leftovers of interrupted
    /// operations, which their owner may still be working on).
    static func tryAcquire(_ directory: OpenFile) -> VolumeLock? {
        let fd = openat(directory.raw, lockName, O_RDWR | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return VolumeLock(directory: directory, lock: OpenFile(fd))
    }

    private static let lockName = VolumeLayout.lockName
}
