import BerthTestSupport
import Foundation
import Testing

@testable import BerthStore

/// `berth push`, `pull` and `run` (pulling what is missing) against a real registry, as a user
/// drives them; and a pull killed half-way.
@Suite(.serialized) struct CLIRegistryTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let berth = packageRoot + "/.build/debug/berth"

    static func berth(_ root: String, _ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try Command.run(berth, ["--root", root] + args)
    }

    /// An image that runs: busybox as /bin/sh and /bin/busybox, plus a passwd, in one plain-tar
    /// layer, named `name` in the store at `root`.
    static func makeRunnableImage(root: String, name: String) throws {
        let store = ImageStore(root: root)
        let tarPath = root + "/layer.tar"
        let busybox = Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox")))
        let tar = try TarWriter(path: tarPath)
        try tar.addFile("bin/sh", bytes: busybox, mode: 0o755)
        try tar.addFile("bin/busybox", bytes: busybox, mode: 0o755)
        try tar.addFile("etc/passwd", bytes: Array("root:x:0:0:root:/root:/bin/sh\n".utf8))
        try tar.close()
        let layerBytes = Array(try Data(contentsOf: URL(fileURLWithPath: tarPath)))
        unlink(tarPath)
        let layer = try store.content.write(layerBytes)
        var settings = ImageConfig.Config()
        settings.cmd = ["/bin/sh", "-c", "echo hello from the registry"]
        let config = ImageConfig(
            architecture: Platform.current.architecture, config: settings, rootfs: .init(diffIDs: [layer]))
        let configBytes = Array(try JSONEncoder().encode(config))
        let configDigest = try store.content.write(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: [Descriptor(mediaType: MediaType.ociLayer, digest: layer, size: Int64(layerBytes.count))])
        let bytes = Array(try JSONEncoder().encode(manifest))
        let digest = try store.content.write(bytes)
        try store.tag(
            name: name, manifest: Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(bytes.count))
        )
    }

    @Test(.integration) func pushThenPullAndRunElsewhere() async throws {
        try Integration.check()
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let (source, target) = (try makeTemporaryDirectory("berth-push"), try makeTemporaryDirectory("berth-pull"))
        defer { for root in [source, target] { try? FileManager.default.removeItem(atPath: root) } }
        let name = "\(registry.authority)/test/app:1"
        try Self.makeRunnableImage(root: source, name: name)

        let push = try Self.berth(source, ["push", "-q", name])
        #expect(push.status == 0 && push.out.hasPrefix("sha256:"))
        let digest = push.out.trimmingCharacters(in: .whitespacesAndNewlines)
        // Not in the target's store: run pulls it (saying so, as Docker does), then runs it.
        let run = try Self.berth(target, ["run", "--rm", name])
        #expect(run.status == 0 && run.out == "hello from the registry\n")
        #expect(run.err.contains("Unable to find image"))
        #expect(
            try Self.berth(target, ["run", "--rm", "--pull", "never", name, "sh", "-c", "echo again"]).out == "again\n")
        // By digest, and listed.
        let byDigest = try Self.berth(target, ["pull", "-q", "\(registry.authority)/test/app@\(digest)"])
        #expect(byDigest.status == 0 && byDigest.out == "\(registry.authority)/test/app@\(digest)\n")
        #expect(try Self.berth(target, ["images"]).out.contains("\(registry.authority)/test/app"))
    }

    /// A pull killed with SIGKILL after some of its blob traffic: the store holds only whole,
    /// verified blobs, and the next pull completes.
    @Test(.integration) func aPullKilledHalfWayLeavesAStoreTheNextPullCompletes() async throws {
        try Integration.check()
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let (source, target) = (try makeTemporaryDirectory("berth-push"), try makeTemporaryDirectory("berth-pull"))
        defer { for root in [source, target] { try? FileManager.default.removeItem(atPath: root) } }
        try Self.makeRunnableImage(root: source, name: "\(registry.authority)/test/slow:1")
        #expect(try Self.berth(source, ["push", "-q", "\(registry.authority)/test/slow:1"]).status == 0)
        // Blob requests through the proxy wait 3 s: the kill lands after the manifest and config.
        let proxy = try TestProxy(upstream: registry.port, delay: .seconds(3))
        defer { proxy.stop() }
        let pull = try ChildProcess([Self.berth, "--root", target, "pull", "-q", "\(proxy.authority)/test/slow:1"])
        try await Task.sleep(for: .milliseconds(1500))
        kill(pull.pid, SIGKILL)
        #expect(pull.terminatingSignal == SIGKILL)
        let content = ContentStore(root: target)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: content.blobs)) ?? [] {
            let digest = try #require(Digest("sha256:" + name))
            #expect(Digest(of: try content.read(digest)) == digest)
        }
        #expect(try Self.berth(target, ["images", "-q"]).out.isEmpty)
        let again = try Self.berth(target, ["pull", "-q", "\(registry.authority)/test/slow:1"])
        #expect(again.status == 0)
        #expect(
            try Self.berth(target, ["run", "--rm", "--pull", "never", "\(registry.authority)/test/slow:1"]).out
                == "hello from the registry\n")
        // What the killed pull left in ingest/ is swept by the next prune.
        #expect(try Self.berth(target, ["prune"]).status == 0)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: content.ingestDirectory))?.isEmpty ?? true)
    }

    /// The other direction: an image berth pushed is pulled and run by podman (an interop
    /// partner in the tests only; berth never needs it).
    @Test(.integration) func podmanRunsWhatBerthPushed() async throws {
        try Integration.check()
        try #require(
            FileManager.default.isExecutableFile(atPath: "/usr/bin/podman"), "podman is missing: scripts/install-deps")
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let (source, podmanRoot) = (try makeTemporaryDirectory("berth-push"), try makeTemporaryDirectory("podman"))
        defer { for root in [source, podmanRoot] { try? FileManager.default.removeItem(atPath: root) } }
        let name = "\(registry.authority)/test/interop:1"
        try Self.makeRunnableImage(root: source, name: name)
        #expect(try Self.berth(source, ["push", "-q", name]).status == 0)
        let podman = [
            "--root", podmanRoot + "/root", "--runroot", podmanRoot + "/run", "--storage-driver", "overlay",
            "--cgroup-manager", "systemd", "--events-backend", "none",
        ]
        let pulled = try Command.run("/usr/bin/podman", podman + ["pull", "-q", "--tls-verify=false", name])
        #expect(pulled.status == 0, "\(pulled.err)")
        let run = try Command.run("/usr/bin/podman", podman + ["run", "--rm", "--network=none", name])
        #expect(run.status == 0 && run.out == "hello from the registry\n", "\(run.err)")
        // podman keeps its overlay store mounted on itself: let it go before the folder is removed.
        _ = try? Command.run("/usr/bin/podman", podman + ["system", "reset", "--force"])
        _ = try? Command.run("/usr/bin/umount", ["-R", podmanRoot + "/root/overlay"])
    }
}
