import BerthStore
import Foundation
import Testing

/// `images`, `tag`, `rmi` and `image inspect` on a store made by the test.
@Suite(.serialized) struct ImageCLITests {
    @Test func imageCommands() throws {
        let root = NSTemporaryDirectory() + "berth-image-cli-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ImageStore(root: root)
        let (manifest, config) = try ImageDefaultsTests.makeImage(store)
        try store.tag(name: "docker.io/library/app:1", manifest: manifest)
        func berth(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            try CLIIntegrationTests.berth(["--root", root] + args)
        }
        #expect(try berth(["tag", "app:1", "example.com:5000/team/app"]).status == 0)
        let listing = try berth(["images"]).out.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true)
        }
        #expect(listing.count == 3)
        #expect(
            listing.dropFirst().map { "\($0[0]):\($0[1]) \($0[2])" }.sorted() == [
                "app:1 \(config.hex.prefix(12))", "example.com:5000/team/app:latest \(config.hex.prefix(12))",
            ])
        #expect(
            try berth(["image", "inspect", "--format", "{{.Id}} {{.Config.WorkingDir}}", "app:1"]).out
                == "\(config) /srv\n")
        #expect(try berth(["rmi", "app:1"]).out == "Untagged: app:1\n")
        // By ID, every remaining name goes.
        #expect(try berth(["rmi", String(config.hex.prefix(8))]).out == "Untagged: example.com:5000/team/app:latest\n")
        #expect(try berth(["images", "-q"]).out == "")
        #expect(try berth(["rmi", "app:1"]).status == 1)

        // Nothing names it now: prune removes its blobs and an interrupted ingest's leftover.
        try store.tag(
            name: "docker.io/library/kept:1", manifest: try ImageDefaultsTests.makeImage(store, cmd: ["kept"]).0)
        _ = FileManager.default.createFile(atPath: root + "/ingest/blob-leftover", contents: Data("partial".utf8))
        let pruned = try berth(["prune"])
        #expect(pruned.status == 0 && pruned.out.hasPrefix("Deleted 2 blobs"))
        #expect(!store.content.contains(manifest.digest) && !store.content.contains(config))
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/ingest").isEmpty)
        let kept = try #require(try store.find("docker.io/library/kept:1"))
        #expect(try store.image(kept).config.config?.cmd == ["kept"])
    }
}
