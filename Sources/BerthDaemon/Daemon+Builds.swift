import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// A spec's image that berthd builds: the context's fingerprint it last built (kept in
/// ROOT/berthd-builds.json, so a restart builds nothing that did not change), the one whose
/// build or image failed (not tried again until the context changes), and the one building.
struct BuildTrack: Codable, Equatable {
    var built: String?
    var failed: String?
    var building: String?
}

struct BuildDone: Sendable {
    var tag: String
    var fingerprint: String
    var before: ImageEntry
    var result: Result<String, RuntimeError>
}

extension Daemon {
    var buildsFile: String { config.root + "/berthd-builds.json" }

    func loadBuildTracks() -> [String: BuildTrack] {
        guard let data = FileManager.default.contents(atPath: buildsFile),
            var tracks = try? JSONDecoder().decode([String: BuildTrack].self, from: data)
        else { return [:] }
        for key in tracks.keys { tracks[key]?.building = nil }
        return tracks
    }

    private func saveBuildTracks() {
        let kept = buildTracks.filter { $0.value.built != nil || $0.value.failed != nil }.mapValues {
            BuildTrack(built: $0.built, failed: $0.failed)
        }
        guard let data = try? JSONEncoder().encode(kept) else { return }
        try? data.write(to: URL(fileURLWithPath: buildsFile), options: .atomic)
    }

    /// In each pass, before planning: the contexts watched, and a build started for every spec
    /// image whose context changed since it was built (its containers run on meanwhile).
    /// Returns the tags building, whose containers are not created or recreated until then.
    func startBuilds() -> Set<String> {
        let check = contextsToCheck
        contextsToCheck = false
        var contextsWanted: Set<String> = []
        var building: Set<String> = []
        let store = ImageStore(root: config.root)
        for loaded in specs.specs {
            guard let build = loaded.spec.build, let tag = loaded.spec.image?.description else { continue }
            contextsWanted.insert(build.context)
            if buildTracks[tag]?.building != nil {
                building.insert(tag)
                continue
            }
            guard check else { continue }
            guard let fingerprint = ContextFingerprint.of(build) else {
                noteError(loaded.spec.name, "cannot read the build context \(build.context) (or it is too large)")
                continue
            }
            let track = buildTracks[tag] ?? BuildTrack()
            if track.built == fingerprint || track.failed == fingerprint { continue }
            guard let before = (try? store.lookup(tag)) ?? nil else {
                // No image yet: the create builds it, from this state of the context.
                buildTracks[tag, default: BuildTrack()].built = fingerprint
                saveBuildTracks()
                continue
            }
            buildTracks[tag, default: BuildTrack()].building = fingerprint
            building.insert(tag)
            log(6, "\(tag): building, its context \(build.context) changed")
            let (executor, mailbox) = (executor, builds)
            pool.submit {
                let result = executor.rebuild(tag, build)
                mailbox.post(BuildDone(tag: tag, fingerprint: fingerprint, before: before, result: result))
            }
        }
        // A change during a build is looked at once the build is done.
        if check && !building.isEmpty { contextsToCheck = true }
        contexts.watch(contextsWanted)
        for context in contexts.truncated where !toldTruncated.contains(context) {
            toldTruncated.insert(context)
            log(4, "\(context) has more than \(ContextWatcher.maximumDirectories) directories: not all are watched")
        }
        return building
    }

    func completeBuilds() {
        for done in builds.take() {
            buildTracks[done.tag]?.building = nil
            let names = specs.specs.filter { $0.spec.image?.description == done.tag }.map(\.spec.name)
            switch done.result {
            case .success(let digest):
                buildTracks[done.tag]?.built = done.fingerprint
                buildTracks[done.tag]?.failed = nil
                for name in names where memory[name]?.lastError?.hasPrefix("the build of") == true {
                    memory[name]?.lastError = nil
                }
                if digest == done.before.manifest.digest.description {
                    log(6, "\(done.tag): built, the image is unchanged")
                } else {
                    log(6, "\(done.tag): built a new image \(digest); recreating \(names.joined(separator: ", "))")
                    for name in names {
                        rollouts[name] = Rollout(
                            tag: done.tag, fingerprint: done.fingerprint, previous: done.before, digest: digest,
                            deadline: Timestamp.nanoseconds() + Rollout.bound)
                    }
                }
            case .failure(let error):
                buildTracks[done.tag]?.failed = done.fingerprint
                for name in names {
                    noteError(
                        name,
                        "the build of \(done.tag) failed: \(error); the container keeps its image until the context changes"
                    )
                }
            }
            saveBuildTracks()
        }
    }
}
