import CArchive
import Foundation
import Testing

@testable import BerthStore

/// `berth load` and `berth save`: OCI layouts and docker archives, both ways, and what a broken
/// archive gets.
@Suite(.serialized) struct ImageArchiveTests {
    static func temp(_ stem: String) -> String {
        NSTemporaryDirectory() + "berth-\(stem)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// A plain tar layer with one file.
    static func layer(_ file: String, _ content: String) throws -> [UInt8] {
        let path = temp("layer") + ".tar"
        defer { unlink(path) }
        let tar = try TarWriter(path: path)
        try tar.addFile(file, bytes: Array(content.utf8))
        try tar.close()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// `bytes` compressed with gzip by libarchive.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let path = temp("gz") + ".gz"
        defer { unlink(path) }
        let archive = try #require(archive_write_new())
        archive_write_set_format_raw(archive)
        archive_write_add_filter_gzip(archive)
        #expect(archive_write_open_filename(archive, path) == ARCHIVE_OK)
        let entry = archive_entry_new()
        archive_entry_set_filetype(entry, 0o100000)
        archive_entry_set_pathname(entry, "data")
        #expect(archive_write_header(archive, entry) == ARCHIVE_OK)
        _ = bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
        archive_entry_free(entry)
        archive_write_close(archive)
        archive_write_free(archive)
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// An image of two gzip layers in `store`, named `name`.
    static func makeImage(_ store: ImageStore, name: String) throws -> Image {
        let plain = [try layer("etc/one", "1"), try layer("etc/two", "2")]
        var layers: [Descriptor] = []
        for tar in plain {
            let compressed = try gzip(tar)
            let digest = try store.content.write(compressed)
            layers.append(Descriptor(mediaType: MediaType.ociLayerGzip, digest: digest, size: Int64(compressed.count)))
        }
        var settings = ImageConfig.Config()
        settings.cmd = ["/bin/sh"]
        let config = ImageConfig(
            architecture: Platform.current.architecture, config: settings,
            rootfs: ImageConfig.RootFS(diffIDs: plain.map { Digest(of: $0) }))
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
        return try store.image(try #require(try store.find(name)))
    }

    @Test(arguments: ImageArchive.Format.allCases) func saveThenLoadIntoAnotherStore(format: ImageArchive.Format) throws
    {
        let (from, to) = (Self.temp("from"), Self.temp("to"))
        let archive = Self.temp("archive") + ".tar"
        defer { for path in [from, to, archive] { try? FileManager.default.removeItem(atPath: path) } }
        let source = ImageStore(root: from)
        let image = try Self.makeImage(source, name: "example.com/team/app:1")
        try ImageArchive(store: source).save(names: ["example.com/team/app:1"], to: archive, format: format)

        let target = ImageStore(root: to)
        #expect(try ImageArchive(store: target).load(path: archive) == ["example.com/team/app:1"])
        let loaded = try target.image(try #require(try target.find("example.com/team/app:1")))
        // The same image: its config (its ID) and layers' content, whatever their compression.
        #expect(loaded.configDigest == image.configDigest)
        #expect(loaded.config.config?.cmd == ["/bin/sh"])
        for layer in loaded.manifest.layers { #expect(target.content.contains(layer.digest)) }
        if format == .docker {
            #expect(loaded.manifest.layers.map(\.digest) == image.config.rootfs.diffIDs)
        } else {
            #expect(loaded.manifest == image.manifest)
        }
    }

    @Test func aDirectoryLayoutLoadsAndItsNamesAreKept() throws {
        let (from, to, layout) = (Self.temp("from"), Self.temp("to"), Self.temp("layout"))
        defer { for path in [from, to, layout] { try? FileManager.default.removeItem(atPath: path) } }
        let source = ImageStore(root: from)
        let image = try Self.makeImage(source, name: "docker.io/library/app:2")
        // A layout directory as skopeo or buildah write it: blobs, index.json, oci-layout.
        try FileManager.default.createDirectory(atPath: layout + "/blobs/sha256", withIntermediateDirectories: true)
        let entry = try #require(try source.find("docker.io/library/app:2"))
        for digest in [entry.manifest.digest, image.configDigest] + image.manifest.layers.map(\.digest) {
            try FileManager.default.copyItem(
                atPath: source.content.path(digest), toPath: layout + "/blobs/sha256/" + digest.hex)
        }
        var descriptor = entry.manifest
        descriptor.annotations = [ImageStore.nameAnnotation: "docker.io/library/app:2"]
        try JSONEncoder().encode(Index(manifests: [descriptor])).write(to: URL(fileURLWithPath: layout + "/index.json"))
        try Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8).write(to: URL(fileURLWithPath: layout + "/oci-layout"))

        let target = ImageStore(root: to)
        #expect(try ImageArchive(store: target).load(path: layout) == ["docker.io/library/app:2"])
        // A blob that does not match its name is refused, and nothing half-written stays.
        try Data("not the layer".utf8).write(
            to: URL(fileURLWithPath: layout + "/blobs/sha256/" + image.manifest.layers[0].digest.hex))
        let fresh = ImageStore(root: to + "-2")
        defer { try? FileManager.default.removeItem(atPath: to + "-2") }
        #expect(throws: StoreError.self) { try ImageArchive(store: fresh).load(path: layout) }
        #expect(fresh.list().isEmpty)
        #expect((try? FileManager.default.contentsOfDirectory(atPath: to + "-2/ingest"))?.isEmpty ?? true)
    }
}
