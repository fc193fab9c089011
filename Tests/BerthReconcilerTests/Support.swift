import Testing

@testable import BerthReconciler
@testable import BerthSpec

func spec(_ name: String = "web", image: String = "docker.io/library/busybox:1.36") -> ContainerSpec {
    var s = ContainerSpec(name: name)
    s.image = try? ImageReference(parsing: image)
    s.command = ["sleep", "infinity"]
    s.restart = RestartPolicy(policy: .always)
    return s
}

func hexID(_ c: Character) -> String { String(repeating: c, count: 64) }

func owned(
    _ applied: ContainerSpec, id: String = hexID("a"), digest: String? = "sha256:old", running: Bool = true,
    stoppedByUser: Bool = false, exitCode: Int32? = nil
) -> ObservedContainer {
    ObservedContainer(
        name: applied.name, id: id, owner: "berthd", applied: applied, imageDigest: digest, running: running,
        stoppedByUser: stoppedByUser, exitCode: exitCode)
}

func foreign(_ name: String, id: String = hexID("f"), owner: String = "cli") -> ObservedContainer {
    ObservedContainer(name: name, id: id, owner: owner, applied: nil, running: true)
}

/// The plan for one desired spec against its container, with the digest unchanged.
func planOne(
    _ desired: ContainerSpec, _ container: ObservedContainer?, options: PlanOptions = PlanOptions()
) -> Action? {
    let digests = desired.image.map { [$0.description: container?.imageDigest ?? "sha256:old"] } ?? [:]
    let actions = Planner.plan(
        desired: [desired], invalid: [], observed: container.map { [$0] } ?? [], imageDigests: digests,
        options: options)
    return actions.count == 1 ? actions[0] : nil
}

/// One change to a spec, as a test argument.
struct Mutation: Sendable, CustomTestStringConvertible {
    let label: String
    let apply: @Sendable (inout ContainerSpec) -> Void
    init(_ label: String, _ apply: @escaping @Sendable (inout ContainerSpec) -> Void) {
        self.label = label
        self.apply = apply
    }
    var testDescription: String { label }

    func applied(to base: ContainerSpec) -> ContainerSpec {
        var s = base
        apply(&s)
        return s
    }
}
