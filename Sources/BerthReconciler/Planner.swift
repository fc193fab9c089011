import BerthSpec

/// Compares the valid specs with the containers found and says what to do, one action per name.
/// Pure: no files, no processes, so every rule is a unit test.
public enum Planner {
    /// - Parameters:
    ///   - invalid: names whose spec failed validation; their containers keep the last good spec.
    ///   - imageDigests: what each spec's image (`ImageReference.description`) resolves to now.
    /// - Returns: sorted by name; one action for each desired or invalid name and each container
    ///   berthd owns. Containers of other owners that no spec names are not mentioned.
    public static func plan(
        desired: [ContainerSpec], invalid: Set<String>, observed: [ObservedContainer],
        imageDigests: [String: String], options: PlanOptions = PlanOptions()
    ) -> [Action] {
        // Names are claimed atomically, so there is one container per name.
        var containers: [String: ObservedContainer] = [:]
        for container in observed where containers[container.name] == nil {
            containers[container.name] = container
        }
        var actions: [String: Action] = [:]
        for name in invalid {
            actions[name] = invalidAction(name, containers[name])
        }
        for spec in desired where actions[spec.name] == nil {
            actions[spec.name] = desiredAction(spec, containers[spec.name], imageDigests, options)
        }
        for container in containers.values where container.isBerthd && actions[container.name] == nil {
            actions[container.name] = .remove(name: container.name, id: container.id)
        }
        return actions.keys.sorted().map { actions[$0]! }
    }

    private static func invalidAction(_ name: String, _ container: ObservedContainer?) -> Action {
        guard let container, container.isBerthd else { return .noAction(name: name) }
        return .keep(name: name, reason: "the spec is invalid; the container keeps its last good spec")
    }

    private static func desiredAction(
        _ spec: ContainerSpec, _ container: ObservedContainer?, _ imageDigests: [String: String],
        _ options: PlanOptions
    ) -> Action {
        guard let container else { return .create(spec) }
        guard container.isBerthd else {
            return .conflict(
                name: spec.name,
                detail: "the name is taken by container \(container.id) (owner \"\(container.owner)\"), "
                    + "which berthd did not create and leaves alone")
        }
        var reasons: [String]
        var diff: SpecDiff?
        if let applied = container.applied {
            let d = SpecDiff(
                applied: applied, desired: spec, runningDigest: container.imageDigest,
                wantedDigest: spec.image.flatMap { imageDigests[$0.description] })
            reasons = d.recreateReasons
            diff = d
        } else {
            reasons = ["no record of the spec it was created from"]
        }
        if options.forceRecreate?.contains(spec.name) == true {
            return .recreate(spec, reasons: reasons.isEmpty ? ["recreate forced"] : reasons)
        }
        if !reasons.isEmpty {
            if options.noRecreate {
                return .keep(name: spec.name, reason: "would recreate: " + reasons.joined(separator: ", "))
            }
            return .recreate(spec, reasons: reasons)
        }
        // A stopped container is updated too; the next pass, with nothing left to change, starts it.
        if let diff, diff.hasInPlaceChange {
            return .updateInPlace(name: spec.name, ports: diff.ports, volumes: diff.volumes, resources: diff.resources)
        }
        return stateAction(spec, container)
    }

    /// The spec is unchanged: only whether it should be running is left.
    private static func stateAction(_ spec: ContainerSpec, _ container: ObservedContainer) -> Action {
        if container.running { return .noAction(name: spec.name) }
        if container.stoppedByUser { return .keep(name: spec.name, reason: "stopped by the user") }
        // Created but never started (berthd stopped between the two): what create means is not done.
        guard let exitCode = container.exitCode else { return .start(name: spec.name) }
        // Retry counts and back-off are the supervising loop's; here only whether the policy
        // restarts at all after this exit.
        let restarts = spec.restart.restarts(afterExit: exitCode, stoppedByUser: false, previousRestarts: 0)
        return restarts ? .start(name: spec.name) : .noAction(name: spec.name)
    }
}
