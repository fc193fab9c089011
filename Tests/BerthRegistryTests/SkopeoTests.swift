import BerthSpec
import BerthStore
import BerthTestSupport
import Foundation
import Testing

@testable import BerthRegistry

/// berth against skopeo (containers/image), through the same registry: what skopeo pushes
/// (OCI and Docker formats) berth pulls, and what berth pushes skopeo reads and copies.
@Suite(.serialized, .needsRegistry, .enabled(if: Skopeo.available || Integration.required, "skopeo is not installed"))
struct SkopeoTests {
    static let amd64 = Platform(architecture: "amd64")

    /// An OCI image layout holding `image` under the tag `tag`.
    static func layout(_ image: TestImage, tag: String) throws -> String {
        let directory = try makeTemporaryDirectory("berth-layout")
        let blobs = directory + "/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true)
        for blob in image.blobs + [image.manifest] {
            try Data(blob.bytes).write(to: URL(fileURLWithPath: blobs + "/" + blob.descriptor.digest.hex))
        }
        var descriptor = image.manifest.descriptor
        descriptor.platform = nil
        descriptor.annotations = ["org.opencontainers.image.ref.name": tag]
        try Data(TestImage.encode(Index(manifests: [descriptor]))).write(
            to: URL(fileURLWithPath: directory + "/index.json"))
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(
            toFile: directory + "/oci-layout", atomically: true, encoding: .utf8)
        return directory
    }

    func skopeo(_ arguments: [String]) async throws -> String {
        let result = try await run([Skopeo.path, "--insecure-policy"] + arguments)
        guard result.status == 0 else {
            throw TestServerError(description: "skopeo \(arguments.joined(separator: " ")): \(result.output)")
        }
        return result.output
    }

    @Test func skopeoPushesBerthPulls() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let image = TestImage.make(seed: "skopeo-push")
        let layout = try Self.layout(image, tag: "v1")
        defer { try? FileManager.default.removeItem(atPath: layout) }
        for (format, mediaType) in [("oci", MediaType.ociManifest), ("v2s2", MediaType.dockerManifest)] {
            let name = "skopeo/\(format):v1"
            _ = try await skopeo([
                "copy", "--dest-tls-verify=false", "--format", format, "oci:\(layout):v1",
                "docker://\(registry.authority)/\(name)",
            ])
            let target = try TemporaryStore()
            defer { target.cleanup() }
            let resolved = try await withClient(target.store) { client in
                try await client.pull(
                    try ImageReference(parsing: "\(registry.authority)/\(name)"), platform: Self.amd64)
            }
            #expect(resolved.manifestDescriptor.mediaType == mediaType)
            #expect(resolved.manifest.layers.map(\.digest) == image.layers.map(\.descriptor.digest))
            #expect(resolved.config.config?.env?.contains("SEED=skopeo-push") == true)
            #expect(resolved.config.rootfs.diffIDs.count == 2)
            if format == "oci" { #expect(resolved.manifestDescriptor.digest == image.manifest.descriptor.digest) }
            #expect(image.layers.allSatisfy { target.store.contains($0.descriptor.digest) })
            #expect(target.ingestFiles.isEmpty)
        }
    }

    @Test func berthPushesSkopeoReads() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        for docker in [false, true] {
            let image = TestImage.make(seed: "berth-push-\(docker)", docker: docker)
            try image.put(into: source.store)
            let name = "\(registry.authority)/berth/pushed:\(docker ? "docker" : "oci")"
            try await withClient(source.store) { client in
                try await client.push(image.manifest.descriptor, to: try ImageReference(parsing: name))
            }
            let inspected = try await skopeo(["inspect", "--tls-verify=false", "docker://\(name)"])
            let json = try JSONSerialization.jsonObject(with: Data(inspected.utf8)) as? [String: Any]
            #expect(json?["Digest"] as? String == image.manifest.descriptor.digest.description)
            #expect(json?["Layers"] as? [String] == image.layers.map(\.descriptor.digest.description))
            #expect(json?["Architecture"] as? String == "amd64")
            let raw = try await skopeo(["inspect", "--raw", "--tls-verify=false", "docker://\(name)"])
            #expect(Array(raw.utf8) == image.manifest.bytes)
            // skopeo copies it out, checking every blob's digest as it goes.
            let out = try makeTemporaryDirectory("berth-skopeo-out")
            defer { try? FileManager.default.removeItem(atPath: out) }
            _ = try await skopeo(["copy", "--src-tls-verify=false", "docker://\(name)", "dir:\(out)/image"])
            for layer in image.layers {
                #expect(
                    FileManager.default.contents(atPath: "\(out)/image/\(layer.descriptor.digest.hex)")
                        == Data(layer.bytes))
            }
        }
    }
}

enum Skopeo {
    static let path = "/usr/bin/skopeo"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }
}
