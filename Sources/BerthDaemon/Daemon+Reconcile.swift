import BerthReconciler
import BerthRuntime
import BerthSpec
import BerthStore
import BerthSystemd
import Foundation

extension Daemon {
    /// What an `apply` asks beyond a plain pass.
    struct Request {
        var names: Set<String>?
        var options = PlanOptions()
    }

    /// Reads the specs and the containers, plans, and sends every action that is due to the
    /// workers (a name already in flight waits for the next pass). Returns the names acted on,
    /// and what was decided for the rest.
    @discardableResult
    func reconcile(_ request: Request = Request()) -> (
        dispatched: Set<String>, decided: [Outcome], blocked: [String: String]
    ) {
        // Units first, records after: a scope exists only once its record does, so every scope
        // listed here has its record by the time the records are read.
        let units = try? SystemdBus().listUnits(
            patterns: ["berth-*.scope"], states: ["active", "activating", "deactivating"])
        specs = SpecLoader.load(directories: config.specDirectories)
        watcher.rescan()
        let building = startBuilds()
        let infos = Observation.containers(root: config.root)
        watchContainers(infos)
        scheduleProbes(infos)
        handleStrayScopes(units ?? [], infos)
        var observed = Observation.observed(infos, applied: cachedApplied)
        if boot {
            // After a reboot every spec'd container starts, stopped by the user or not.
            for i in observed.indices where observed[i].isBerthd && !observed[i].running {
                observed[i].stoppedByUser = false
                observed[i].exitCode = nil
            }
        }
        let byName = Dictionary(infos.map { ($0.record.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Before planning: a rollback tags the previous image again, which the plan then sees.
        judgeRollouts(byName)
        let actions = Planner.plan(
            desired: specs.specs.map(\.spec), invalid: specs.invalidNames, observed: observed,
            imageDigests: Observation.imageDigests(root: config.root, specs: specs.specs.map(\.spec)),
            options: request.options)
        reportInvalid()
        var dispatched: Set<String> = []
        var decided: [Outcome] = []
        var blocked: [String: String] = [:]
        let dependencyErrors = dependencyErrors()
        // Names on their way out, in this plan or under way: what depends on them goes first.
        var leaving = Set(inFlight.filter { $0.value.hasPrefix("remove") || $0.value.hasPrefix("stop") }.keys)
        for action in actions {
            switch action {
            case .stop(let name), .remove(let name, _): leaving.insert(name)
            default: break
            }
        }
        var waitingNow: [String: String] = [:]
        let now = Timestamp.nanoseconds()
        for action in actions {
            let name = action.name
            if let names = request.names, !names.contains(name) { continue }
            switch action {
            case .noAction:
                memory[name]?.restartAt = nil
                decided.append(Outcome(name: name, done: "unchanged"))
                continue
            case .keep(_, let reason):
                memory[name]?.restartAt = nil
                decided.append(Outcome(name: name, done: "kept: \(reason)"))
                continue
            case .conflict(_, let detail):
                noteError(name, "conflict: \(detail)")
                decided.append(Outcome(name: name, done: "conflict", error: detail))
                continue
            default: break
            }
            if inFlight[name] != nil {
                dispatched.insert(name)
                continue
            }
            if request.names == nil, let at = retryAt[name], at > now { continue }
            var waiting: String?
            switch action {
            case .create(let spec), .recreate(let spec, _):
                waiting = unmetDependency(spec, byName, errors: dependencyErrors)
            case .start(let name):
                waiting = declared[name].flatMap { unmetDependency($0.spec, byName, errors: dependencyErrors) }
            case .stop(let name), .remove(let name, _):
                let first = runningDependants(of: name, infos).filter(leaving.contains)
                if !first.isEmpty { waiting = "waiting for \(first.sorted().joined(separator: ", ")) to stop first" }
            default: break
            }
            if let waiting {
                waitingNow[name] = waiting
                blocked[name] = waiting
                continue
            }
            if let tag = Self.imageTag(of: action), building.contains(tag) {
                decided.append(Outcome(name: name, done: "waiting for the build of \(tag)"))
                continue
            }
            if case .start = action, let info = byName[name], info.state?.status == "exited", !boot {
                guard restartDue(name, info, now: now, explicit: request.names != nil) else { continue }
                memory[name, default: NameMemory()].restarts += 1
                memory[name]?.restartAt = nil
            }
            if case .recreate = action { forgetRestarts(name) }
            if case .create = action { forgetRestarts(name) }
            dispatch(action)
            dispatched.insert(name)
        }
        noteWaiting(waitingNow, errors: dependencyErrors)
        for index in pending.indices {
            for (name, _) in pending[index].blocked where dispatched.contains(name) || blocked[name] == nil {
                pending[index].blocked[name] = nil
                if dispatched.contains(name) {
                    pending[index].waiting.insert(name)
                } else {
                    pending[index].reply.outcomes.append(Outcome(name: name, done: "unchanged"))
                }
            }
            if !pending[index].blocked.isEmpty && pending[index].deadline <= now {
                for (name, why) in pending[index].blocked {
                    pending[index].reply.outcomes.append(Outcome(name: name, done: "not yet started: \(why)"))
                }
                pending[index].blocked = [:]
            }
        }
        answerFinishedApplies()
        updateStatus(infos)
        return (dispatched, decided, blocked)
    }

    /// A container that exited and whose policy restarts it: its delay (from its finishedAt) has
    /// passed. On-failure's maxRetries counts the restarts in a row, as the back-off does.
    private func restartDue(_ name: String, _ info: ContainerInfo, now: UInt64, explicit: Bool) -> Bool {
        guard let state = info.state else { return true }
        if explicit { return true }
        var backoff = restartBackoff[name] ?? RestartBackoff()
        if exitSeen[name] != state.finishedAt {
            let ran = state.finishedAt > state.startedAt ? state.finishedAt - state.startedAt : 0
            let delay = backoff.next(ranFor: .nanoseconds(Int64(ran)))
            restartBackoff[name] = backoff
            exitSeen[name] = state.finishedAt
            let spec = declared[name]?.spec
            if spec?.restart.policy == .onFailure, let max = spec?.restart.maxRetries, backoff.failures > max {
                memory[name, default: NameMemory()].restartAt = nil
                noteError(name, "exited with \(state.exitCode); not restarted again after \(max) retries (on-failure)")
                return false
            }
            memory[name, default: NameMemory()].restartAt = state.finishedAt + delay.nanoseconds
            log(
                4,
                "\(name): exited with \(state.exitCode); restarting in \(delay) (restart \(backoff.failures) in a row)")
        }
        guard let at = memory[name]?.restartAt else { return false }
        return at <= now
    }

    private func forgetRestarts(_ name: String) {
        restartBackoff[name] = nil
        exitSeen[name] = nil
        memory[name]?.restartAt = nil
    }

    func dispatch(_ action: Action) {
        let name = action.name
        inFlight[name] = Self.describe(action)
        let loaded = declared[name]
        let executor = self.executor
        let mailbox = finished
        log(6, "\(name): \(Self.describe(action))")
        pool.submit {
            let outcome = executor.perform(action, loaded: loaded)
            mailbox.post(Finished(name: name, action: action, outcome: outcome))
        }
    }

    func complete(_ item: Finished) {
        let name = item.name
        inFlight[name] = nil
        for warning in item.outcome.warnings { log(4, "\(name): \(warning)") }
        if item.action == nil {
            if let error = item.outcome.error {
                log(3, "\(name): \(error)")
            } else {
                log(6, "\(name): \(item.outcome.done)")
            }
        } else if let action = item.action, let error = item.outcome.error {
            if let rollout = rollouts[name], Self.imageTag(of: action) == rollout.tag {
                // The next pass makes it again from the previous image, at once.
                log(3, "\(name): \(Self.describe(action)) failed: \(error)")
                rollBack(name, rollout, because: "it could not start: \(error)")
                return finishApplies(item)
            }
            var backoff = failureBackoff[name] ?? RestartBackoff()
            let delay = backoff.next(ranFor: .zero)
            failureBackoff[name] = backoff
            retryAt[name] = Timestamp.nanoseconds() + delay.nanoseconds
            noteError(name, "\(Self.describe(action)) failed: \(error) (trying again in \(delay))")
        } else {
            failureBackoff[name] = nil
            retryAt[name] = nil
            // A rolled-back update stays told until an update works.
            if memory[name]?.lastError?.hasPrefix(Self.rollbackPrefix) != true {
                memory[name, default: NameMemory()].lastError = nil
            }
            if case .remove = item.action { memory[name] = nil }
            if case .start = item.action { memory[name]?.restartAt = nil }
            log(6, "\(name): \(item.outcome.done)")
        }
        finishApplies(item)
    }

    /// The applies waiting for this action get its outcome; those complete are answered.
    private func finishApplies(_ item: Finished) {
        let name = item.name
        for index in pending.indices where pending[index].waiting.contains(name) {
            pending[index].waiting.remove(name)
            pending[index].reply.outcomes.append(item.outcome)
        }
        answerFinishedApplies()
    }

    /// Replies to the applies that wait for nothing more.
    func answerFinishedApplies() {
        for request in pending where request.waiting.isEmpty && request.blocked.isEmpty {
            respond(request.fd, request.reply)
        }
        pending.removeAll { $0.waiting.isEmpty && $0.blocked.isEmpty }
    }

    /// What waits for its dependencies, told once per change; a cycle or a missing dependency
    /// is an error of its spec.
    private func noteWaiting(_ waiting: [String: String], errors: [String: String]) {
        for (name, why) in waiting where memory[name]?.waitingFor != why {
            if errors[name] != nil {
                noteError(name, why)
            } else {
                log(6, "\(name): \(why)")
            }
            memory[name, default: NameMemory()].waitingFor = why
        }
        for name in memory.keys where memory[name]?.waitingFor != nil && waiting[name] == nil {
            memory[name]?.waitingFor = nil
            if let error = memory[name]?.lastError, errors.values.contains(error) || error.contains("dependency cycle")
            {
                memory[name]?.lastError = nil
            }
        }
    }

    func noteError(_ name: String, _ text: String) {
        if memory[name]?.lastError != text { log(3, "\(name): \(text)") }
        memory[name, default: NameMemory()].lastError = text
    }

    /// Each invalid spec once per change of its errors, in the journal with file:line:col.
    private func reportInvalid() {
        let errors = StatusReport.diagnosticsByStem(specs)
        for name in specs.invalidNames {
            let text = (errors[name] ?? ["the spec is invalid"]).joined(separator: "; ")
            noteError(name, "invalid spec, its container (if any) keeps its last good spec: \(text)")
        }
    }

    /// Scopes named like containers' with no record in this root: looked at once each. One
    /// whose supervisor's configuration lies in this root's containers/ but whose container's
    /// directory is gone is this root's and nobody can manage it any more: stopped. The rest
    /// (another root's containers, a second berth's, the tests') are told and left alone: a
    /// scope appears only after its record, so berth itself never leaves one.
    private func handleStrayScopes(_ units: [SystemdBus.UnitStatus], _ infos: [ContainerInfo]) {
        let claimed = Set(infos.map(\.record.unitName))
        let containers = URL(fileURLWithPath: config.root + "/containers").standardizedFileURL.path
        for unit in units where !claimed.contains(unit.name) && !strayScopes.contains(unit.name) {
            strayScopes.insert(unit.name)
            let processes = (try? SystemdBus().unitProcesses(unit.name)) ?? []
            let configs = processes.compactMap { process -> String? in
                let words = process.command.split(separator: " ").map(String.init)
                guard words.count >= 2, words[0].hasSuffix("berth-supervisor"), words[1].hasSuffix("/supervisor.conf")
                else { return nil }
                return words[1]
            }
            let directories = configs.map { URL(fileURLWithPath: $0).deletingLastPathComponent().standardizedFileURL }
            if let directory = directories.first, directory.deletingLastPathComponent().path == containers,
                !FileManager.default.fileExists(atPath: directory.path)
            {
                log(
                    4,
                    "\(unit.name) runs, but its container \(directory.lastPathComponent) is gone from \(config.root): stopping it"
                )
                let name = unit.name
                pool.submit { _ = try? SystemdBus().stopUnit(name: name) }
            } else {
                log(5, "\(unit.name) runs, but no container under \(config.root) claims it; berthd leaves it alone")
            }
        }
    }

    /// The applied spec of each container, decoded once per version of its spec.json.
    func cachedApplied(_ info: ContainerInfo) -> ContainerSpec? {
        var st = stat()
        guard stat(info.layout.appliedSpecFile, &st) == 0 else { return nil }
        let stamp = "\(st.st_ino):\(st.st_mtim.tv_sec):\(st.st_mtim.tv_nsec):\(info.record.specOrigin ?? "")"
        if let cached = appliedCache[info.record.id], cached.stamp == stamp { return cached.spec }
        let spec = Observation.applied(info)
        appliedCache[info.record.id] = (stamp, spec)
        return spec
    }

    private func updateStatus(_ infos: [ContainerInfo]) {
        let text = StatusReport.summary(StatusReport.rows(specs: specs, containers: infos, memory: memory))
        guard text != lastStatus else { return }
        lastStatus = text
        if ready { _ = try? SystemdNotify.status(text) }
    }

    /// The image a create or recreate would make the container from.
    static func imageTag(of action: Action) -> String? {
        switch action {
        case .create(let spec), .recreate(let spec, _): spec.image?.description
        default: nil
        }
    }

    static func describe(_ action: Action) -> String {
        switch action {
        case .create: "create"
        case .start: "start"
        case .recreate(_, let reasons): "recreate (\(reasons.joined(separator: ", ")))"
        case .updateInPlace(_, let ports, let volumes, let resources):
            "update in place ("
                + [ports.map { _ in "ports" }, volumes.map { _ in "volumes" }, resources.map { _ in "resources" }]
                .compactMap { $0 }.joined(separator: ", ") + ")"
        case .stop: "stop"
        case .remove: "remove (its spec is gone)"
        case .conflict: "conflict"
        case .keep: "keep"
        case .noAction: "nothing"
        }
    }
}
