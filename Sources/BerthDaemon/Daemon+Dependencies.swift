import BerthReconciler
import BerthRuntime
import BerthSpec
import Foundation

/// Start order (`dependsOn`): a container is created or started only once each dependency
/// meets its condition (started, healthy, completed), and stopped or removed only after the
/// containers that depend on it. A cycle or a missing dependency blocks only its own specs.
extension Daemon {
    /// The specs that cannot start whatever happens, with the located error that says why: a
    /// dependency no spec declares, or a cycle (every member of it).
    func dependencyErrors() -> [String: String] {
        var errors: [String: String] = [:]
        for loaded in specs.specs {
            for (k, dependency) in loaded.spec.dependsOn.enumerated()
            where !specs.declaredNames.contains(dependency.name) {
                let origin = loaded.origins.dependsOn[k]
                let found = specs.diagnostics.first { $0.location == origin.location }
                errors[loaded.spec.name] =
                    found?.description
                    ?? "\(origin.location): \(origin.path): depends on \(dependency.name), which no spec declares"
            }
        }
        for cycle in SpecChecks.dependencyCycles(specs.specs) {
            for name in cycle.names where errors[name] == nil { errors[name] = cycle.diagnostic.description }
        }
        return errors
    }

    /// Why `spec` cannot be created or started yet; nil when every dependency is ready.
    func unmetDependency(_ spec: ContainerSpec, _ byName: [String: ContainerInfo], errors: [String: String])
        -> String?
    {
        if let error = errors[spec.name] { return error }
        for dependency in spec.dependsOn {
            let name = dependency.name
            guard let info = byName[name], info.record.owner == ObservedContainer.berthdOwner else {
                return "waiting for \(name) to be created"
            }
            switch dependency.condition {
            case .started:
                if !info.isRunning { return "waiting for \(name) to start" }
            case .healthy:
                guard info.record.healthcheck != nil else {
                    return "\(name) has no health check, so it never becomes healthy (its condition is healthy)"
                }
                let status = healthStates[name]?.status ?? info.health?.status
                if !info.isRunning || status != "healthy" { return "waiting for \(name) to be healthy" }
            case .completed:
                if info.isRunning || info.state?.status != "exited" {
                    return "waiting for \(name) to complete"
                } else if info.state?.exitCode != 0 {
                    return "\(name) exited with \(info.state?.exitCode ?? -1); its condition is completed (exit 0)"
                }
            }
        }
        return nil
    }

    /// The running containers that depend on `name` (by their spec, or by the spec they were
    /// made from when theirs is gone): a stop or a removal of `name` waits for them.
    func runningDependants(of name: String, _ infos: [ContainerInfo]) -> [String] {
        return infos.filter { info in
            guard info.isRunning, info.record.owner == ObservedContainer.berthdOwner, info.record.name != name else {
                return false
            }
            let spec = declared[info.record.name]?.spec ?? cachedApplied(info)
            return spec?.dependsOn.contains { $0.name == name } ?? false
        }.map(\.record.name)
    }

    /// `berth apply NAME`: NAME and everything it depends on, as `docker compose up NAME`.
    func withDependencies(_ names: Set<String>) -> Set<String> {
        var all = names
        var queue = Array(names)
        while let next = queue.popLast() {
            for dependency in declared[next]?.spec.dependsOn ?? [] where all.insert(dependency.name).inserted {
                queue.append(dependency.name)
            }
        }
        return all
    }
}
