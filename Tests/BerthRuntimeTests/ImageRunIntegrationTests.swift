import BerthTestSupport
import Foundation
import Testing

@testable import BerthStore

/// `berth run IMAGE`: an image in the store runs on an overlay of its unpacked layers, with its
/// configuration's defaults, and containers of one image share its layers.
@Suite(.serialized) struct ImageRunIntegrationTests {
    typealias CLI = CLIIntegrationTests

    /// busybox (as a file per tool: hard links) and a passwd in one layer; a config file in a
    /// second; the image's defaults in its config.
    /// - Parameter variant: a file that makes the base layer differ, so another suite's images
    ///   share no layer with these (a prune here would not find the layers they use free).
    static func makeImage(name: String, extraLayers: Int = 0, variant: String? = nil) throws {
        let store = ImageStore(root: CLI.root)
        var base: [LayerTests.Entry] = [LayerTests.dir("bin"), LayerTests.dir("etc"), LayerTests.dir("srv")]
        base.append(try busyboxEntry())
        for tool in ["sh", "cat", "echo", "ls", "sleep", "id", "pwd", "touch", "wc"] {
            base.append(LayerTests.Entry(path: "bin/\(tool)", hardlink: "bin/busybox"))
        }
        base.append(LayerTests.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:100:100:app:/srv:/bin/sh\n"))
        base.append(LayerTests.file("etc/group", "root:x:0:\napp:x:100:\n"))
        if let variant { base.append(LayerTests.file("etc/variant", variant)) }
        let first = try LayerTests.layer(base, store: store.content)
        let second = try LayerTests.layer([LayerTests.file("srv/message", "from the image\n")], store: store.content)
        var more: [(Descriptor, Digest)] = []
        for n in 0..<extraLayers {
            more.append(try LayerTests.layer([LayerTests.file("deep/\(n)", "\(n)")], store: store.content, gzip: false))
        }
        var settings = ImageConfig.Config()
        settings.cmd = ["sh", "-c", "cat message; echo $GREETING; id -u; pwd"]
        settings.env = ["PATH=/bin", "GREETING=hello"]
        settings.workingDir = "/srv"
        settings.user = "app"
        let config = ImageConfig(
            architecture: Platform.current.architecture, config: settings,
            rootfs: ImageConfig.RootFS(diffIDs: [first.1, second.1] + more.map(\.1)))
        let configBytes = Array(try JSONEncoder().encode(config))
        let configDigest = try store.content.write(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: [first.0, second.0] + more.map(\.0))
        let bytes = Array(try JSONEncoder().encode(manifest))
        let digest = try store.content.write(bytes)
        try store.tag(
            name: name, manifest: Descriptor(mediaType: MediaType.ociManifest, digest: digest, size: Int64(bytes.count))
        )
    }

    static func busyboxEntry() throws -> LayerTests.Entry {
        let data = try Data(contentsOf: URL(fileURLWithPath: "/bin/busybox"))
        var entry = LayerTests.Entry(path: "bin/busybox", mode: 0o755)
        entry.binary = Array(data)
        return entry
    }

    @Test(.integration) func anImageRunsWithItsDefaultsOnSharedLayers() throws {
        try Integration.check()
        let image = "example.com/test/app:\(UInt32.random(in: 0...UInt32.max))"
        try Self.makeImage(name: image)
        let run = try CLI.berth(["run", "--rm", image])
        #expect(run.status == 0)
        #expect(run.out == "from the image\nhello\n100\n/srv\n")
        // A command replaces the image's; the container's writes stay in its own layer.
        let a = RuntimeIntegrationTests.unique("img-a")
        let b = RuntimeIntegrationTests.unique("img-b")
        #expect(
            try CLI.berth(["run", "--name", a, "-u", "root", image, "sh", "-c", "echo changed > /srv/message"]).status
                == 0)
        #expect(try CLI.berth(["run", "--name", b, image, "cat", "/srv/message"]).out == "from the image\n")
        let lowerA = try CLI.berth(["inspect", "--format", "{{.GraphDriver.Data.LowerDir}}", a]).out
        let lowerB = try CLI.berth(["inspect", "--format", "{{.GraphDriver.Data.LowerDir}}", b]).out
        #expect(lowerA == lowerB && lowerA.contains("/l/"))
        #expect(try CLI.berth(["ps", "-a"]).out.contains("test/app"))
        #expect(try CLI.berth(["rm", a, b]).status == 0)
        // An image that is not in the store: Docker's words.
        let missing = try CLI.berth(["run", "--rm", "--pull", "never", "example.com/none:1"])
        #expect(missing.status == 125 && missing.err.contains("Unable to find image"))
        // Once nothing names it and no container uses it, prune takes its blobs and layers.
        #expect(try CLI.berth(["rmi", image]).status == 0)
        let pruned = try CLI.berth(["prune"]).out
        #expect(pruned.contains("and 2 unpacked layers"))
    }

    /// 130 layers, Docker's limit and more: named relative to berth's root, the overlay's lower
    /// layers fit the one page of mount options (absolute, they would take 4.8 KB here).
    @Test(.integration) func aDeepStackOfLayersMounts() throws {
        try Integration.check()
        let image = "example.com/test/deep:\(UInt32.random(in: 0...UInt32.max))"
        try Self.makeImage(name: image, extraLayers: 128)
        let run = try CLI.berth(["run", "--rm", image, "sh", "-c", "ls /deep | wc -l; cat /deep/127"])
        #expect(run.status == 0 && run.out == "128\n127")
        #expect(try CLI.berth(["rmi", image]).status == 0)
    }
}
