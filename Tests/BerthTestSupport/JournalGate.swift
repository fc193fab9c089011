#if canImport(Glibc)
    import Glibc
#endif

/// A reader/writer lock over pthread_rwlock, for synchronous code: a lock is taken and released
/// on the same thread (pthread_rwlock requires it), so hold it only around code that does not
/// suspend. glibc's default kind prefers readers: a writer waits until no reader holds the lock,
/// and a waiting writer does not hold new readers back.
public final class ReadWriteLock: @unchecked Sendable {
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    public init() {
        lock = .allocate(capacity: 1)
        let r = pthread_rwlock_init(lock, nil)
        precondition(r == 0, "pthread_rwlock_init: \(r)")
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Takes the lock shared; blocks while a writer holds it.
    public func lockShared() {
        let r = pthread_rwlock_rdlock(lock)
        precondition(r == 0, "pthread_rwlock_rdlock: \(r)")
    }

    /// Takes the lock exclusive; blocks while anyone holds it. Not reentrant.
    public func lockExclusive() {
        let r = pthread_rwlock_wrlock(lock)
        precondition(r == 0, "pthread_rwlock_wrlock: \(r)")
    }

    /// Releases the lock taken by this thread, shared or exclusive.
    public func unlock() {
        let r = pthread_rwlock_unlock(lock)
        precondition(r == 0, "pthread_rwlock_unlock: \(r)")
    }

    /// Whether the lock could be taken shared at once (then it is held, and must be unlocked).
    public func tryLockShared() -> Bool { pthread_rwlock_tryrdlock(lock) == 0 }

    /// Whether the lock could be taken exclusive at once (then it is held, and must be unlocked).
    public func tryLockExclusive() -> Bool { pthread_rwlock_trywrlock(lock) == 0 }

    public func shared<T>(_ body: () throws -> T) rethrows -> T {
        lockShared()
        defer { unlock() }
        return try body()
    }

    public func exclusive<T>(_ body: () throws -> T) rethrows -> T {
        lockExclusive()
        defer { unlock() }
        return try body()
    }
}

/// One gate for every test in the process (all test targets run in one `swift test` process)
/// that depends on how journald is configured. The sandbox's journald keeps every line; a test
/// that changes that (JournalRateLimitTests: journald's default rate limit, and two restarts of
/// journald) takes the gate exclusive, and every test that counts or reads back journal lines
/// takes it shared for its whole body, from before its lines are written until they are read:
///
///     try JournalGate.shared { ... }
///
/// or, to leave an existing body as it is, first thing in it:
///
///     JournalGate.lockShared()
///     defer { JournalGate.unlockShared() }
///
/// Synchronous code only (see ReadWriteLock). Shared holders do not exclude each other, so the
/// tests that read keep running in parallel; they wait only while the exclusive one holds it.
public enum JournalGate {
    public static let lock = ReadWriteLock()

    public static func shared<T>(_ body: () throws -> T) rethrows -> T { try lock.shared(body) }

    public static func exclusive<T>(_ body: () throws -> T) rethrows -> T { try lock.exclusive(body) }

    public static func lockShared() { lock.lockShared() }

    public static func unlockShared() { lock.unlock() }
}
