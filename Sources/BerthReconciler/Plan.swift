import BerthSpec

/// A container as berthd finds it (its record and its state file), the input the planner
/// compares with the specs.
public struct ObservedContainer: Sendable, Equatable {
    public var name: String
    /// 64 hex digits.
    public var id: String
    /// "berthd" for containers berthd created from specs; anything else ("cli" for `berth run`)
    /// is not berthd's to change.
    public var owner: String
    /// The spec berthd created it from; nil when it is not berthd's.
    public var applied: ContainerSpec?
    public var imageDigest: String?
    public var running: Bool
    public var stoppedByUser: Bool
    /// nil while it has never exited (created, not yet started, or running).
    public var exitCode: Int32?

    public static let berthdOwner = "berthd"

    public var isBerthd: Bool { owner == Self.berthdOwner }

    public init(
        name: String, id: String, owner: String, applied: ContainerSpec?, imageDigest: String? = nil,
        running: Bool, stoppedByUser: Bool = false, exitCode: Int32? = nil
    ) {
        self.name = name
        self.id = id
        self.owner = owner
        self.applied = applied
        self.imageDigest = imageDigest
        self.running = running
        self.stoppedByUser = stoppedByUser
        self.exitCode = exitCode
    }
}

/// The published ports of a running container, replaced whole (`Runtime.setPorts` swaps them in
/// one transaction), so both lists are given.
public struct PortChange: Sendable, Equatable {
    public var from: [PortMapping]
    public var to: [PortMapping]
    public init(from: [PortMapping], to: [PortMapping]) {
        self.from = from
        self.to = to
    }
}

public struct VolumeChange: Sendable, Equatable {
    public var added: [VolumeMount]
    public var removed: [VolumeMount]
    public init(added: [VolumeMount], removed: [VolumeMount]) {
        self.added = added
        self.removed = removed
    }
}

/// Only memory, cpus and pids differ between `from` and `to` (the others force a recreate).
public struct ResourceChange: Sendable, Equatable {
    public var from: Resources
    public var to: Resources
    public init(from: Resources, to: Resources) {
        self.from = from
        self.to = to
    }
}

/// What berthd is to do for one name.
public enum Action: Sendable, Equatable {
    /// No container yet: create it and start it.
    case create(ContainerSpec)
    case start(name: String)
    /// Remove the container and create it again from the spec (then start it).
    case recreate(ContainerSpec, reasons: [String])
    /// Apply the non-nil parts to the existing container; it keeps running.
    case updateInPlace(name: String, ports: PortChange?, volumes: VolumeChange?, resources: ResourceChange?)
    /// Not planned by `Planner.plan` today; for callers that stop before another step.
    case stop(name: String)
    case remove(name: String, id: String)
    /// A spec's name is held by a container berthd does not own; that container is left alone.
    case conflict(name: String, detail: String)
    /// Something would be done, but is not (invalid spec, stopped by the user, --no-recreate).
    case keep(name: String, reason: String)
    /// Nothing to do. (Not `none`, which would read as Optional.none in patterns.)
    case noAction(name: String)

    public var name: String {
        switch self {
        case .create(let spec), .recreate(let spec, _): spec.name
        case .start(let name), .updateInPlace(let name, _, _, _), .stop(let name), .remove(let name, _),
            .conflict(let name, _), .keep(let name, _), .noAction(let name):
            name
        }
    }
}

public struct PlanOptions: Sendable, Equatable {
    public enum Names: Sendable, Equatable {
        case all
        case only(Set<String>)

        func contains(_ name: String) -> Bool {
            switch self {
            case .all: true
            case .only(let names): names.contains(name)
            }
        }
    }
    /// Recreate these even when unchanged. An explicit request, so it wins over `noRecreate`
    /// for the names it covers.
    public var forceRecreate: Names?
    /// A change that needs a recreate is reported as `keep` instead.
    public var noRecreate: Bool

    public init(forceRecreate: Names? = nil, noRecreate: Bool = false) {
        self.forceRecreate = forceRecreate
        self.noRecreate = noRecreate
    }
}
