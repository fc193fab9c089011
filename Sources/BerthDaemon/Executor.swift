import BerthBuild
import BerthReconciler
import BerthRegistry
import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// What became of one action.
public struct Outcome: Sendable, Codable, Equatable {
    public var name: String
    /// What was done, in the plan's words ("created", "recreated (image changed)", ...).
    public var done: String
    /// nil when it worked.
    public var error: String?
    public var warnings: [String] = []

    public init(name: String, done: String, error: String? = nil, warnings: [String] = []) {
        self.name = name
        self.done = done
        self.error = error
        self.warnings = warnings
    }
}

/// Carries out the planner's actions with the runtime: one action, start to end, on the calling
/// thread (berthd runs several on its workers, never two for one name).
public struct Executor: Sendable {
    public let root: String
    public let supervisor: String
    public let insecureRegistries: Set<String>

    public init(root: String, supervisor: String, insecureRegistries: Set<String> = []) {
        self.root = root
        self.supervisor = supervisor
        self.insecureRegistries = insecureRegistries
    }

    /// - Parameter loaded: the spec file behind a create, recreate or update (its document is
    ///   recorded as the spec applied).
    public func perform(_ action: Action, loaded: LoadedSpec?) -> Outcome {
        var warnings: [String] = []
        do throws(RuntimeError) {
            let done = try run(action, loaded: loaded, warnings: &warnings)
            return Outcome(name: action.name, done: done, warnings: warnings)
        } catch {
            return Outcome(name: action.name, done: "failed", error: error.description, warnings: warnings)
        }
    }

    /// A user's `stop`, `start`, `restart` or `remove` of one container, as the CLI would do it.
    public func perform(_ command: ControlRequest.Command, name: String) -> Outcome {
        var warnings: [String] = []
        do throws(RuntimeError) {
            let info = try ContainerStore.find(root: root, name)
            var runtime = Runtime(root: root, supervisor: supervisor)
            switch command {
            case .stop:
                try Runtime.stop(info)
                try Runtime.waitForSupervisor(info.layout)
            case .start:
                if !info.supervisorAlive { _ = try runtime.start(info, attach: nil) }
            case .restart:
                try runtime.restart(info)
            case .remove:
                try removeContainer(name)
            case .apply, .status:
                throw RuntimeError(125, "\(command.rawValue) is not a container command")
            }
            warnings += runtime.warnings
            let done = ["stop": "stopped", "start": "started", "restart": "restarted", "remove": "removed"]
            return Outcome(name: name, done: done[command.rawValue] ?? command.rawValue, warnings: warnings)
        } catch {
            return Outcome(name: name, done: "failed", error: error.description, warnings: warnings)
        }
    }

    private func run(_ action: Action, loaded: LoadedSpec?, warnings: inout [String]) throws(RuntimeError) -> String {
        switch action {
        case .create(let spec):
            try create(spec, loaded: loaded, warnings: &warnings)
            return "created"
        case .recreate(let spec, let reasons):
            try removeContainer(spec.name)
            try create(spec, loaded: loaded, warnings: &warnings)
            return "recreated (\(reasons.joined(separator: ", ")))"
        case .start(let name):
            var runtime = Runtime(root: root, supervisor: supervisor)
            _ = try runtime.start(try ContainerStore.find(root: root, name), attach: nil)
            warnings += runtime.warnings
            return "started"
        case .updateInPlace(let name, let ports, let volumes, let resources):
            let info = try ContainerStore.find(root: root, name)
            var parts: [String] = []
            if let ports {
                try Runtime.setPorts(root: root, info, to: ports.to)
                parts.append("ports")
            }
            if let volumes {
                guard let spec = loaded?.spec else { throw RuntimeError(125, "no spec for the volumes of \(name)") }
                do throws(RuntimeError) {
                    // Read again: setPorts has rewritten the record.
                    try Runtime.changeVolumes(
                        root: root, try ContainerStore.find(root: root, name), spec: spec, adding: volumes.added,
                        removing: volumes.removed)
                } catch {
                    // A mount point that cannot be made (a read-only root) or a tree that will
                    // not move: the container is made again with its volumes, as it must be.
                    let reason = "the volumes could not be changed live: \(error.description)"
                    try removeContainer(name)
                    try create(spec, loaded: loaded, warnings: &warnings)
                    return "recreated (\(reason))"
                }
                parts.append("volumes")
            }
            if let resources {
                try Runtime.setResources(try ContainerStore.find(root: root, name), to: resources.to)
                parts.append("resources")
            }
            if let loaded { try Runtime.recordApplied(try ContainerStore.find(root: root, name), Self.applied(loaded)) }
            return "updated in place (\(parts.joined(separator: ", ")))"
        case .stop(let name):
            try Runtime.stop(try ContainerStore.find(root: root, name))
            return "stopped"
        case .remove(let name, _):
            try removeContainer(name)
            return "removed"
        case .conflict, .keep, .noAction:
            return "nothing to do"
        }
    }

    /// The image found (or pulled, as the spec's pull policy says), a container made from it
    /// with the spec's document recorded, and started.
    private func create(_ spec: ContainerSpec, loaded: LoadedSpec?, warnings: inout [String]) throws(RuntimeError) {
        let lock: StoreLock
        let rootfs: RootFilesystem
        do {
            lock = try StoreLock(root: root, .shared)
            rootfs = try image(for: spec, warnings: &warnings)
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "\(error)")
        }
        var runtime = Runtime(root: root, supervisor: supervisor)
        let options = CreateOptions(owner: ObservedContainer.berthdOwner, applied: loaded.map(Self.applied))
        _ = try runtime.run(spec: spec, rootfs: rootfs, options: options)
        withExtendedLifetime(lock) {}
        warnings += runtime.warnings
    }

    /// The spec's image: built from its `build` section when the store lacks it (the layer
    /// cache makes an unchanged context cheap), else found, else pulled as `pull` allows. With
    /// `newer`, the registry is asked for the tag's digest (a HEAD) and the image pulled only
    /// when it differs from the store's; a registry that cannot be asked (or a pull that fails)
    /// leaves the image in the store in use, with a warning.
    private func image(for spec: ContainerSpec, warnings: inout [String]) throws -> RootFilesystem {
        guard let reference = spec.image else { throw RuntimeError(125, "the spec names no image") }
        let store = ImageStore(root: root)
        let rolledBack = store.rolledBack(reference.description)
        // `always` with a rolled-back update pulls only what is not that update (a HEAD first).
        let always = spec.pull == .always && spec.build == nil
        var entry = always && rolledBack.isEmpty ? nil : try store.lookup(reference.description)
        if always, !rolledBack.isEmpty, entry != nil, let remote = try? currentDigest(reference.description),
            !rolledBack.contains(remote.description)
        {
            entry = nil
        }
        if entry == nil, let build = spec.build {
            try buildImage(reference.description, build)
            entry = try store.lookup(reference.description)
        }
        if spec.pull == .newer, spec.build == nil, let local = entry {
            do {
                let remote = try currentDigest(reference.description)
                if rolledBack.contains(remote.description) {
                    warnings.append("\(reference) is \(remote), which an update was rolled back from; not pulled")
                } else if remote != local.tagDigest {
                    entry = try pull(reference.description)
                }
            } catch {
                warnings.append(
                    "could not get a newer \(reference) (\(error)); using the image in the store, \(local.tagDigest)")
            }
        }
        if entry == nil {
            guard spec.pull != .never else {
                throw RuntimeError(
                    125, "the image \(reference) is not in the store, and the spec says \"pull\": \"never\"")
            }
            entry = try pull(reference.description)
        }
        guard let entry else { throw RuntimeError(125, "the image \(reference) was not found") }
        return try .image(entry, root: root)
    }

    /// The registry's digest for the tag now (a HEAD of its manifest).
    private func currentDigest(_ text: String) throws -> Digest {
        let parsed = try ImageReference(parsing: text)
        let (root, insecure) = (root, insecureRegistries)
        return try blockOn { try await RegistryClient.currentDigest(parsed, root: root, insecure: insecure) }
    }

    /// The image built from `build` and tagged `tag`; steps' output goes to the journal.
    private func buildImage(_ tag: String, _ build: BuildSpec) throws {
        var options = BuildOptions(context: build.context)
        options.file = build.file
        options.buildArgs = build.args
        options.tags = [tag]
        options.quiet = true
        _ = try Builder(root: root, supervisor: supervisor, pull: pull).build(options)
    }

    /// A build of a spec's image while its container runs on (its context changed): the
    /// image's manifest digest after it. A new digest is a new image, which the next pass
    /// recreates the container from; an unchanged context is all cache hits, the same digest.
    public func rebuild(_ tag: String, _ build: BuildSpec) -> Result<String, RuntimeError> {
        do {
            try buildImage(tag, build)
            guard let entry = try ImageStore(root: root).lookup(tag) else {
                return .failure(RuntimeError(125, "the build did not tag \(tag)"))
            }
            return .success(entry.manifest.digest.description)
        } catch let error as RuntimeError {
            return .failure(error)
        } catch {
            return .failure(RuntimeError(125, "\(error)"))
        }
    }

    private func pull(_ text: String) throws -> ImageEntry? {
        let reference = try ImageReference(parsing: text)
        let (root, insecure) = (root, insecureRegistries)
        return try blockOn {
            try await RegistryClient.pull(reference, root: root, platform: .current, insecure: insecure)
        }
    }

    /// Stopped as `systemctl stop` would (its stop signal, then SIGKILL after its timeout), then
    /// removed; its named volumes are kept.
    private func removeContainer(_ name: String) throws(RuntimeError) {
        let info = try ContainerStore.find(root: root, name)
        try Runtime.stop(info)
        try Runtime.waitForSupervisor(info.layout)
        guard let stopped = ContainerStore.load(root: root, id: info.record.id) else { return }
        try Runtime.remove(root: root, stopped, force: false)
        Runtime.sweepNetwork(root: root)
    }

    static func applied(_ loaded: LoadedSpec) -> AppliedSpec {
        AppliedSpec(document: loaded.document.serialized, origin: loaded.file.path)
    }
}
