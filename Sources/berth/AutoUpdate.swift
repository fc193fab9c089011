import ArgumentParser
import BerthDaemon
import BerthReconciler
import BerthRegistry
import BerthRuntime
import BerthSpec
import BerthStore
import BerthSystemd
import Foundation

struct AutoUpdate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auto-update",
        abstract: "Update the containers whose spec has the label berth.autoupdate=registry.",
        discussion: """
            For each such spec, asks the registry for its image's tag (a HEAD of the manifest); \
            when the digest differs from the store's, pulls the image and recreates the \
            container (through berthd when it runs), then waits for it to run (and, with a \
            health check, to be healthy). One that exits, turns unhealthy or is not up within \
            --timeout is rolled back: the old image is tagged again and the container recreated \
            on it. Prints a table as `podman auto-update` does; exits 1 when an update failed. \
            units/berth-auto-update.timer runs it daily.
            """)

    static let label = "berth.autoupdate"
    /// How long a container without a health check must run, without exiting, to count as up.
    static let settle: Duration = .seconds(2)

    @ParentCommand var berth: Berth
    @Flag(help: "Only say which containers would be updated (UPDATED: pending); change nothing.") var dryRun = false
    @Option(help: "Roll a failed update back to the old image.") var rollback = true
    @Option(help: "Seconds to wait for an updated container to run (and be healthy).") var timeout = 120

    func run() throws {
        guard timeout > 0 else { die(125, "--timeout must be at least 1 second") }
        let root = berth.global.root
        let set = SpecLoader.load(directories: berth.global.specPath)
        for name in set.invalidNames.sorted() {
            warn("\(name): the spec is invalid and is skipped (berth validate says why)")
        }
        var rows = [["UNIT", "CONTAINER", "IMAGE", "POLICY", "UPDATED"]]
        var failed = false
        // The spec's validation allows only "registry" as the label's value.
        let candidates = set.specs.filter { $0.spec.labels[Self.label] == "registry" }.sorted {
            $0.spec.name < $1.spec.name
        }
        let lock: StoreLock
        do {
            // Shared from the first pull to the last recreate, so `berth prune` sweeps neither
            // the new image before its container uses it nor the old one a rollback needs.
            lock = try StoreLock(root: root, .shared)
        } catch {
            die(125, "\(error)")
        }
        for loaded in candidates {
            let spec = loaded.spec
            let policy = "registry"
            guard let image = spec.image else {
                warn("\(spec.name): the spec names no image; skipped")
                continue
            }
            guard let info = try? ContainerStore.find(root: root, spec.name) else {
                warn("\(spec.name): no container made from its spec yet (berth apply makes it); skipped")
                continue
            }
            guard info.record.owner == ObservedContainer.berthdOwner else {
                warn("\(spec.name): the container of that name was not made from its spec (berth run?); skipped")
                continue
            }
            let verdict = update(loaded, image: image.description, container: info)
            Self.journal(verdict, name: spec.name, unit: info.record.unitName, image: image.description)
            switch verdict {
            case .failed(let reason), .rolledBack(let reason):
                warn("\(spec.name): \(reason)")
                failed = true
            default: break
            }
            // The container there now: the updated one, the rolled back one, or the same.
            let now = (try? ContainerStore.find(root: root, spec.name)) ?? info
            rows.append([
                now.record.unitName, "\(now.record.id.prefix(12)) (\(spec.name))", image.description, policy,
                verdict.column,
            ])
        }
        withExtendedLifetime(lock) {}
        print(table(rows))
        if failed { throw ExitCode(1) }
    }

    /// Each update, and each failure, is an entry of the container's unit too, whoever ran it
    /// (the timer's service or a terminal): `journalctl -u berth-NAME.scope` tells it.
    static func journal(_ verdict: Verdict, name: String, unit: String, image: String) {
        let text: String
        let priority: JournalWriter.Priority
        switch verdict {
        case .updated: (text, priority) = ("auto-update: \(name) now runs the new image of \(image)", .info)
        case .failed(let reason): (text, priority) = ("auto-update: \(name): \(reason)", .error)
        case .rolledBack(let reason): (text, priority) = ("auto-update: \(name): \(reason)", .warning)
        case .unchanged, .pending: return
        }
        try? JournalWriter.send(
            message: text, priority: priority, identifier: "berth-auto-update",
            fields: ["OBJECT_SYSTEMD_UNIT": unit, "BERTH_CONTAINER": name])
    }

    enum Verdict {
        case unchanged, pending, updated
        case failed(String)
        /// The update failed (the reason) and the old image runs again.
        case rolledBack(String)

        var column: String {
            switch self {
            case .unchanged: "false"
            case .pending: "pending"
            case .updated: "true"
            case .failed: "failed"
            case .rolledBack: "rolled back"
            }
        }
    }

    private func update(_ loaded: LoadedSpec, image: String, container: ContainerInfo) -> Verdict {
        let root = berth.global.root
        let name = loaded.spec.name
        let insecure = insecureRegistries(ProcessInfo.processInfo.environment)
        let store = ImageStore(root: root)
        let reference: ImageReference
        let remote: Digest
        let old: ImageEntry?
        do {
            reference = try ImageReference(parsing: image)
            old = try store.lookup(image)
            remote = try blockOn { try await RegistryClient.currentDigest(reference, root: root, insecure: insecure) }
        } catch {
            return .failed("cannot check \(image): \(error)")
        }
        if let old, old.tagDigest == remote { return .unchanged }
        if store.rolledBack(image).contains(remote.description) {
            warn("\(name): \(image) is \(remote), which an update was rolled back from; not tried again")
            return .unchanged
        }
        if dryRun { return .pending }

        let new: ImageEntry
        do {
            new = try blockOn {
                try await RegistryClient.pull(reference, root: root, platform: .current, insecure: insecure)
            }
        } catch {
            return .failed("cannot pull \(image): \(error)")
        }
        var replaced: Set<String> = [container.record.id]
        let problem = recreate(loaded).map { "the recreate failed: \($0)" } ?? waitUntilUp(name, replacing: &replaced)
        guard let problem else { return .updated }
        let failure = "the update of \(image) to \(new.tagDigest) failed: \(problem)"
        guard rollback else { return .failed(failure) }
        guard let old else { return .failed(failure + "; no old image to roll back to") }
        do {
            try store.tag(
                name: old.name, manifest: old.manifest,
                index: old.index.map { Descriptor(mediaType: MediaType.ociIndex, digest: $0, size: 0) })
        } catch {
            return .failed(failure + "; the old image could not be tagged again: \(error)")
        }
        store.markRolledBack(image, digest: new.tagDigest.description)
        if let again = recreate(loaded).map({ "the recreate failed: \($0)" }) ?? waitUntilUp(name, replacing: &replaced)
        {
            return .failed(failure + "; rolled back to \(old.tagDigest), which did not come up either: \(again)")
        }
        return .rolledBack(failure + "; rolled back to \(old.tagDigest)")
    }

    /// The container made again from its spec: by berthd when it runs, else here. nil when
    /// that worked, else why not.
    private func recreate(_ loaded: LoadedSpec) -> String? {
        let name = loaded.spec.name
        let request = ControlRequest(command: .apply, names: [name], forceRecreate: true)
        let outcomes: [Outcome]
        do {
            if let reply = try ControlSocket.send(request, socket: berth.global.controlSocket) {
                if let error = reply.error { return error }
                outcomes = reply.outcomes.filter { $0.name == name }
            } else {
                outcomes = [recreateHere(loaded)]
            }
        } catch {
            return "\(error)"
        }
        for outcome in outcomes {
            for warning in outcome.warnings { warn("\(name): \(warning)") }
        }
        return outcomes.compactMap(\.error).first
    }

    /// No berthd: the planner's recreate of this one spec, carried out here as `berth apply`
    /// does without berthd.
    private func recreateHere(_ loaded: LoadedSpec) -> Outcome {
        let root = berth.global.root
        let name = loaded.spec.name
        let set = SpecLoader.load(directories: berth.global.specPath)
        let actions = Observation.plan(root: root, specs: set, options: PlanOptions(forceRecreate: .only([name])))
            .filter { $0.name == name }
        guard let action = actions.first else { return Outcome(name: name, done: "failed", error: "no plan for it") }
        let executor = localExecutor(root: root)
        switch action {
        case .conflict(_, let detail): return Outcome(name: name, done: "conflict", error: detail)
        case .keep(_, let reason): return Outcome(name: name, done: "kept", error: reason)
        default: return executor.perform(action, loaded: set.specs.first { $0.spec.name == name } ?? loaded)
        }
    }

    /// Waits, up to --timeout, for a container named `name` that is none of `replacing` to
    /// run: healthy when it has a health check, else running for `settle` without exiting.
    /// nil when it came up, else what went wrong. Every container seen is added to `replacing`.
    private func waitUntilUp(_ name: String, replacing: inout Set<String>) -> String? {
        let root = berth.global.root
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(timeout)
        var tracked: (id: String, startedAt: UInt64?, since: ContinuousClock.Instant)?
        var last = "it was not created"
        while clock.now < deadline {
            defer { usleep(100_000) }
            guard let info = try? ContainerStore.find(root: root, name), !replacing.contains(info.record.id) else {
                continue
            }
            if tracked?.id != info.record.id {
                // berthd may make it again by itself (it sees the new digest too): follow the newest.
                if let tracked { replacing.insert(tracked.id) }
                tracked = (info.record.id, nil, clock.now)
            }
            guard let state = info.state else {
                last = "it was created but did not start"
                continue
            }
            guard info.isRunning else {
                replacing.insert(info.record.id)
                if info.isLost { return "its supervisor was lost" }
                if let error = state.error, !error.isEmpty { return "it exited (\(state.exitCode)): \(error)" }
                return state.signal > 0
                    ? "it was killed by signal \(state.signal)" : "it exited with code \(state.exitCode)"
            }
            if tracked?.startedAt == nil {
                tracked?.startedAt = state.startedAt
                tracked?.since = clock.now
            } else if tracked?.startedAt != state.startedAt {
                replacing.insert(info.record.id)
                return "it exited and was restarted"
            }
            if info.record.healthcheck != nil {
                switch info.health?.status {
                case "healthy":
                    replacing.insert(info.record.id)
                    return nil
                case "unhealthy":
                    replacing.insert(info.record.id)
                    let output = info.health?.log.last?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                    return "it is unhealthy" + (output.isEmpty ? "" : ": \(output)")
                default:
                    last = "it was not healthy yet (\(info.health?.status ?? "no health state"))"
                }
            } else if let since = tracked?.since, clock.now - since >= Self.settle {
                replacing.insert(info.record.id)
                return nil
            } else {
                last = "it had not run for \(Self.settle) yet"
            }
        }
        return "timed out after \(timeout) s: \(last)"
    }
}
