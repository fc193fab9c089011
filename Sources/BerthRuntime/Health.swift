import BerthSpec
import BerthStore
import BerthSystemd
import Foundation

/// A container's health check as it runs: the spec's, else the image's HEALTHCHECK, resolved
/// at create into the argv to exec and durations in nanoseconds (kept in the record).
public struct HealthSettings: Codable, Sendable, Equatable {
    public var argv: [String]
    public var interval: UInt64
    public var timeout: UInt64
    public var retries: Int
    public var startPeriod: UInt64
    public var startInterval: UInt64
    /// none, kill, restart or stop, as Podman's --health-on-failure.
    public var onFailure: String

    public init(
        argv: [String], interval: UInt64, timeout: UInt64, retries: Int, startPeriod: UInt64,
        startInterval: UInt64, onFailure: String
    ) {
        self.argv = argv
        self.interval = interval
        self.timeout = timeout
        self.retries = retries
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.onFailure = onFailure
    }

    /// The spec's check wins; `disable` or `["NONE"]` (in the spec or the image) turns it off.
    /// Docker's defaults: 30 s interval and timeout, 3 retries, no start period, 5 s start interval.
    public static func resolve(spec: HealthCheck?, image: ImageConfig.HealthConfig?) -> HealthSettings? {
        if let spec {
            if spec.disable { return nil }
            let argv: [String]
            switch spec.test {
            case .some(.exec(let words)): argv = words
            case .some(.shell(let command)): argv = ["/bin/sh", "-c", command]
            case .some(.none): return nil
            case nil:
                guard let fromImage = imageArgv(image) else { return nil }
                argv = fromImage
            }
            return HealthSettings(
                argv: argv, interval: spec.interval.nanoseconds, timeout: spec.timeout.nanoseconds,
                retries: spec.retries, startPeriod: spec.startPeriod.nanoseconds,
                startInterval: spec.startInterval.nanoseconds, onFailure: spec.onFailure.rawValue)
        }
        guard let image, let argv = imageArgv(image) else { return nil }
        func or(_ value: Int64?, _ fallback: UInt64) -> UInt64 {
            value.map { $0 > 0 ? UInt64($0) : fallback } ?? fallback
        }
        return HealthSettings(
            argv: argv, interval: or(image.interval, 30_000_000_000), timeout: or(image.timeout, 30_000_000_000),
            retries: image.retries.map { $0 > 0 ? $0 : 3 } ?? 3, startPeriod: or(image.startPeriod, 0),
            startInterval: or(image.startInterval, 5_000_000_000), onFailure: "none")
    }

    private static func imageArgv(_ image: ImageConfig.HealthConfig?) -> [String]? {
        guard let test = image?.test, let kind = test.first else { return nil }
        switch kind {
        case "CMD" where test.count > 1: return Array(test.dropFirst())
        case "CMD-SHELL" where test.count == 2: return ["/bin/sh", "-c", test[1]]
        default: return nil
        }
    }
}

/// One probe, as Docker's `State.Health.Log` shows it.
public struct HealthProbe: Codable, Sendable, Equatable {
    /// RFC 3339 with nanoseconds.
    public var start: String
    public var end: String
    public var exitCode: Int32
    /// The last 4 KiB of its output (stdout and stderr together), as Docker keeps.
    public var output: String

    public init(start: String, end: String, exitCode: Int32, output: String) {
        self.start = start
        self.end = end
        self.exitCode = exitCode
        self.output = output
    }
}

/// A container's health, in `health/state.json` of its directory (a subdirectory, so writing it
/// does not wake berthd's watch on the directory): written by berthd after every probe.
public struct HealthState: Codable, Sendable, Equatable {
    public static let maximumLog = 5
    /// starting, healthy or unhealthy.
    public var status: String
    public var failingStreak: Int
    public var log: [HealthProbe]
    /// The start of the container's run this belongs to: a new run starts again at "starting".
    public var startedAt: UInt64

    public init(status: String = "starting", failingStreak: Int = 0, log: [HealthProbe] = [], startedAt: UInt64) {
        self.status = status
        self.failingStreak = failingStreak
        self.log = log
        self.startedAt = startedAt
    }

    /// The state after a probe, as Docker counts: a pass makes it healthy and resets the
    /// streak; a failure counts unless the start period still runs and no probe has passed
    /// yet; `retries` failures in a row make it unhealthy.
    public func after(_ probe: HealthProbe, retries: Int, inStartPeriod: Bool) -> HealthState {
        var next = self
        next.log = Array((log + [probe]).suffix(Self.maximumLog))
        if probe.exitCode == 0 {
            next.status = "healthy"
            next.failingStreak = 0
        } else if !(inStartPeriod && status == "starting") {
            next.failingStreak += 1
            if next.failingStreak >= max(1, retries) { next.status = "unhealthy" }
        }
        return next
    }

    public func write(_ layout: ContainerLayout) throws {
        try FileManager.default.createDirectory(atPath: layout.healthDirectory, withIntermediateDirectories: true)
        try JSONEncoder().encode(self).write(to: URL(fileURLWithPath: layout.healthFile), options: .atomic)
    }
}

extension Runtime {
    /// A changed check, applied to the running container: it is only berthd's to probe, so
    /// the record is all there is to change (no restart, as with Docker's recreate).
    public static func setHealthcheck(_ info: ContainerInfo, _ settings: HealthSettings?) throws(RuntimeError) {
        var record = info.record
        record.healthcheck = settings
        try record.write(to: info.layout)
    }
}

extension ContainerLayout {
    public var healthDirectory: String { directory + "/health" }
    public var healthFile: String { healthDirectory + "/state.json" }
}

extension ContainerInfo {
    /// The health of the container's current run; nil without a check or before berthd has
    /// looked at this run. A run berthd has not probed yet is "starting".
    public var health: HealthState? {
        guard record.healthcheck != nil, let state, state.status == "running" || state.status == "exited" else {
            return nil
        }
        if let data = FileManager.default.contents(atPath: layout.healthFile),
            let health = try? JSONDecoder().decode(HealthState.self, from: data), health.startedAt == state.startedAt
        {
            return health
        }
        return isRunning ? HealthState(startedAt: state.startedAt) : nil
    }
}
