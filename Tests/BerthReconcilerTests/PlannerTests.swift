import Testing

@testable import BerthReconciler
@testable import BerthSpec

@Suite struct FieldClassificationTests {
    /// Each field that only a new container applies, with the reason the plan gives.
    static let recreateFields: [Mutation] = [
        Mutation("image changed") { $0.image = try? ImageReference(parsing: "docker.io/library/alpine:3") },
        Mutation("entrypoint changed") { $0.entrypoint = [] },
        Mutation("command changed") { $0.command = ["sleep", "1"] },
        Mutation("env changed") { $0.env["A"] = "1" },
        Mutation("envFile changed") { $0.envFile = ["/etc/web.env"] },
        Mutation("workdir changed") { $0.workdir = "/srv" },
        Mutation("user changed") { $0.user = "1000:1000" },
        Mutation("groupAdd changed") { $0.groupAdd = ["audio"] },
        Mutation("hostname changed") { $0.hostname = "other" },
        Mutation("init changed") { $0.useInit = true },
        Mutation("tty changed") { $0.tty = true },
        Mutation("tmpfs changed") { $0.tmpfs = [TmpfsMount(target: "/tmp", size: 1 << 20, mode: nil)] },
        Mutation("network changed") { $0.network = .host },
        Mutation("sysctls changed") { $0.sysctls["net.ipv4.ip_forward"] = "1" },
        Mutation("security changed") { $0.security.readonlyRootfs = true },
        Mutation("security changed") { $0.security.capAdd = ["NET_ADMIN"] },
        Mutation("security changed") { $0.security.capDrop = ["ALL"] },
        Mutation("security changed") { $0.security.seccomp = .unconfined },
        Mutation("security changed") { $0.security.noNewPrivileges = true },
        Mutation("stopSignal changed") { $0.stopSignal = Signal(number: 2) },
        Mutation("stopTimeout changed") { $0.stopTimeout = .seconds(30) },
        Mutation("resources.shmSize changed") { $0.resources.shmSize = 1 << 30 },
        Mutation("resources.ulimits changed") { $0.resources.ulimits["nofile"] = Ulimit(soft: 1024, hard: 4096) },
    ]

    @Test(arguments: recreateFields)
    func recreateField(_ mutation: Mutation) {
        let desired = mutation.applied(to: spec())
        #expect(planOne(desired, owned(spec())) == .recreate(desired, reasons: [mutation.label]))
    }

    /// Fields berthd reads from the current spec when it needs them: a change does nothing.
    static let nothingFields: [Mutation] = [
        Mutation("restart") { $0.restart = RestartPolicy(policy: .no) },
        Mutation("labels") { $0.labels["tier"] = "front" },
        Mutation("healthcheck") { $0.healthcheck = HealthCheck(test: .shell("true")) },
        Mutation("dependsOn") { $0.dependsOn = [Dependency(name: "db")] },
        Mutation("build") { $0.build = BuildSpec(context: "/src") },
        Mutation("pull") { $0.pull = .always },
    ]

    @Test(arguments: nothingFields)
    func nothingField(_ mutation: Mutation) {
        let desired = mutation.applied(to: spec())
        #expect(desired != spec())
        #expect(planOne(desired, owned(spec())) == .noAction(name: "web"))
    }

    @Test func imageDigestChanged() {
        let s = spec()
        let actions = Planner.plan(
            desired: [s], invalid: [], observed: [owned(s, digest: "sha256:old")],
            imageDigests: [s.image!.description: "sha256:new"], options: PlanOptions())
        #expect(actions == [.recreate(s, reasons: ["image digest changed (sha256:old -> sha256:new)"])])
    }

    @Test func unknownDigestIsNoChange() {
        let s = spec()
        let actions = Planner.plan(
            desired: [s], invalid: [], observed: [owned(s, digest: "sha256:old")], imageDigests: [:],
            options: PlanOptions())
        #expect(actions == [.noAction(name: "web")])
    }

    @Test func severalReasonsInFieldOrder() {
        var desired = spec()
        desired.command = ["true"]
        desired.env = ["A": "1"]
        desired.ports = [PortMapping(hostPort: 8080, containerPort: 80)]
        #expect(planOne(desired, owned(spec())) == .recreate(desired, reasons: ["command changed", "env changed"]))
    }

    /// The table names every stored property of ContainerSpec and Resources exactly once.
    @Test func tableCoversEveryField() {
        let specProperties = Mirror(reflecting: ContainerSpec(name: "x")).children.compactMap(\.label)
        let table = SpecField.all.map(\.property)
        #expect(Set(table).count == table.count)
        #expect(Set(table) == Set(specProperties))
        let resourceProperties = Mirror(reflecting: Resources()).children.compactMap(\.label)
        let resourceTable = ResourceField.all.map(\.property)
        #expect(Set(resourceTable).count == resourceTable.count)
        #expect(Set(resourceTable) == Set(resourceProperties))
    }
}

@Suite struct InPlaceTests {
    let base: ContainerSpec = {
        var s = spec()
        s.ports = [PortMapping(hostPort: 8080, containerPort: 80)]
        s.volumes = [VolumeMount(source: .volume("data"), target: "/data")]
        s.resources.memory = 256 << 20
        return s
    }()

    @Test func portsOnly() {
        var desired = base
        desired.ports = [
            PortMapping(hostPort: 8081, containerPort: 80), PortMapping(hostPort: 53, containerPort: 53, proto: .udp),
        ]
        #expect(
            planOne(desired, owned(base))
                == .updateInPlace(
                    name: "web", ports: PortChange(from: base.ports, to: desired.ports), volumes: nil, resources: nil))
    }

    @Test func portsReorderedIsNoChange() {
        var before = base
        before.ports = [PortMapping(hostPort: 1, containerPort: 1), PortMapping(hostPort: 2, containerPort: 2)]
        var desired = before
        desired.ports.reverse()
        #expect(planOne(desired, owned(before)) == .noAction(name: "web"))
    }

    @Test func volumesOnly() {
        var desired = base
        let logs = VolumeMount(source: .bind("/var/log/web"), target: "/logs", readonly: true)
        desired.volumes = [logs]
        #expect(
            planOne(desired, owned(base))
                == .updateInPlace(
                    name: "web", ports: nil, volumes: VolumeChange(added: [logs], removed: base.volumes), resources: nil
                ))
    }

    @Test func volumesReorderedRecreates() {
        var before = base
        before.volumes = [
            VolumeMount(source: .volume("a"), target: "/data"), VolumeMount(source: .volume("b"), target: "/data/sub"),
        ]
        var desired = before
        desired.volumes.reverse()
        #expect(planOne(desired, owned(before)) == .recreate(desired, reasons: ["volumes reordered"]))
    }

    @Test func resourcesOnly() {
        var desired = base
        desired.resources.memory = 512 << 20
        desired.resources.cpus = 1.5
        desired.resources.pids = 100
        #expect(
            planOne(desired, owned(base))
                == .updateInPlace(
                    name: "web", ports: nil, volumes: nil,
                    resources: ResourceChange(from: base.resources, to: desired.resources)))
    }

    @Test func portsAndVolumes() {
        var desired = base
        desired.ports = []
        let extra = VolumeMount(source: .volume("cache"), target: "/cache")
        desired.volumes.append(extra)
        #expect(
            planOne(desired, owned(base))
                == .updateInPlace(
                    name: "web", ports: PortChange(from: base.ports, to: []),
                    volumes: VolumeChange(added: [extra], removed: []), resources: nil))
    }

    @Test func inPlaceWithRecreateFieldRecreates() {
        var desired = base
        desired.ports = []
        desired.resources.memory = nil
        desired.user = "nobody"
        #expect(planOne(desired, owned(base)) == .recreate(desired, reasons: ["user changed"]))
    }

    @Test func stoppedContainerIsUpdatedToo() {
        var desired = base
        desired.resources.pids = 10
        let action = planOne(desired, owned(base, running: false, exitCode: 1))
        guard case .updateInPlace(_, nil, nil, .some) = action else {
            Issue.record("expected a resource update, got \(String(describing: action))")
            return
        }
    }
}

@Suite struct StateTests {
    @Test func missingIsCreated() {
        #expect(planOne(spec(), nil) == .create(spec()))
    }

    @Test func runningUnchangedIsNothing() {
        #expect(planOne(spec(), owned(spec())) == .noAction(name: "web"))
    }

    @Test func stoppedByUserIsKept() {
        #expect(
            planOne(spec(), owned(spec(), running: false, stoppedByUser: true, exitCode: 143))
                == .keep(name: "web", reason: "stopped by the user"))
    }

    @Test func exitedIsStartedUnlessPolicyIsNo() {
        for policy in [RestartPolicy.Policy.always, .unlessStopped] {
            var s = spec()
            s.restart = RestartPolicy(policy: policy)
            #expect(planOne(s, owned(s, running: false, exitCode: 0)) == .start(name: "web"))
        }
        var no = spec()
        no.restart = RestartPolicy(policy: .no)
        #expect(planOne(no, owned(no, running: false, exitCode: 1)) == .noAction(name: "web"))
    }

    @Test func onFailureStartsOnlyAfterAFailure() {
        var s = spec()
        s.restart = RestartPolicy(policy: .onFailure)
        #expect(planOne(s, owned(s, running: false, exitCode: 0)) == .noAction(name: "web"))
        #expect(planOne(s, owned(s, running: false, exitCode: 2)) == .start(name: "web"))
    }

    @Test func neverStartedIsStartedWhateverThePolicy() {
        var s = spec()
        s.restart = RestartPolicy(policy: .no)
        #expect(planOne(s, owned(s, running: false, exitCode: nil)) == .start(name: "web"))
    }

    @Test func noRecordRecreates() {
        var c = owned(spec())
        c.applied = nil
        #expect(planOne(spec(), c) == .recreate(spec(), reasons: ["no record of the spec it was created from"]))
    }
}

@Suite struct OwnershipTests {
    @Test func invalidKeepsItsContainer() {
        let actions = Planner.plan(
            desired: [], invalid: ["web"], observed: [owned(spec())], imageDigests: [:], options: PlanOptions())
        #expect(actions == [.keep(name: "web", reason: "the spec is invalid; the container keeps its last good spec")])
    }

    @Test func invalidWinsOverADesiredSpecOfTheSameName() {
        var changed = spec()
        changed.command = ["true"]
        let actions = Planner.plan(
            desired: [changed], invalid: ["web"], observed: [owned(spec())], imageDigests: [:],
            options: PlanOptions(forceRecreate: .all))
        #expect(actions.map(\.name) == ["web"])
        guard case .keep = actions[0] else {
            Issue.record("expected keep, got \(actions)")
            return
        }
    }

    @Test func invalidWithoutContainerIsNothing() {
        let actions = Planner.plan(
            desired: [], invalid: ["web"], observed: [], imageDigests: [:], options: PlanOptions())
        #expect(actions == [.noAction(name: "web")])
    }

    @Test func invalidWithForeignContainerTouchesNothing() {
        let actions = Planner.plan(
            desired: [], invalid: ["web"], observed: [foreign("web")], imageDigests: [:], options: PlanOptions())
        #expect(actions == [.noAction(name: "web")])
    }

    @Test func undesiredBerthdContainerIsRemoved() {
        let old = owned(spec("old"), id: hexID("b"))
        let actions = Planner.plan(desired: [], invalid: [], observed: [old], imageDigests: [:], options: PlanOptions())
        #expect(actions == [.remove(name: "old", id: hexID("b"))])
    }

    @Test func foreignNameTakenIsAConflict() {
        let actions = Planner.plan(
            desired: [spec()], invalid: [], observed: [foreign("web", id: hexID("c"), owner: "cli")], imageDigests: [:],
            options: PlanOptions(forceRecreate: .all))
        #expect(actions.count == 1)
        guard case .conflict(let name, let detail) = actions.first else {
            Issue.record("expected a conflict, got \(actions)")
            return
        }
        #expect(name == "web")
        #expect(detail.contains(hexID("c")))
        #expect(detail.contains("\"cli\""))
    }

    @Test func foreignContainersAreNotInThePlan() {
        let actions = Planner.plan(
            desired: [spec("web")], invalid: [],
            observed: [owned(spec("web")), foreign("scratch"), foreign("tool", owner: "")],
            imageDigests: [:], options: PlanOptions())
        #expect(actions == [.noAction(name: "web")])
    }

    @Test func sortedOnePerName() {
        let actions = Planner.plan(
            desired: [spec("zeta"), spec("alpha"), spec("mid")], invalid: ["bad"],
            observed: [owned(spec("mid")), owned(spec("gone"), id: hexID("d")), foreign("other"), owned(spec("bad"))],
            imageDigests: [:], options: PlanOptions())
        #expect(
            actions == [
                .create(spec("alpha")),
                .keep(name: "bad", reason: "the spec is invalid; the container keeps its last good spec"),
                .remove(name: "gone", id: hexID("d")),
                .noAction(name: "mid"),
                .create(spec("zeta")),
            ])
    }
}

@Suite struct RecreateOptionTests {
    @Test func forceAllRecreatesUnchanged() {
        let actions = Planner.plan(
            desired: [spec("a"), spec("b")], invalid: [], observed: [owned(spec("a")), owned(spec("b"))],
            imageDigests: [:], options: PlanOptions(forceRecreate: .all))
        #expect(
            actions == [
                .recreate(spec("a"), reasons: ["recreate forced"]), .recreate(spec("b"), reasons: ["recreate forced"]),
            ])
    }

    @Test func forceNamedRecreatesOnlyThose() {
        let actions = Planner.plan(
            desired: [spec("a"), spec("b"), spec("c")], invalid: [], observed: [owned(spec("a")), owned(spec("b"))],
            imageDigests: [:], options: PlanOptions(forceRecreate: .only(["a", "c"])))
        #expect(
            actions == [.recreate(spec("a"), reasons: ["recreate forced"]), .noAction(name: "b"), .create(spec("c"))])
    }

    @Test func forceKeepsTheRealReasons() {
        var desired = spec()
        desired.tty = true
        #expect(
            planOne(desired, owned(spec()), options: PlanOptions(forceRecreate: .all))
                == .recreate(desired, reasons: ["tty changed"]))
    }

    @Test func noRecreateKeeps() {
        var desired = spec()
        desired.command = ["true"]
        desired.hostname = "h"
        #expect(
            planOne(desired, owned(spec()), options: PlanOptions(noRecreate: true))
                == .keep(name: "web", reason: "would recreate: command changed, hostname changed"))
    }

    @Test func noRecreateStillUpdatesInPlace() {
        var desired = spec()
        desired.ports = [PortMapping(hostPort: 80, containerPort: 80)]
        #expect(
            planOne(desired, owned(spec()), options: PlanOptions(noRecreate: true))
                == .updateInPlace(
                    name: "web", ports: PortChange(from: [], to: desired.ports), volumes: nil, resources: nil))
    }

    @Test func forceWinsOverNoRecreateForItsNames() {
        #expect(
            planOne(spec(), owned(spec()), options: PlanOptions(forceRecreate: .only(["web"]), noRecreate: true))
                == .recreate(spec(), reasons: ["recreate forced"]))
    }
}
