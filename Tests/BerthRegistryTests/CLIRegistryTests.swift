import BerthTestSupport
import CArchive
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
    /// layer, then one layer per entry of `dataLayers` (files of those names and bytes), named
    /// `name` in the store at `root`, with `cmd` as its command. Returns its manifest.
    @discardableResult
    static func makeRunnableImage(
        root: String, name: String, dataLayers: [[(String, [UInt8])]] = [],
        cmd: [String] = ["/bin/sh", "-c", "echo hello from the registry"]
    ) throws -> Manifest {
        let store = ImageStore(root: root)
        let busybox = Array(try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox")))
        let files =
            [
                [
                    ("bin/sh", busybox, 0o755), ("bin/busybox", busybox, 0o755),
                    ("etc/passwd", Array("root:x:0:0:root:/root:/bin/sh\n".utf8), 0o644),
                ]
            ] + dataLayers.map { $0.map { ($0.0, $0.1, 0o644) } }
        var layers: [Descriptor] = []
        for (index, entries) in files.enumerated() {
            let tarPath = root + "/layer-\(index).tar"
            let tar = try TarWriter(path: tarPath)
            for (path, bytes, mode) in entries { try tar.addFile(path, bytes: bytes, mode: UInt32(mode)) }
            try tar.close()
            let layerBytes = Array(try Data(contentsOf: URL(fileURLWithPath: tarPath)))
            unlink(tarPath)
            let digest = try store.content.write(layerBytes)
            layers.append(Descriptor(mediaType: MediaType.ociLayer, digest: digest, size: Int64(layerBytes.count)))
        }
        var settings = ImageConfig.Config()
        settings.cmd = cmd
        let config = ImageConfig(
            architecture: Platform.current.architecture, config: settings,
            rootfs: .init(diffIDs: layers.map(\.digest)))
        let configBytes = Array(try JSONEncoder().encode(config))
        let configDigest = try store.content.write(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: layers)
        let bytes = Array(try JSONEncoder().encode(manifest))
        let digest = try store.content.write(bytes)
        try store.tag(
            name: name, manifest: Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(bytes.count))
        )
        return manifest
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

    /// A pull killed with SIGKILL after some of its layers and before the last: the proxy in
    /// front of the registry serves every blob but the last layer, and of that one only its first
    /// 256 KiB, then holds it. The kill lands once the other blobs are in the store. What it leaves
    /// holds only whole, verified blobs and unpacked snapshots; the next pull fetches only the
    /// last layer, and the image runs.
    @Test(.integration) func aPullKilledBetweenLayersLeavesAStoreTheNextPullCompletes() async throws {
        try Integration.check()
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let (source, target) = (try makeTemporaryDirectory("berth-push"), try makeTemporaryDirectory("berth-pull"))
        defer { for root in [source, target] { try? FileManager.default.removeItem(atPath: root) } }
        let name = "test/slow:1"
        let manifest = try Self.makeRunnableImage(
            root: source, name: "\(registry.authority)/\(name)",
            dataLayers: (0..<3).map { [("data/\($0)", TestImage.pseudoRandom(2 << 20, seed: "layer \($0)"))] })
        #expect(try Self.berth(source, ["push", "-q", "\(registry.authority)/\(name)"]).status == 0)
        let last = try #require(manifest.layers.last).digest
        let proxy = try TestProxy(upstream: registry.port) { request in
            request.path.hasSuffix("/blobs/\(last)") ? .stallAfter(256 << 10) : .forward
        }
        defer { proxy.stop() }
        let pull = try ChildProcess([Self.berth, "--root", target, "pull", "-q", "\(proxy.authority)/\(name)"])
        defer { kill(pull.pid, SIGKILL) }
        let content = ContentStore(root: target)
        let before = [manifest.config.digest] + manifest.layers.dropLast().map(\.digest)
        let deadline = ContinuousClock.now + .seconds(60)
        while !(proxy.log.stalledRequests.count == 1 && before.allSatisfy(content.contains)) {
            try #require(ContinuousClock.now < deadline, "the pull never reached its last layer")
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pull.pid, SIGKILL)
        #expect(pull.terminatingSignal == SIGKILL)

        // Whole blobs only, each one verified; the last layer is at most a temp file in ingest/.
        let stored = Set(try FileManager.default.contentsOfDirectory(atPath: content.blobs))
        #expect(!stored.contains(last.hex))
        // The kill landed in the middle of the last layer: its first bytes are in ingest/.
        let ingested = try FileManager.default.contentsOfDirectory(atPath: content.ingestDirectory)
        #expect(ingested.contains { $0.hasPrefix(last.hex) }, "ingest/ holds \(ingested)")
        for hex in stored {
            let digest = try #require(Digest("sha256:" + hex))
            #expect(Digest(of: try content.read(digest)) == digest)
        }
        #expect(try Self.berth(target, ["images", "-q"]).out.isEmpty)
        // No half-unpacked layer where a mount would find it: every snapshot that is there is whole.
        let snapshots = target + "/snapshots"
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: snapshots)) ?? []
        where !entry.hasPrefix(".") && !entry.hasSuffix(".lock") {
            for part in ["fs", "link"] {
                #expect(access("\(snapshots)/\(entry)/\(part)", F_OK) == 0, "snapshot \(entry) has no \(part)")
            }
        }

        // The next pull, through a proxy that forwards everything, asks for the last layer only.
        let again = try TestProxy(upstream: registry.port)
        defer { again.stop() }
        let second = try Self.berth(target, ["pull", "-q", "\(again.authority)/\(name)"])
        #expect(second.status == 0, "\(second.err)")
        let fetched = again.requests.filter { $0.method == "GET" && $0.path.contains("/blobs/") }.map(\.path)
        #expect(fetched == ["/v2/\(name.split(separator: ":")[0])/blobs/\(last)"])
        #expect(
            try Self.berth(target, ["run", "--rm", "--pull", "never", "\(again.authority)/\(name)"]).out
                == "hello from the registry\n")
        // What the killed pull left in ingest/ is swept by the next prune.
        #expect(try Self.berth(target, ["prune"]).status == 0)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: content.ingestDirectory))?.isEmpty ?? true)
    }

    /// Two pulls of images that share their lower layers, with `berth prune` running over and
    /// over beside them: neither pull loses a blob or a snapshot to the collector (the store lock
    /// is held shared from before the download until the image is named), the shared layers are
    /// unpacked once, and both images run afterwards.
    @Test(.integration) func concurrentPullsAndGarbageCollectionKeepWhatIsInUse() async throws {
        try Integration.check()
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let (source, target) = (try makeTemporaryDirectory("berth-push"), try makeTemporaryDirectory("berth-pull"))
        defer { for root in [source, target] { try? FileManager.default.removeItem(atPath: root) } }
        let shared = (0..<2).map { [("shared/\($0)", TestImage.pseudoRandom(4 << 20, seed: "shared \($0)"))] }
        var manifests: [Manifest] = []
        for name in ["a", "b"] {
            let reference = "\(registry.authority)/test/\(name):1"
            manifests.append(
                try Self.makeRunnableImage(
                    root: source, name: reference,
                    dataLayers: shared + [[("own/\(name)", TestImage.pseudoRandom(4 << 20, seed: "own \(name)"))]]))
            #expect(try Self.berth(source, ["push", "-q", reference]).status == 0)
        }
        let pulls = ["a", "b"].map { name in
            try? ChildProcess([Self.berth, "--root", target, "pull", "-q", "\(registry.authority)/test/\(name):1"])
        }
        var prunes = 0
        while pulls.contains(where: { $0?.isRunning ?? false }) {
            // Something for prune to sweep each time, so it really marks and sweeps.
            _ = try ContentStore(root: target).write(Array("garbage \(prunes)".utf8))
            #expect(try Self.berth(target, ["prune"]).status == 0)
            prunes += 1
        }
        for pull in pulls { #expect(try #require(pull).wait() == 0) }
        #expect(prunes > 0)
        #expect(try Self.berth(target, ["prune"]).status == 0)
        let content = ContentStore(root: target)
        for manifest in manifests {
            for digest in [manifest.config.digest] + manifest.layers.map(\.digest) {
                #expect(content.contains(digest), "\(digest) was swept")
            }
        }
        // Busybox, two shared data layers, and one layer of each image's own: five snapshots.
        let snapshots = try FileManager.default.contentsOfDirectory(atPath: target + "/snapshots")
            .filter { !$0.hasPrefix(".") && !$0.hasSuffix(".lock") }
        #expect(snapshots.count == 5, "\(snapshots)")
        for name in ["a", "b"] {
            let run = try Self.berth(
                target,
                [
                    "run", "--rm", "--pull", "never", "\(registry.authority)/test/\(name):1", "busybox", "wc", "-c",
                    "/own/\(name)",
                ])
            #expect(run.status == 0 && run.out == "\(4 << 20) /own/\(name)\n", "\(run.err)")
        }
    }

    /// podman with its own store under `root` (on the sandbox's tmpfs), scopes through systemd.
    static func podmanOptions(_ root: String) -> [String] {
        [
            "--root", root + "/root", "--runroot", root + "/run", "--storage-driver", "overlay",
            "--cgroup-manager", "systemd", "--events-backend", "none",
        ]
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
        let podman = Self.podmanOptions(podmanRoot)
        let pulled = try Command.run("/usr/bin/podman", podman + ["pull", "-q", "--tls-verify=false", name])
        #expect(pulled.status == 0, "\(pulled.err)")
        let run = try Command.run("/usr/bin/podman", podman + ["run", "--rm", "--network=none", name])
        #expect(run.status == 0 && run.out == "hello from the registry\n", "\(run.err)")
        // podman keeps its overlay store mounted on itself: let it go before the folder is removed.
        _ = try? Command.run("/usr/bin/podman", podman + ["system", "reset", "--force"])
        _ = try? Command.run("/usr/bin/umount", ["-R", podmanRoot + "/root/overlay"])
    }

    /// An image another tool made (buildah: a whiteout, an opaque directory, a hard link, a
    /// symlink, a fifo, a setuid file, an xattr), pushed in OCI and in Docker format, pulled by
    /// berth: the tree berth's layers give is the tree buildah's gives, entry for entry.
    @Test(.integration, arguments: ["oci", "docker"]) func imagesBuildahMadeUnpackTheSame(format: String) async throws {
        try Integration.check()
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/buildah"), "buildah is missing")
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let work = try makeTemporaryDirectory("berth-buildah")
        let root = try makeTemporaryDirectory("berth-pull")
        defer {
            _ = try? Command.run("/usr/bin/umount", ["-R", work + "/merged"])
            _ = try? Command.run("/usr/bin/umount", ["-R", work + "/buildah/root/overlay"])
            for dir in [work, root] { try? FileManager.default.removeItem(atPath: dir) }
        }
        let name = "\(registry.authority)/test/buildah-\(format):1"
        let script = """
            set -e
            B="buildah --root \(work)/buildah/root --runroot \(work)/buildah/run --storage-driver overlay"
            c=$($B from scratch); m=$($B mount $c)
            mkdir -p $m/etc/app $m/data
            echo one > $m/etc/app/one; echo two > $m/etc/app/two; echo keep > $m/data/keep
            ln -s one $m/etc/app/link; ln $m/etc/app/one $m/etc/app/hard; mkfifo $m/etc/fifo
            chmod 4755 $m/etc/app/one; chown 1000:50 $m/data/keep
            python3 -c "import os,sys; os.setxattr(sys.argv[1], 'user.color', b'blue')" $m/etc/app/one
            $B unmount $c >/dev/null; $B commit -q $c base >/dev/null
            c2=$($B from base); m2=$($B mount $c2)
            rm $m2/etc/app/two; rm -rf $m2/data; mkdir $m2/data; echo new > $m2/data/new
            $B unmount $c2 >/dev/null; $B commit -q $c2 top >/dev/null
            $B push -q --tls-verify=false --format \(format == "oci" ? "oci" : "v2s2") top docker://\(name)
            c3=$($B from top); $B mount $c3
            """
        let built = try Command.run("/bin/sh", ["-c", script])
        try #require(built.status == 0, "buildah: \(built.err)")
        let buildahTree = built.out.trimmingCharacters(in: .whitespacesAndNewlines)

        #expect(try Self.berth(root, ["pull", "-q", name]).status == 0)
        let store = ImageStore(root: root)
        let image = try store.image(try #require(try store.find(name)))
        let lowers = try Snapshotter(root: root).prepare(image, content: store.content)
        try FileManager.default.createDirectory(atPath: work + "/merged", withIntermediateDirectories: true)
        let options = "lowerdir=\(lowers.joined(separator: ":")),redirect_dir=off,index=off,metacopy=off"
        try #require(mount("overlay", work + "/merged", "overlay", UInt(MS_RDONLY), options) == 0, "mount: \(errno)")
        #expect(try Self.tree(work + "/merged") == Self.tree(buildahTree))
        #expect(
            try Self.tree(work + "/merged").keys.sorted() == [
                "data", "data/new", "etc", "etc/app", "etc/app/hard", "etc/app/link", "etc/app/one", "etc/fifo",
            ])
    }

    /// Every entry below `root`: type, mode, owner, size, content or link target, user xattrs,
    /// and which entries share an inode.
    static func tree(_ root: String) throws -> [String: String] {
        var entries: [String: String] = [:]
        var byInode: [UInt: [String]] = [:]
        let paths = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
        for path in paths {
            var st = stat()
            guard lstat(root + "/" + path, &st) == 0 else { continue }
            var text = "\(String(st.st_mode, radix: 8)) \(st.st_uid):\(st.st_gid)"
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                text += " \(try String(contentsOfFile: root + "/" + path, encoding: .utf8))"
                byInode[UInt(st.st_ino), default: []].append(path)
            case S_IFLNK:
                text += " -> " + (try FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path))
            default: break
            }
            var value = [UInt8](repeating: 0, count: 64)
            let n = lgetxattr(root + "/" + path, "user.color", &value, value.count)
            if n > 0 { text += " user.color=" + String(decoding: value[0..<n], as: UTF8.self) }
            entries[path] = text
        }
        // Hard links: the names that share an inode, the same in both trees.
        for group in byInode.values where group.count > 1 {
            for path in group { entries[path, default: ""] += " linked " + group.sorted().joined(separator: ",") }
        }
        return entries
    }
}
