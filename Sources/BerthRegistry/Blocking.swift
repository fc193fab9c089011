import Dispatch

/// The result of async work, handed from the task that did it to the thread waiting for it.
private final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Runs async work from synchronous code (a CLI command, a berthd worker) and waits for it: the
/// caller's own thread blocks on a semaphore, never a thread of the cooperative pool.
public func blockOn<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do {
            box.result = .success(try await body())
        } catch {
            box.result = .failure(error)
        }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}
