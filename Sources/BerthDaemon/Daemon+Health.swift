import BerthReconciler
import BerthRuntime
import BerthStore
import BerthSystemd
import Foundation

/// A running container's next probe: due at a wall-clock time, which the main loop's poll
/// timeout includes. A container without a check has none, so it never wakes berthd.
struct ProbeTimer {
    var info: ContainerInfo
    var settings: HealthSettings
    var startedAt: UInt64
    var due: UInt64
    var probing = false
}

struct ProbeDone: Sendable {
    var name: String
    var id: String
    var startedAt: UInt64
    var probe: HealthProbe
}

extension Daemon {
    /// In each pass: a timer for every running container with a check (its first probe an
    /// interval after its start, or a start interval while its start period runs), none for
    /// the rest. `berth run` containers are probed too (it is only looking), but only berthd's
    /// own are acted on when unhealthy. A berthd started again takes up the state the last
    /// one wrote.
    func scheduleProbes(_ infos: [ContainerInfo]) {
        var live: Set<String> = []
        for given in infos where given.isRunning {
            var info = given
            let name = info.record.name
            let ours = info.record.owner == ObservedContainer.berthdOwner
            // The check is read from the current spec (a change applies live, no recreate).
            if ours, let spec = declared[name]?.spec {
                let wanted = HealthSettings.resolve(spec: spec.healthcheck, image: info.record.imageHealthcheck)
                if wanted != info.record.healthcheck {
                    do {
                        try Runtime.setHealthcheck(info, wanted)
                        info.record.healthcheck = wanted
                        log(6, "\(name): health check " + (wanted == nil ? "removed" : "changed") + ", applied live")
                    } catch {
                        noteError(name, "cannot change the health check: \(error)")
                    }
                }
            }
            guard let settings = info.record.healthcheck, let state = info.state else { continue }
            live.insert(name)
            if let timer = probeTimers[name], timer.info.record.id == info.record.id,
                timer.startedAt == state.startedAt, timer.settings == settings
            {
                continue
            }
            let first = settings.startPeriod > 0 ? settings.startInterval : settings.interval
            probeTimers[name] = ProbeTimer(
                info: info, settings: settings, startedAt: state.startedAt,
                due: max(state.startedAt + first, Timestamp.nanoseconds()))
            healthStates[name] = info.health ?? HealthState(startedAt: state.startedAt)
        }
        for name in probeTimers.keys where !live.contains(name) {
            probeTimers[name] = nil
            healthStates[name] = nil
        }
    }

    /// The probes that are due, on the probe workers (apart from the action workers, so a
    /// slow check never holds up a create or a restart).
    func runDueProbes() {
        let now = Timestamp.nanoseconds()
        for (name, timer) in probeTimers where !timer.probing && timer.due <= now {
            probeTimers[name]?.probing = true
            let (mailbox, info, settings, startedAt) = (probes, timer.info, timer.settings, timer.startedAt)
            probePool.submit {
                let probe = HealthProber.probe(info, settings)
                mailbox.post(ProbeDone(name: name, id: info.record.id, startedAt: startedAt, probe: probe))
            }
        }
    }

    /// Each probe's result counted, written to the container's health/state.json, a change of
    /// state told in the container's journal (OBJECT_SYSTEMD_UNIT, so `journalctl -u
    /// berth-NAME.scope` shows it), the next probe scheduled. True when a state changed (start
    /// order and status depend on it).
    func completeProbes() -> Bool {
        var changed = false
        for done in probes.take() {
            guard var timer = probeTimers[done.name], timer.info.record.id == done.id,
                timer.startedAt == done.startedAt
            else { continue }
            let now = Timestamp.nanoseconds()
            let inStartPeriod = now < timer.startedAt + timer.settings.startPeriod
            let before = healthStates[done.name] ?? HealthState(startedAt: timer.startedAt)
            let after = before.after(done.probe, retries: timer.settings.retries, inStartPeriod: inStartPeriod)
            healthStates[done.name] = after
            try? after.write(timer.info.layout)
            timer.probing = false
            timer.due =
                now
                + (after.status == "starting" && inStartPeriod ? timer.settings.startInterval : timer.settings.interval)
            probeTimers[done.name] = timer
            guard after.status != before.status else { continue }
            changed = true
            tellHealth(timer.info, before: before.status, after: after, probe: done.probe)
            if after.status == "unhealthy" && timer.info.record.owner == ObservedContainer.berthdOwner {
                onUnhealthy(timer.info, timer.settings)
            }
        }
        return changed
    }

    private func tellHealth(_ info: ContainerInfo, before: String, after: HealthState, probe: HealthProbe) {
        let name = info.record.name
        var text = "\(name): health \(after.status) (was \(before))"
        if after.status != "healthy" {
            let output = probe.output.trimmingCharacters(in: .whitespacesAndNewlines)
            text += ": \(after.failingStreak) failed probes in a row, the last exit \(probe.exitCode)"
            if !output.isEmpty { text += ", output \(output.prefix(200).debugDescription)" }
        }
        log(after.status == "unhealthy" ? 4 : 6, text)
        try? JournalWriter.send(
            message: text, priority: after.status == "unhealthy" ? .warning : .info, identifier: "berthd",
            fields: [
                "OBJECT_SYSTEMD_UNIT": info.record.unitName, "BERTH_CONTAINER": name, "BERTH_HEALTH": after.status,
            ])
    }

    /// `healthcheck.onFailure`, as Podman's --health-on-failure: kill (its restart policy then
    /// applies), stop (it stays stopped), restart (after the restart back-off, whatever its
    /// policy), none.
    private func onUnhealthy(_ info: ContainerInfo, _ settings: HealthSettings) {
        let name = info.record.name
        switch settings.onFailure {
        case "kill":
            log(4, "\(name): unhealthy, killed (onFailure kill)")
            do { try Runtime.kill(info, signal: SIGKILL) } catch { log(3, "\(name): cannot kill: \(error)") }
        case "stop":
            runUserCommand(.stop, name: name, why: "unhealthy (onFailure stop)")
        case "restart":
            var backoff = restartBackoff[name] ?? RestartBackoff()
            let ran = Timestamp.nanoseconds() - min(Timestamp.nanoseconds(), info.state?.startedAt ?? 0)
            let delay = backoff.next(ranFor: .nanoseconds(Int64(ran)))
            restartBackoff[name] = backoff
            unhealthyRestartAt[name] = Timestamp.nanoseconds() + delay.nanoseconds
            log(
                4,
                "\(name): unhealthy; restarting in \(delay) (onFailure restart, restart \(backoff.failures) in a row)")
        default: break
        }
    }

    /// Unhealthy containers whose restart came due.
    func restartUnhealthy() {
        let now = Timestamp.nanoseconds()
        for (name, at) in unhealthyRestartAt where at <= now && inFlight[name] == nil {
            unhealthyRestartAt[name] = nil
            memory[name, default: NameMemory()].restarts += 1
            runUserCommand(.restart, name: name, why: "unhealthy (onFailure restart)")
        }
    }

    /// A stop, start or restart on the action workers, as a user's would be (not retried).
    func runUserCommand(_ command: ControlRequest.Command, name: String, why: String) {
        inFlight[name] = "\(command.rawValue) (\(why))"
        log(6, "\(name): \(command.rawValue), \(why)")
        let (executor, mailbox) = (executor, finished)
        pool.submit { mailbox.post(Finished(name: name, action: nil, outcome: executor.perform(command, name: name))) }
    }
}
