import Foundation
import Testing

/// The gate for integration tests: they need root and a real systemd, and they must run inside
/// berth's own sandbox (scripts/sandbox sets BERTH_SANDBOX=1) so they never touch a user's real
/// units, even on a host whose PID 1 is systemd. Without those they skip with a one-line reason;
/// with BERTH_REQUIRE_INTEGRATION=1 (CI) they run anyway and fail on `Integration.check()`.
public enum Integration {
    /// Why integration tests cannot run here, or nil when they can.
    public static let unavailableReason: String? = {
        let env = ProcessInfo.processInfo.environment
        if env["BERTH_SANDBOX"] != "1" {
            return "not inside berth's test sandbox (run scripts/test, or scripts/sandbox run CMD)"
        }
        if geteuid() != 0 { return "needs root" }
        let comm = (try? String(contentsOfFile: "/proc/1/comm", encoding: .utf8)) ?? ""
        if comm.trimmingCharacters(in: .whitespacesAndNewlines) != "systemd" {
            return "PID 1 is not systemd"
        }
        if !FileManager.default.fileExists(atPath: "/run/systemd/system") {
            return "systemd has not booted (/run/systemd/system is missing)"
        }
        return nil
    }()

    /// BERTH_REQUIRE_INTEGRATION=1: an integration test that would skip fails instead.
    public static var required: Bool {
        ProcessInfo.processInfo.environment["BERTH_REQUIRE_INTEGRATION"] == "1"
    }

    /// Whether an integration test should run: when it can, or when it is required to (then it fails).
    public static var shouldRun: Bool { unavailableReason == nil || required }

    /// First line of every integration test: throws with the reason when the sandbox is missing.
    public static func check() throws {
        if let reason = unavailableReason { throw IntegrationUnavailable(reason: reason) }
    }
}

public struct IntegrationUnavailable: Error, CustomStringConvertible {
    public let reason: String
    public var description: String {
        "integration test required (BERTH_REQUIRE_INTEGRATION=1) but cannot run: \(reason)"
    }
}

extension Trait where Self == ConditionTrait {
    /// Marks an integration test: skipped with the reason when the sandbox is missing, unless required.
    public static var integration: Self {
        .enabled(
            if: Integration.shouldRun,
            Comment(rawValue: "integration test skipped: \(Integration.unavailableReason ?? "")"))
    }
}
