import BerthSpec

/// A plan as `berth diff` prints it, one line per container that would change, like
/// `terraform plan`: `+` create, `~` update in place, `-/+` recreate, `-` remove, `>` start,
/// `!` a conflict, `=` kept as it is (with why), then a summary line.
public enum PlanText {
    public static func render(_ actions: [Action]) -> String {
        var lines: [String] = []
        var counts: [String: Int] = [:]
        for action in actions {
            guard let (kind, line) = describe(action) else { continue }
            lines.append(line)
            counts[kind, default: 0] += 1
        }
        let order = ["create", "update", "recreate", "start", "stop", "remove", "conflict", "keep"]
        let summary = order.compactMap { kind in counts[kind].map { "\($0) to \(kind)" } }
        let total = actions.count - lines.count
        lines.append(
            summary.isEmpty
                ? "No changes: \(total) container\(total == 1 ? "" : "s") as \(total == 1 ? "its spec says" : "their specs say")."
                : "Plan: " + summary.joined(separator: ", ") + (total > 0 ? ", \(total) unchanged." : "."))
        return lines.joined(separator: "\n") + "\n"
    }

    static func describe(_ action: Action) -> (String, String)? {
        switch action {
        case .create(let spec):
            return ("create", "+ \(spec.name)" + (spec.image.map { " (\($0))" } ?? ""))
        case .recreate(let spec, let reasons):
            return ("recreate", "-/+ \(spec.name): " + reasons.joined(separator: ", "))
        case .updateInPlace(let name, let ports, let volumes, let resources):
            var parts: [String] = []
            if let ports {
                parts.append("ports \(list(ports.from.map(\.description))) -> \(list(ports.to.map(\.description)))")
            }
            if let volumes {
                if !volumes.added.isEmpty { parts.append("volumes + \(list(volumes.added.map(volume)))") }
                if !volumes.removed.isEmpty { parts.append("volumes - \(list(volumes.removed.map(volume)))") }
            }
            if let resources { parts.append("resources \(limits(resources.from)) -> \(limits(resources.to))") }
            return ("update", "~ \(name): " + parts.joined(separator: "; ") + " (no restart)")
        case .start(let name): return ("start", "> \(name): start")
        case .stop(let name): return ("stop", "- \(name): stop")
        case .remove(let name, let id): return ("remove", "- \(name) (\(id.prefix(12))): its spec is gone")
        case .conflict(let name, let detail): return ("conflict", "! \(name): \(detail)")
        case .keep(let name, let reason): return ("keep", "= \(name): \(reason)")
        case .noAction: return nil
        }
    }

    static func list(_ items: [String]) -> String { items.isEmpty ? "none" : items.joined(separator: ", ") }

    static func volume(_ v: VolumeMount) -> String {
        let source: String
        switch v.source {
        case .bind(let path): source = path
        case .volume(let name): source = name
        }
        return "\(source):\(v.target)" + (v.readonly ? ":ro" : "")
    }

    static func limits(_ r: Resources) -> String {
        var parts: [String] = []
        if let memory = r.memory { parts.append("memory \(memory)") }
        if let cpus = r.cpus { parts.append("cpus \(cpus)") }
        if let pids = r.pids { parts.append("pids \(pids)") }
        return parts.isEmpty ? "unlimited" : parts.joined(separator: " ")
    }
}
