import CLinux
import Foundation

/// A fixed number of threads taking work in order: berthd's actions run here, several at once,
/// so one slow pull never holds up another container. Threads of its own, not Dispatch's pool,
/// which would grow a thread for each action blocked on a pull or a stop.
final class WorkerPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []

    init(threads: Int) {
        for index in 0..<max(1, threads) {
            let thread = Thread { [self] in loop() }
            thread.name = "berthd-worker-\(index)"
            thread.start()
        }
    }

    func submit(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        queue.append(work)
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty { condition.wait() }
            let work = queue.removeFirst()
            condition.unlock()
            work()
        }
    }
}

/// Work finished on the pool, handed to the main loop, which a byte on a pipe wakes.
final class Mailbox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [T] = []
    /// The end to poll.
    let fd: Int32
    private let writeEnd: Int32

    init() throws {
        var ends: [Int32] = [0, 0]
        guard clinux_pipe(&ends) == 0 else {
            throw ControlError("pipe: \(String(cString: strerror(errno)))")
        }
        fd = ends[0]
        writeEnd = ends[1]
    }

    func post(_ item: T) {
        lock.lock()
        items.append(item)
        lock.unlock()
        var one: UInt8 = 1
        _ = write(writeEnd, &one, 1)  // a full pipe is wake-up enough
    }

    func take() -> [T] {
        var drain = [UInt8](repeating: 0, count: 512)
        while read(fd, &drain, drain.count) > 0 {}
        lock.lock()
        defer { lock.unlock() }
        let out = items
        items = []
        return out
    }
}
