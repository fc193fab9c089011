#if canImport(Glibc)
    import Glibc
#endif

/// The store-wide lock, ROOT/store.lock: every operation that adds to the store or uses what is
/// in it (pull, load, unpack, a container's start) holds it shared; garbage collection holds it
/// exclusive, so it never sweeps what another process is about to reference. Released when
/// dropped (or when the process dies: flock).
public final class StoreLock {
    private let fd: Int32

    public enum Mode: Sendable { case shared, exclusive }

    public init(root: String, _ mode: Mode) throws(StoreError) {
        try? Directories.create(root)
        let path = root + "/store.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError.system("cannot open", path) }
        var r: Int32
        repeat { r = flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) } while r < 0 && errno == EINTR
        guard r == 0 else {
            close(fd)
            throw StoreError.system("cannot lock", path)
        }
    }

    deinit { close(fd) }
}

/// `mkdir -p`, with the store's error.
enum Directories {
    static func create(_ path: String) throws(StoreError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, 0o755) != 0 && errno != EEXIST { throw StoreError.system("cannot create", partial) }
        }
    }
}
