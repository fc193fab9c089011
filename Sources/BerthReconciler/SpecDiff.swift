import BerthSpec

/// How a change of one spec field reaches a container that already exists.
enum FieldEffect: Sendable, Equatable {
    /// The key the container is matched by; never differs between the two sides.
    case identity
    /// Baked in at create or before exec: only a new container applies it.
    case recreate
    /// Applied to the running container (ports, volumes, cgroup limits).
    case inPlace
    /// berthd reads it from the current spec whenever it needs it; nothing in the container holds it.
    case nothing
}

/// One field of a spec, its effect and how to tell whether it changed.
struct SpecField {
    /// The Swift property, so a test can check the table against the type's stored properties.
    let property: String
    /// The name a person reads in a reason ("init changed").
    let key: String
    let effect: FieldEffect
    let differs: (ContainerSpec, ContainerSpec) -> Bool

    init<V: Equatable>(_ property: String, key: String? = nil, _ effect: FieldEffect, _ path: KeyPath<ContainerSpec, V>)
    {
        self.property = property
        self.key = key ?? property
        self.effect = effect
        self.differs = { $0[keyPath: path] != $1[keyPath: path] }
    }

    /// Every stored property of ContainerSpec, each classified once. `SpecFieldTableTests` fails
    /// when a property is missing here, so a new field cannot be forgotten.
    static var all: [SpecField] {
        [
            SpecField("name", .identity, \.name),
            SpecField("image", .recreate, \.image),
            // Compose leaves build and pull out of its config hash too: they only decide how the
            // image is got, and the image that results is compared by digest.
            SpecField("build", .nothing, \.build),
            SpecField("pull", .nothing, \.pull),
            SpecField("entrypoint", .recreate, \.entrypoint),
            SpecField("command", .recreate, \.command),
            SpecField("env", .recreate, \.env),
            // Only the paths can be compared here; the files' contents are read at create.
            SpecField("envFile", .recreate, \.envFile),
            SpecField("workdir", .recreate, \.workdir),
            SpecField("user", .recreate, \.user),
            SpecField("groupAdd", .recreate, \.groupAdd),
            SpecField("hostname", .recreate, \.hostname),
            SpecField("useInit", key: "init", .recreate, \.useInit),
            SpecField("tty", .recreate, \.tty),
            SpecField("ports", .inPlace, \.ports),
            SpecField("volumes", .inPlace, \.volumes),
            // Mounted by the supervisor before pivot_root; no live path exists as for volumes.
            SpecField("tmpfs", .recreate, \.tmpfs),
            SpecField("network", .recreate, \.network),
            // Split further by ResourceField.all.
            SpecField("resources", .inPlace, \.resources),
            // Written into the container's namespaces at setup, as Docker requires a recreate.
            SpecField("sysctls", .recreate, \.sysctls),
            // Consulted by berthd when the container exits; the container does not hold it.
            SpecField("restart", .nothing, \.restart),
            // berthd runs the checks (exec into the container) from the current spec.
            SpecField("healthcheck", .nothing, \.healthcheck),
            // Only orders starts.
            SpecField("dependsOn", .nothing, \.dependsOn),
            // Capabilities, seccomp, no_new_privs, a read-only root: all applied before exec.
            SpecField("security", .recreate, \.security),
            // The scope's KillSignal and the supervisor's SIGKILL timer are set at start.
            SpecField("stopSignal", .recreate, \.stopSignal),
            SpecField("stopTimeout", .recreate, \.stopTimeout),
            // Metadata only (inspect shows them); no process state depends on them, and restarting
            // a service to relabel it would cost more than it is worth. berthd rewrites the record.
            SpecField("labels", .nothing, \.labels),
        ]
    }
}

/// The parts of `Resources`, classified as the spec's fields are.
struct ResourceField {
    let property: String
    let effect: FieldEffect
    let differs: (Resources, Resources) -> Bool

    init<V: Equatable>(_ property: String, _ effect: FieldEffect, _ path: KeyPath<Resources, V>) {
        self.property = property
        self.effect = effect
        self.differs = { $0[keyPath: path] != $1[keyPath: path] }
    }

    static var all: [ResourceField] {
        [
            // cgroup limits: set live on the scope (MemoryMax, CPUQuota, TasksMax), as `docker update`.
            ResourceField("memory", .inPlace, \.memory),
            ResourceField("cpus", .inPlace, \.cpus),
            ResourceField("pids", .inPlace, \.pids),
            // /dev/shm is a tmpfs mounted at setup, and rlimits are inherited from the first process.
            ResourceField("shmSize", .recreate, \.shmSize),
            ResourceField("ulimits", .recreate, \.ulimits),
        ]
    }
}

/// What differs between the spec a container was created from and the one wanted now.
struct SpecDiff: Equatable {
    var recreateReasons: [String] = []
    var ports: PortChange?
    var volumes: VolumeChange?
    var resources: ResourceChange?

    var needsRecreate: Bool { !recreateReasons.isEmpty }
    var hasInPlaceChange: Bool { ports != nil || volumes != nil || resources != nil }

    /// `wantedDigest` is what the spec's image reference resolves to now, `runningDigest` what
    /// the container was created from; either may be unknown.
    init(applied: ContainerSpec, desired: ContainerSpec, runningDigest: String?, wantedDigest: String?) {
        for field in SpecField.all where field.differs(applied, desired) {
            switch field.effect {
            case .identity, .nothing: break
            case .recreate: recreateReasons.append("\(field.key) changed")
            case .inPlace: inPlace(field.property, applied, desired)
            }
        }
        if applied.image == desired.image, let running = runningDigest, let wanted = wantedDigest, running != wanted {
            recreateReasons.append("image digest changed (\(running) -> \(wanted))")
        }
    }

    private mutating func inPlace(_ property: String, _ applied: ContainerSpec, _ desired: ContainerSpec) {
        switch property {
        case "ports":
            // Each map is its own set of rules: order means nothing.
            if Set(applied.ports) != Set(desired.ports) {
                ports = PortChange(from: applied.ports, to: desired.ports)
            }
        case "volumes":
            let before = Set(applied.volumes)
            let after = Set(desired.volumes)
            let change = VolumeChange(
                added: desired.volumes.filter { !before.contains($0) },
                removed: applied.volumes.filter { !after.contains($0) })
            if change.added.isEmpty && change.removed.isEmpty {
                // Mounts are made in spec order and a later one covers an earlier nested one.
                recreateReasons.append("volumes reordered")
            } else {
                volumes = change
            }
        case "resources":
            var live = false
            for part in ResourceField.all where part.differs(applied.resources, desired.resources) {
                switch part.effect {
                case .inPlace: live = true
                case .recreate: recreateReasons.append("resources.\(part.property) changed")
                case .identity, .nothing: break
                }
            }
            if live { resources = ResourceChange(from: applied.resources, to: desired.resources) }
        default:
            preconditionFailure("in-place field \(property) has no update")
        }
    }
}
