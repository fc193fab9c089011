/// Checks that need every spec at once: unique names, no two specs publishing the same host
/// port, dependencies that exist and do not form a cycle. Each conflict names both files.
public enum SpecChecks {
    public static func acrossSpecs(_ specs: [LoadedSpec], declaredNames: Set<String>) -> [Diagnostic] {
        var diagnostics: [Diagnostic] = []
        let ordered = specs.sorted { $0.file.path < $1.file.path }

        let byName = Dictionary(grouping: ordered, by: \.spec.name)
        for (name, group) in byName where group.count > 1 {
            for spec in group {
                let others = group.filter { $0.file.path != spec.file.path }.map { "\($0.origins.name.location)" }
                diagnostics.append(
                    Diagnostic(
                        at: spec.origins.name.location, path: spec.origins.name.path,
                        "the container name \(JSONPath.quoted(name)) is also declared by \(others.joined(separator: ", "))"
                    ))
            }
        }

        for (i, a) in ordered.enumerated() {
            for b in ordered[(i + 1)...] {
                for (pa, mapA) in a.spec.ports.enumerated() {
                    for (pb, mapB) in b.spec.ports.enumerated() where mapA.overlaps(mapB) {
                        let first = a.origins.ports[pa]
                        let second = b.origins.ports[pb]
                        diagnostics.append(
                            Diagnostic(
                                at: second.location, path: second.path,
                                "host port \(describe(mapB)) is already published by \(JSONPath.quoted(a.spec.name)) at \(first.location) (\(first.path)): \(describe(mapA))"
                            ))
                    }
                }
            }
        }

        for spec in ordered {
            for (k, dependency) in spec.spec.dependsOn.enumerated() where !declaredNames.contains(dependency.name) {
                let origin = spec.origins.dependsOn[k]
                var message = "depends on \(JSONPath.quoted(dependency.name)), but no spec declares it"
                if let near = Suggestion.nearest(to: dependency.name, in: Array(declaredNames)) {
                    message += "; did you mean \"\(near)\"?"
                }
                diagnostics.append(Diagnostic(at: origin.location, path: origin.path, message))
            }
        }
        diagnostics += cycles(ordered)
        return diagnostics
    }

    /// Each dependency cycle once, at the dependency that closes it.
    static func cycles(_ specs: [LoadedSpec]) -> [Diagnostic] { dependencyCycles(specs).map(\.diagnostic) }

    /// Each dependency cycle once: its members, and the error at the dependency that closes it,
    /// which names where each other member's dependency is.
    public static func dependencyCycles(_ specs: [LoadedSpec]) -> [(names: [String], diagnostic: Diagnostic)] {
        let byName = Dictionary(specs.map { ($0.spec.name, $0) }, uniquingKeysWith: { a, _ in a })
        var state: [String: Int] = [:]  // 1 visiting, 2 done
        var stack: [(name: String, via: Int)] = []
        var found: [(names: [String], diagnostic: Diagnostic)] = []
        func visit(_ name: String) {
            state[name] = 1
            let spec = byName[name]!
            for (k, dependency) in spec.spec.dependsOn.enumerated() where byName[dependency.name] != nil {
                stack.append((name, k))
                defer { stack.removeLast() }
                switch state[dependency.name] {
                case 1:
                    // Reported at the dependency that closes the cycle.
                    let start = stack.lastIndex { $0.name == dependency.name }!
                    let members = Array(stack[start...])
                    let names = members.map(\.name)
                    let elsewhere = members.dropLast().map { member in
                        "\(member.name) at \(byName[member.name]!.origins.dependsOn[member.via].location)"
                    }
                    let origin = spec.origins.dependsOn[k]
                    var message = "dependency cycle: \((names + [dependency.name]).joined(separator: " → "))"
                    if !elsewhere.isEmpty { message += " (\(elsewhere.joined(separator: ", ")))" }
                    found.append((names, Diagnostic(at: origin.location, path: origin.path, message)))
                case nil: visit(dependency.name)
                default: break
                }
            }
            state[name] = 2
        }
        for spec in specs where state[spec.spec.name] == nil { visit(spec.spec.name) }
        return found
    }

    static func describe(_ map: PortMapping) -> String {
        let address = map.address.map { $0.isIPv6 ? "[\($0)]:" : "\($0):" } ?? ""
        let ports = map.count == 1 ? "\(map.hostPort)" : "\(map.hostPorts.lowerBound)-\(map.hostPorts.upperBound)"
        return "\(address)\(ports)/\(map.proto.rawValue)"
    }
}
