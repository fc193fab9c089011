import BerthSpec

/// The delay before restarting a container that exited: 100 ms, doubled for each exit in a row,
/// at most 5 minutes; a run of 10 s or more counts as healthy and starts the sequence over.
public struct RestartBackoff: Sendable, Equatable {
    public static let initial: Duration = .milliseconds(100)
    public static let maximum: Duration = .seconds(300)
    public static let resetAfter: Duration = .seconds(10)

    /// Exits in a row so far, each followed by a restart.
    public private(set) var failures = 0

    public init() {}

    /// The delay before the next start, given how long the run that just ended lasted.
    public mutating func next(ranFor: Duration) -> Duration {
        if ranFor >= Self.resetAfter { failures = 0 }
        // 100 ms << 12 is past the cap already; the shift stays bounded however long it fails.
        let delay = Self.initial * (1 << min(failures, 12))
        failures += 1
        return min(delay, Self.maximum)
    }

    public mutating func reset() { failures = 0 }
}

extension RestartPolicy {
    /// Whether the policy starts the container again after it exited with `exitCode`, having
    /// been restarted `previousRestarts` times since it last ran long enough. A container stopped
    /// by the user is never restarted (until berthd itself starts again, decided elsewhere).
    public func restarts(afterExit exitCode: Int32, stoppedByUser: Bool, previousRestarts: Int) -> Bool {
        if stoppedByUser { return false }
        switch policy {
        case .no: return false
        case .always, .unlessStopped: return true
        case .onFailure:
            guard exitCode != 0 else { return false }
            guard let maxRetries else { return true }
            return previousRestarts < maxRetries
        }
    }
}
