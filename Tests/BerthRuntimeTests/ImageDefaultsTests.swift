import BerthSpec
import BerthStore
import Foundation
import Testing

@testable import BerthRuntime

/// Docker's rules for what an image's configuration gives a container, and the named images.
struct ImageDefaultsTests {
    static var image: ImageConfig.Config {
        var config = ImageConfig.Config()
        config.entrypoint = ["/entry"]
        config.cmd = ["serve", "--port", "80"]
        config.env = ["PATH=/opt/bin:/usr/bin", "LANG=C.UTF-8", "EMPTY="]
        config.workingDir = "/srv"
        config.user = "app"
        config.stopSignal = "SIGQUIT"
        config.labels = ["from": "image", "both": "image"]
        return config
    }

    @Test func theImageFillsWhatTheSpecLeaves() {
        var spec = ContainerSpec(name: "x")
        spec.labels = ["both": "spec"]
        let merged = ImageDefaults.apply(Self.image, to: spec)
        #expect(merged.entrypoint == ["/entry"] && merged.command == ["serve", "--port", "80"])
        #expect(merged.workdir == "/srv" && merged.user == "app" && merged.stopSignal?.number == SIGQUIT)
        #expect(merged.labels == ["from": "image", "both": "spec"])
    }

    @Test func aCommandKeepsTheEntrypointAndAnEntrypointDropsTheCommand() {
        var spec = ContainerSpec(name: "x")
        spec.command = ["sh"]
        #expect(ImageDefaults.apply(Self.image, to: spec).entrypoint == ["/entry"])
        #expect(ImageDefaults.apply(Self.image, to: spec).command == ["sh"])
        spec.command = nil
        spec.entrypoint = ["/other"]
        let merged = ImageDefaults.apply(Self.image, to: spec)
        #expect(merged.entrypoint == ["/other"] && merged.command == nil)
        spec.entrypoint = []
        #expect(ImageDefaults.apply(Self.image, to: spec).entrypoint == [])
    }

    @Test func environmentStartsFromTheImage() throws {
        var spec = ContainerSpec(name: "x")
        spec.env = ["LANG": "en_US.UTF-8", "NEW": "1"]
        let env = try Runtime.environment(spec: spec, image: Self.image.env!, hostname: "h", home: "/home/app")
        #expect(
            env == ["PATH=/opt/bin:/usr/bin", "LANG=en_US.UTF-8", "EMPTY=", "HOSTNAME=h", "HOME=/home/app", "NEW=1"])
        let plain = try Runtime.environment(spec: ContainerSpec(name: "x"), hostname: "h", home: "/root")
        #expect(plain.first == "PATH=" + DockerDefaults.path)
    }

    @Test func namedImagesAreTaggedFoundAndUntagged() throws {
        let root = NSTemporaryDirectory() + "berth-images-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ImageStore(root: root)
        let (descriptor, configDigest) = try Self.makeImage(store)
        let manifestDigest = descriptor.digest
        let layer = try #require(Digest("sha256:" + String(repeating: "0", count: 64)))

        try store.tag(name: "docker.io/library/app:1", manifest: descriptor)
        try store.tag(name: "docker.io/library/app:latest", manifest: descriptor)
        #expect(store.list().map(\.name) == ["docker.io/library/app:1", "docker.io/library/app:latest"])
        let found = try #require(try store.find(String(configDigest.hex.prefix(12))))
        #expect(try store.image(found).config.config?.cmd == ["serve", "--port", "80"])
        #expect(try store.find(manifestDigest.description)?.manifest.digest == manifestDigest)
        #expect(try store.untag(name: "docker.io/library/app:1"))
        #expect(!(try store.untag(name: "docker.io/library/app:1")))
        #expect(store.list().map(\.name) == ["docker.io/library/app:latest"])
        // A wrong digest is refused and leaves nothing behind.
        #expect(throws: StoreError.self) { try store.content.write(Array("x".utf8), expected: layer) }
        #expect(!store.content.contains(layer))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/ingest").isEmpty)
    }

    /// A small image in `store`: a config with `image`'s settings, and one (fake) layer blob.
    static func makeImage(_ store: ImageStore, cmd: [String]? = nil) throws -> (manifest: Descriptor, config: Digest) {
        let layer = try store.content.write(Array("layer".utf8))
        var settings = Self.image
        if let cmd { settings.cmd = cmd }
        var config = ImageConfig(
            architecture: "amd64", config: settings, rootfs: ImageConfig.RootFS(diffIDs: [layer]))
        config.created = "2026-01-02T03:04:05Z"
        let configBytes = Array(try JSONEncoder().encode(config))
        let configDigest = try store.content.write(configBytes)
        let manifest = Manifest(
            config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
            layers: [Descriptor(mediaType: MediaType.ociLayer, digest: layer, size: 5)])
        let manifestBytes = Array(try JSONEncoder().encode(manifest))
        let manifestDigest = try store.content.write(manifestBytes)
        return (
            Descriptor(mediaType: MediaType.ociManifest, digest: manifestDigest, size: Int64(manifestBytes.count)),
            configDigest
        )
    }
}
