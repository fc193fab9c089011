import BerthRuntime
import BerthStore
import Foundation

/// A container being moved to a new image of its own build: it must run (and, with a check,
/// become healthy) within `bound`, else the tag goes back to the previous image and the
/// container is made again from it, as `podman auto-update --rollback` does.
struct Rollout {
    static let bound: UInt64 = 120_000_000_000
    /// Without a check, running this long on the new image counts as a success.
    static let settle: UInt64 = 2_000_000_000

    var tag: String
    var fingerprint: String
    var previous: ImageEntry
    var digest: String
    var deadline: UInt64
    /// A check-less container's success, once it has run `settle` on the new image.
    var settleAt: UInt64?
}

extension Daemon {
    /// In each pass: each rollout judged from its container as observed.
    func judgeRollouts(_ byName: [String: ContainerInfo]) {
        let now = Timestamp.nanoseconds()
        // A name with an action under way is judged by that action's outcome first.
        for (name, rollout) in rollouts where inFlight[name] == nil {
            guard let info = byName[name], info.record.imageManifest == rollout.digest else {
                // Not made from the new image yet (its recreate is under way or waits).
                if now >= rollout.deadline { rollBack(name, rollout, because: "it was not running on it in time") }
                continue
            }
            let state = info.state
            if !info.isRunning, state?.status == "exited" {
                rollBack(name, rollout, because: "it exited with \(state?.exitCode ?? -1)")
            } else if info.isRunning, info.record.healthcheck != nil {
                switch healthStates[name]?.status ?? info.health?.status {
                case "healthy": succeed(name, rollout)
                case "unhealthy": rollBack(name, rollout, because: "it became unhealthy")
                default: if now >= rollout.deadline { rollBack(name, rollout, because: "it was not healthy in time") }
                }
            } else if info.isRunning, let started = state?.startedAt {
                if now >= started + Rollout.settle {
                    succeed(name, rollout)
                } else {
                    rollouts[name]?.settleAt = started + Rollout.settle
                }
            } else if now >= rollout.deadline {
                rollBack(name, rollout, because: "it was not running on it in time")
            }
        }
    }

    /// The next time a rollout must be judged though nothing happens (a deadline, or the end
    /// of a check-less container's settling time).
    var rolloutDeadlines: [UInt64] {
        rollouts.values.flatMap { [$0.deadline] + ($0.settleAt.map { [$0] } ?? []) }
    }

    static let rollbackPrefix = "the new image "

    private func succeed(_ name: String, _ rollout: Rollout) {
        rollouts[name] = nil
        if memory[name]?.lastError?.hasPrefix(Self.rollbackPrefix) == true { memory[name]?.lastError = nil }
        log(6, "\(name): runs on the new image \(rollout.digest)")
    }

    func rollBack(_ name: String, _ rollout: Rollout, because why: String) {
        rollouts[name] = nil
        let store = ImageStore(root: config.root)
        do {
            try store.tag(name: rollout.previous.name, manifest: rollout.previous.manifest)
        } catch {
            noteError(name, "the new image of \(rollout.tag) failed (\(why)), and it cannot be rolled back: \(error)")
            return
        }
        // Not built again until the context changes again.
        buildTracks[rollout.tag, default: BuildTrack()].failed = rollout.fingerprint
        buildTracks[rollout.tag]?.built = nil
        noteError(
            name,
            "\(Self.rollbackPrefix)\(rollout.digest) of \(rollout.tag) failed: \(why); rolled back to "
                + "\(rollout.previous.manifest.digest) until its build context changes again")
    }
}
