import BerthRegistry
import BerthSpec
import BerthTestSupport
import Foundation
import Testing

@testable import BerthStore

/// `berth auto-update` and the spec's `"pull": "newer"` against a real registry, with containers
/// made by berthd running as a unit of the sandbox's systemd, or by berth itself without it.
@Suite(.serialized) struct AutoUpdateIntegrationTests {
    static let berthd = CLIRegistryTests.packageRoot + "/.build/debug/berthd"
    /// The image's command when it works: it runs until stopped.
    static let serve = ["/bin/sh", "-c", "echo up; exec sleep 100000"]
    static let label = #""labels": {"berth.autoupdate": "registry"}"#

    /// A registry, a store to push from, a store (berth's root) to run from, a spec directory
    /// and a run directory of their own (no berthd's socket there unless one is started).
    final class World {
        let registry: RegistryServer
        let source: String
        let root: String
        let specs: String
        let run: String
        var names: [String] = []
        var daemon: Daemon?

        init() async throws {
            registry = try await RegistryServer()
            source = try makeTemporaryDirectory("berth-au-source")
            root = try makeTemporaryDirectory("berth-au-root")
            specs = root + "/specs"
            run = root + "/run"
            for directory in [specs, run] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }

        /// Builds an image (busybox, plus `marker` as a file so each version has its own digest)
        /// in the source store under `reference` and pushes it. Returns the pushed digest.
        @discardableResult
        func push(_ reference: String, marker: String, cmd: [String] = serve) throws -> String {
            try CLIRegistryTests.makeRunnableImage(
                root: source, name: reference, dataLayers: [[("version", Array(marker.utf8))]], cmd: cmd)
            let push = try CLIRegistryTests.berth(source, ["push", "-q", reference])
            try #require(push.status == 0, "push: \(push.err)")
            return push.out.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// A spec dropped in as a deploy tool would: written aside, renamed in.
        func drop(_ name: String, _ json: String) throws {
            let temp = specs + "/.\(name).json.tmp"
            try json.write(toFile: temp, atomically: false, encoding: .utf8)
            try #require(rename(temp, specs + "/\(name).json") == 0)
            if !names.contains(name) { names.append(name) }
        }

        func berth(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            try CLIRegistryTests.berth(root, ["--spec-dir", specs, "--run-dir", run] + args)
        }

        /// What the container's record says: its id and the manifest it runs.
        func record(_ name: String) -> (id: String, manifest: String)? {
            let link = root + "/containers/names/" + name
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
                let id = target.split(separator: "/").last.map(String.init),
                let data = FileManager.default.contents(atPath: root + "/containers/\(id)/container.json"),
                let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
            else { return nil }
            return (id, json["imageManifest"] as? String ?? "")
        }

        func status(_ name: String) throws -> String {
            try berth(["inspect", "--format", "{{.State.Status}}", name]).out.trimmingCharacters(
                in: .whitespacesAndNewlines)
        }

        /// The digest the store names `reference` with.
        func stored(_ reference: String) throws -> String? {
            try ImageStore(root: root).lookup(reference)?.manifest.digest.description
        }

        func tearDown() {
            daemon?.stop()
            for name in names { _ = try? berth(["rm", "-f", name]) }
            registry.stop()
            for directory in [source, root] { try? FileManager.default.removeItem(atPath: directory) }
        }
    }

    /// berthd as a real unit of the sandbox's systemd (Type=notify, as units/berthd.service has
    /// it), on the world's root, spec and run directories.
    final class Daemon {
        let unit = "berthd-au-\(UInt32.random(in: 0...UInt32.max)).service"

        init(_ world: World) throws {
            try """
            [Service]
            Type=notify
            ExecStart=\(AutoUpdateIntegrationTests.berthd) --root \(world.root) --spec-dir \(world.specs) --run-dir \(world.run)
            WatchdogSec=30s
            KillMode=mixed
            """.write(toFile: "/run/systemd/system/\(unit)", atomically: true, encoding: .utf8)
            try Self.systemctl("daemon-reload")
            try Self.systemctl("start", unit)
        }

        /// Stops berthd (its containers stay: the world's tear-down removes them).
        func stop() {
            _ = try? Self.systemctl("stop", unit)
            try? FileManager.default.removeItem(atPath: "/run/systemd/system/\(unit)")
            _ = try? Self.systemctl("daemon-reload")
        }

        static func systemctl(_ args: String...) throws {
            let r = try Command.run("/usr/bin/systemctl", args)
            try #require(r.status == 0, "systemctl \(args.joined(separator: " ")): \(r.err)")
        }
    }

    static func waitUntil(_ seconds: Double = 30, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return try condition()
    }

    /// The table's row for `name`, split into its columns (three spaces or more apart).
    static func row(_ table: String, _ name: String) -> [String]? {
        table.split(separator: "\n").map(String.init).first { $0.contains("(\(name))") }.map { line in
            line.components(separatedBy: "   ").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }
    }

    /// v1 running under berthd, v2 pushed under the same tag: a dry run says pending and changes
    /// nothing; the update pulls v2 and berthd recreates the container on it; the next run has
    /// nothing to do. A spec without the label is not looked at, an invalid one is skipped with
    /// a warning.
    @Test(.integration) func anUpdateThroughBerthdRecreatesOnTheNewDigest() async throws {
        try Integration.check()
        let world = try await World()
        defer { world.tearDown() }
        let image = "\(world.registry.authority)/test/app:1"
        let v1 = try world.push(image, marker: "1")
        let other = "\(world.registry.authority)/test/other:1"
        try world.push(other, marker: "other")
        try world.drop("au-web", #"{"image": "\#(image)", "network": "none", "stopTimeout": "1s", \#(Self.label)}"#)
        try world.drop("au-plain", #"{"image": "\#(other)", "network": "none", "stopTimeout": "1s"}"#)
        try world.drop("au-broken", #"{"image": "\#(image)", "nope": 1, \#(Self.label)}"#)
        world.daemon = try Daemon(world)
        #expect(try Self.waitUntil { try world.status("au-web") == "running" && world.record("au-web") != nil })
        let first = try #require(world.record("au-web"))
        #expect(first.manifest == v1)
        let v2 = try world.push(image, marker: "2")
        #expect(v2 != v1)

        let dry = try world.berth(["auto-update", "--dry-run"])
        #expect(dry.status == 0, "\(dry.err)")
        let pending = try #require(Self.row(dry.out, "au-web"), "\(dry.out)")
        #expect(
            pending == ["berth-au-web.scope", "\(first.id.prefix(12)) (au-web)", image, "registry", "pending"],
            "\(dry.out)")
        #expect(dry.out.hasPrefix("UNIT"))
        #expect(!dry.out.contains("au-plain"))
        #expect(dry.err.contains("au-broken: the spec is invalid"), "\(dry.err)")
        #expect(world.record("au-web")?.id == first.id && world.record("au-web")?.manifest == v1)
        #expect(try world.stored(image) == v1)

        let update = try world.berth(["auto-update"])
        #expect(update.status == 0, "\(update.out)\n\(update.err)")
        let updated = try #require(world.record("au-web"))
        #expect(updated.id != first.id)
        #expect(updated.manifest == v2)
        #expect(try world.stored(image) == v2)
        #expect(try world.status("au-web") == "running")
        #expect(
            Self.row(update.out, "au-web")
                == ["berth-au-web.scope", "\(updated.id.prefix(12)) (au-web)", image, "registry", "true"],
            "\(update.out)")

        // Up to date now: nothing to do, nothing touched.
        let again = try world.berth(["auto-update"])
        #expect(again.status == 0 && Self.row(again.out, "au-web")?.last == "false", "\(again.out)\n\(again.err)")
        #expect(world.record("au-web")?.id == updated.id)
    }

    /// A new image whose command exits 1 at once: the update fails, the old digest is tagged
    /// again and the container runs on it again; the failure is reported and the status is 1.
    /// With --rollback=false the failed container is left as it is.
    @Test(.integration) func aFailedUpdateIsRolledBack() async throws {
        try Integration.check()
        let world = try await World()
        defer { world.tearDown() }
        let image = "\(world.registry.authority)/test/app:1"
        let v1 = try world.push(image, marker: "1")
        try world.drop("au-roll", #"{"image": "\#(image)", "network": "none", "stopTimeout": "1s", \#(Self.label)}"#)
        world.daemon = try Daemon(world)
        #expect(try Self.waitUntil { try world.status("au-roll") == "running" && world.record("au-roll") != nil })
        let first = try #require(world.record("au-roll"))
        let bad = try world.push(image, marker: "bad", cmd: ["/bin/sh", "-c", "exit 1"])

        let update = try world.berth(["auto-update", "--timeout", "30"])
        #expect(update.status == 1)
        #expect(update.err.contains("au-roll: the update of \(image) to \(bad) failed: it exited with code 1"))
        #expect(update.err.contains("rolled back to \(v1)"), "\(update.err)")
        #expect(Self.row(update.out, "au-roll")?.last == "rolled back", "\(update.out)")
        let back = try #require(world.record("au-roll"))
        #expect(back.id != first.id && back.manifest == v1)
        #expect(try world.stored(image) == v1)
        #expect(try world.status("au-roll") == "running")
        // It stays up: berthd's own next passes see the store's v1 and leave it alone.
        sleep(1)
        #expect(world.record("au-roll")?.id == back.id)
        #expect(try world.status("au-roll") == "running")

        // The digest rolled back from is not tried again.
        let again = try world.berth(["auto-update", "--timeout", "30"])
        #expect(again.status == 0 && Self.row(again.out, "au-roll")?.last == "false", "\(again.out)")
        #expect(again.err.contains("which an update was rolled back from; not tried again"), "\(again.err)")
        #expect(world.record("au-roll")?.id == back.id)

        // Another new image is; with --rollback=false a failure is kept.
        let worse = try world.push(image, marker: "bad2", cmd: ["/bin/sh", "-c", "exit 1"])
        let kept = try world.berth(["auto-update", "--timeout", "30", "--rollback=false"])
        #expect(kept.status == 1)
        #expect(Self.row(kept.out, "au-roll")?.last == "failed", "\(kept.out)")
        #expect(kept.err.contains("it exited with code 1"), "\(kept.err)")
        #expect(world.record("au-roll")?.manifest == worse)
        #expect(try world.stored(image) == worse)
        #expect(try world.status("au-roll") == "exited")
    }

    /// A new image that runs but fails its health check (berthd's probes say unhealthy) is
    /// rolled back like one that exits.
    @Test(.integration) func anUpdateThatFailsItsCheckIsRolledBack() async throws {
        try Integration.check()
        let world = try await World()
        defer { world.tearDown() }
        let image = "\(world.registry.authority)/test/checked:1"
        let v1 = try world.push(image, marker: "good")
        let check =
            #""healthcheck": {"test": ["CMD", "/bin/busybox", "grep", "-q", "good", "/version"], "interval": "200ms", "retries": 2}"#
        try world.drop(
            "au-check", #"{"image": "\#(image)", "network": "none", "stopTimeout": "1s", \#(check), \#(Self.label)}"#)
        world.daemon = try Daemon(world)
        let health = { try world.berth(["inspect", "--format", "{{.State.Health.Status}}", "au-check"]).out }
        #expect(try Self.waitUntil { try health() == "healthy\n" })
        let bad = try world.push(image, marker: "broken")

        let update = try world.berth(["auto-update", "--timeout", "30"])
        #expect(update.status == 1)
        #expect(update.err.contains("the update of \(image) to \(bad) failed"), "\(update.err)")
        #expect(update.err.contains("rolled back to \(v1)"), "\(update.err)")
        #expect(world.record("au-check")?.manifest == v1)
        #expect(try Self.waitUntil { try health() == "healthy\n" })
        // The failure is in the container's journal.
        let journal = try Command.run("/usr/bin/journalctl", ["-u", "berth-au-check.scope", "-o", "cat", "--no-pager"])
        #expect(journal.out.contains("auto-update: au-check: the update of \(image)"), "\(journal.out)")
    }

    /// Without berthd, `berth auto-update` recreates the container itself, as `berth apply` does.
    @Test(.integration) func anUpdateWithoutBerthdRecreatesHere() async throws {
        try Integration.check()
        let world = try await World()
        defer { world.tearDown() }
        let image = "\(world.registry.authority)/test/app:1"
        let v1 = try world.push(image, marker: "1")
        try world.drop("au-here", #"{"image": "\#(image)", "network": "none", "stopTimeout": "1s", \#(Self.label)}"#)
        let apply = try world.berth(["apply"])
        #expect(apply.status == 0 && apply.out == "au-here: created\n", "\(apply.out)\n\(apply.err)")
        let first = try #require(world.record("au-here"))
        #expect(first.manifest == v1)
        let v2 = try world.push(image, marker: "2")

        let update = try world.berth(["auto-update"])
        #expect(update.status == 0, "\(update.out)\n\(update.err)")
        #expect(Self.row(update.out, "au-here")?.last == "true", "\(update.out)")
        let updated = try #require(world.record("au-here"))
        #expect(updated.id != first.id && updated.manifest == v2)
        #expect(try world.status("au-here") == "running")
    }

    /// `"pull": "newer"`: the first create pulls; a create with the tag unchanged in the registry
    /// asks with one HEAD and pulls nothing; a new digest under the tag is pulled on the next
    /// create; a registry that cannot be reached leaves the image in the store in use, with a
    /// warning.
    @Test(.integration) func pullPolicyNewerPullsOnlyANewDigest() async throws {
        try Integration.check()
        let world = try await World()
        defer { world.tearDown() }
        let proxy = try TestProxy(upstream: world.registry.port)
        defer { proxy.stop() }
        let image = "\(proxy.authority)/test/newer:1"
        let v1 = try world.push(image, marker: "1")
        let spec = #"{"image": "\#(image)", "pull": "newer", "network": "none", "stopTimeout": "1s"}"#
        try world.drop("au-newer", spec)
        let create = try world.berth(["apply"])
        #expect(create.status == 0 && create.out == "au-newer: created\n", "\(create.out)\n\(create.err)")
        #expect(world.record("au-newer")?.manifest == v1)

        // The same digest: one HEAD, no GET of a manifest or a blob.
        var seen = proxy.requests.count
        let same = try world.berth(["apply", "--force-recreate"])
        #expect(same.status == 0 && !same.err.contains("newer"), "\(same.out)\n\(same.err)")
        let asked = proxy.requests.dropFirst(seen).map { "\($0.method) \($0.path)" }
        #expect(asked == ["HEAD /v2/test/newer/manifests/1"], "\(asked)")
        #expect(world.record("au-newer")?.manifest == v1)

        // A new digest under the tag: pulled by the next create.
        let v2 = try world.push(image, marker: "2")
        seen = proxy.requests.count
        let newer = try world.berth(["apply", "--force-recreate"])
        #expect(newer.status == 0, "\(newer.out)\n\(newer.err)")
        #expect(world.record("au-newer")?.manifest == v2)
        #expect(try world.stored(image) == v2)
        #expect(proxy.requests.dropFirst(seen).contains { $0.method == "GET" && $0.path.hasSuffix("/manifests/1") })
        #expect(try world.status("au-newer") == "running")

        // A digest an update was rolled back from is not pulled again.
        let v3 = try world.push(image, marker: "3")
        ImageStore(root: world.root).markRolledBack(image, digest: v3)
        let refused = try world.berth(["apply", "--force-recreate"])
        #expect(refused.status == 0 && refused.err.contains("rolled back from; not pulled"), "\(refused.err)")
        #expect(world.record("au-newer")?.manifest == v2)

        // A registry nobody answers at: the image in the store, and a warning.
        let offline = "127.0.0.1:\(try freePort())/test/newer:1"
        #expect(try world.berth(["tag", image, offline]).status == 0)
        try world.drop(
            "au-offline", #"{"image": "\#(offline)", "pull": "newer", "network": "none", "stopTimeout": "1s"}"#)
        let apply = try world.berth(["apply", "au-offline"])
        #expect(apply.status == 0 && apply.out == "au-offline: created\n", "\(apply.out)\n\(apply.err)")
        #expect(apply.err.contains("au-offline: could not get a newer"), "\(apply.err)")
        #expect(world.record("au-offline")?.manifest == v2)
        #expect(try world.status("au-offline") == "running")
    }
}

/// `RegistryClient.currentDigest` against docker-registry (no root, no systemd): a HEAD, with
/// bearer tokens as a pull gets them; an index's own digest, which is what the store records as
/// the tag's after a pull; a tag that is not there is an error naming it.
@Suite(.serialized, .needsRegistry) struct CurrentDigestTests {
    @Test func aHeadWithTokensGivesTheTagsDigest() async throws {
        let issuer = try await TokenIssuer(users: ["berth": "pw"])
        defer { issuer.stop() }
        let registry = try await RegistryServer(auth: .token(issuer))
        defer { registry.stop() }
        let proxy = try TestProxy(upstream: registry.port)
        defer { proxy.stop() }
        let credentials = CredentialStore(
            files: [], overrides: [proxy.authority: Credential(username: "berth", password: "pw")])
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "current")
        try image.put(into: source.store)
        let tagged = try ImageReference(parsing: "\(proxy.authority)/team/app:v1")
        try await withClient(source.store, credentials: credentials) { client in
            try await client.push(image.manifest.descriptor, to: tagged)
        }

        let seen = (proxy.requests.count, issuer.requests.count)
        let digest = try await withClient(source.store, credentials: credentials) { client in
            try await client.currentDigest(tagged)
        }
        #expect(digest == image.manifest.descriptor.digest)
        let asked = proxy.requests.dropFirst(seen.0)
        // Refused without a token, then asked again with one: HEADs only, no manifest read.
        #expect(asked.map(\.method) == ["HEAD", "HEAD"], "\(asked.map { "\($0.method) \($0.path)" })")
        #expect(asked.allSatisfy { $0.path == "/v2/team/app/manifests/v1" })
        let accept = asked.last?.header("Accept") ?? ""
        for type in [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList]
        {
            #expect(accept.contains(type), "Accept: \(accept)")
        }
        #expect(asked.last?.header("Authorization")?.hasPrefix("Bearer ") == true)
        let tokens = issuer.requests.dropFirst(seen.1)
        #expect(
            tokens.count == 1 && tokens.allSatisfy { $0.query.contains { $0 == ("scope", "repository:team/app:pull") } }
        )

        // A tag that is not there.
        let missing = await #expect(throws: RegistryError.self) {
            try await withClient(source.store, credentials: credentials) { client in
                try await client.currentDigest(try ImageReference(parsing: "\(proxy.authority)/team/app:v2"))
            }
        }
        #expect(missing?.status == 404 && missing?.object == "manifest v2")
    }

    @Test func anIndexsDigestIsWhatThePulledTagRecords() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let amd = TestImage.make(seed: "current-amd")
        let arm = TestImage.make(seed: "current-arm", architecture: "arm64", variant: "v8")
        let index = TestImage.index([arm, amd], docker: false)
        try amd.put(into: source.store)
        try arm.put(into: source.store)
        try source.store.write(index.bytes, expected: index.descriptor.digest)
        let tagged = try ImageReference(parsing: "\(registry.authority)/berth/multi:1")
        try await withClient(source.store) { client in try await client.push(index.descriptor, to: tagged) }

        let target = try TemporaryStore()
        defer { target.cleanup() }
        let remote = try await RegistryClient.currentDigest(tagged, root: target.root, insecure: [])
        #expect(remote == index.descriptor.digest)
        let resolved = try await withClient(target.store) { client in
            try await client.pull(tagged, platform: Platform(architecture: "amd64"))
        }
        let store = ImageStore(root: target.root)
        try store.tag(name: "\(tagged)", manifest: resolved.manifestDescriptor, index: resolved.indexDescriptor)
        let entry = try #require(try store.find("\(tagged)"))
        #expect(entry.manifest.digest == amd.manifest.descriptor.digest)
        #expect(entry.tagDigest == remote)
    }
}
