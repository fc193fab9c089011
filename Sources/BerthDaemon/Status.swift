import BerthReconciler
import BerthRuntime
import BerthSpec
import Foundation

/// One line of `berth status`: a spec (or a container of berthd's whose spec is gone) and what
/// became of it.
public struct StatusRow: Codable, Sendable, Equatable {
    public var name: String
    /// The spec file, or nil for a container whose spec was removed.
    public var file: String?
    /// running, restarting, exited, stopped, created, missing, invalid, conflict, failed
    public var state: String
    public var id: String?
    /// When its current run began (nanoseconds since the epoch); nil when it is not running.
    public var startedAt: UInt64?
    public var restarts: Int
    public var exitCode: Int32?
    public var lastError: String?
    /// starting, healthy or unhealthy, for a running container with a health check.
    public var health: String?

    public init(
        name: String, file: String?, state: String, id: String? = nil, startedAt: UInt64? = nil, restarts: Int = 0,
        exitCode: Int32? = nil, lastError: String? = nil, health: String? = nil
    ) {
        self.health = health
        self.name = name
        self.file = file
        self.state = state
        self.id = id
        self.startedAt = startedAt
        self.restarts = restarts
        self.exitCode = exitCode
        self.lastError = lastError
    }
}

/// What berthd remembers of a name beside the files: its restarts and its last error.
public struct NameMemory: Sendable, Equatable {
    public var restarts = 0
    public var lastError: String?
    /// A restart waits for this (wall clock, ns); nil when none is due.
    public var restartAt: UInt64?
    /// Why it is not created or started yet (its dependencies).
    public var waitingFor: String?
    public init() {}
}

public enum StatusReport {
    /// Every spec, valid or not, and every container of berthd's, sorted by name.
    public static func rows(specs: SpecSet, containers: [ContainerInfo], memory: [String: NameMemory]) -> [StatusRow] {
        var byName: [String: ContainerInfo] = [:]
        for info in containers where byName[info.record.name] == nil { byName[info.record.name] = info }
        var rows: [String: StatusRow] = [:]
        for loaded in specs.specs where rows[loaded.spec.name] == nil {
            rows[loaded.spec.name] = row(loaded.spec.name, file: loaded.file.path, byName[loaded.spec.name], memory)
        }
        let errors = diagnosticsByStem(specs)
        for file in specs.files where !specs.specs.contains(where: { $0.file.path == file.path }) {
            var r = row(file.stem, file: file.path, byName[file.stem], memory)
            // The container, if any, keeps its last good spec; the error says why nothing changes.
            if byName[file.stem] == nil || byName[file.stem]?.record.owner == ObservedContainer.berthdOwner {
                if byName[file.stem] == nil { r.state = "invalid" }
                r.lastError = errors[file.stem]?.first ?? "the spec is invalid"
            }
            rows[file.stem] = r
        }
        for info in containers where info.record.owner == ObservedContainer.berthdOwner && rows[info.record.name] == nil
        {
            rows[info.record.name] = row(info.record.name, file: nil, info, memory)
        }
        return rows.keys.sorted().map { rows[$0]! }
    }

    private static func row(_ name: String, file: String?, _ info: ContainerInfo?, _ memory: [String: NameMemory])
        -> StatusRow
    {
        let m = memory[name] ?? NameMemory()
        guard let info else {
            return StatusRow(
                name: name, file: file, state: m.waitingFor == nil ? "missing" : "waiting",
                lastError: m.lastError ?? m.waitingFor)
        }
        if info.record.owner != ObservedContainer.berthdOwner {
            return StatusRow(
                name: name, file: file, state: "conflict", id: String(info.record.id.prefix(12)),
                lastError: "the name is taken by container \(info.record.id.prefix(12)) (owner \(info.record.owner))")
        }
        let state: String
        if info.isRunning {
            state = "running"
        } else if let waiting = m.waitingFor, !(info.state?.stopSignal ?? 0 != 0) {
            return StatusRow(
                name: name, file: file, state: "waiting", id: String(info.record.id.prefix(12)),
                restarts: m.restarts, lastError: m.lastError ?? waiting)
        } else if m.restartAt != nil {
            state = "restarting"
        } else if (info.state?.stopSignal ?? 0) != 0 {
            state = "stopped"
        } else {
            state = info.state?.status ?? "created"
        }
        let exit = info.state?.status == "exited" ? info.state?.exitCode : nil
        return StatusRow(
            name: name, file: file, state: state, id: String(info.record.id.prefix(12)),
            startedAt: info.isRunning ? info.state?.startedAt : nil, restarts: m.restarts, exitCode: exit,
            lastError: m.lastError ?? info.state?.error, health: info.isRunning ? info.health?.status : nil)
    }

    /// Each spec's problems, by the file stem they belong to.
    public static func diagnosticsByStem(_ specs: SpecSet) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for d in specs.diagnostics where d.severity == .error {
            guard
                let file = specs.files.first(where: {
                    $0.path == d.location.file || $0.dropIns.contains(d.location.file)
                })
            else { continue }
            out[file.stem, default: []].append(d.description)
        }
        return out
    }

    /// The one-line summary for systemd's STATUS= ("3 running, 1 restarting, 1 invalid spec").
    public static func summary(_ rows: [StatusRow]) -> String {
        var counts: [String: Int] = [:]
        for row in rows {
            counts[row.state, default: 0] += 1
            if row.health == "unhealthy" { counts["unhealthy", default: 0] += 1 }
        }
        let order = [
            "running", "unhealthy", "restarting", "waiting", "created", "exited", "stopped", "missing", "failed",
            "invalid",
            "conflict",
        ]
        let parts = order.compactMap { state -> String? in
            guard let n = counts[state], n > 0 else { return nil }
            switch state {
            case "invalid": return "\(n) invalid spec" + (n == 1 ? "" : "s")
            case "conflict": return "\(n) conflict" + (n == 1 ? "" : "s")
            default: return "\(n) \(state)"
            }
        }
        return parts.isEmpty ? "no specs" : parts.joined(separator: ", ")
    }
}
