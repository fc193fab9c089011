import BerthSpec
import Foundation
import Synchronization
import Testing

@testable import BerthRuntime

/// Volumes as containers get them (Volumes.prepare) and as the CLI manages them (VolumeStore).
@Suite struct VolumeTests {
    static func spec(_ volumes: [String], name: String = "c") throws -> ContainerSpec {
        let doc = try JSONSerialization.data(withJSONObject: ["image": "rootfs", "volumes": volumes])
        return try SpecLoader.decode(Array(doc), origin: "test", defaultName: name).get()
    }

    @Test func aVolumeIsCreatedAndFilledOnFirstUseAndNeverRefilled() throws {
        let s = try Scratch()
        try s.file("image/srv/seed", "from the image")
        try s.directory("image/srv/dir")
        let root = s.path + "/root"
        try Volumes.prepare(root: root, spec: try Self.spec(["data:/srv"]), lowerDirs: [s.path + "/image"])
        let record = try #require(VolumeStore(root: root).record("data"))
        #expect(record.name == "data" && record.driver == "local" && record.mountpoint == root + "/volumes/data/_data")
        #expect(ISO8601DateFormatter().date(from: record.createdAt) != nil)
        #expect(s.names("root/volumes/data") == ["_data", "lock", "volume.json"])
        #expect(s.names("root/volumes/data/_data") == ["dir", "seed"])

        // Not empty: left alone, whatever the image has now.
        try s.file("image/srv/seed", "changed")
        try s.file("image/srv/new", "new")
        try s.file("root/volumes/data/_data/mine", "written by a container")
        try Volumes.prepare(root: root, spec: try Self.spec(["data:/srv"]), lowerDirs: [s.path + "/image"])
        #expect(s.names("root/volumes/data/_data") == ["dir", "mine", "seed"])
        #expect(s.read("root/volumes/data/_data/seed") == "from the image")
    }

    @Test func anEmptyVolumeIsFilledFromTheFirstTargetWithContent() throws {
        let s = try Scratch()
        try s.file("image/full/seed", "x")
        try s.directory("image/empty")
        let root = s.path + "/root"
        try VolumeStore(root: root).create("made", labels: ["k": "v"])
        try Volumes.prepare(
            root: root, spec: try Self.spec(["made:/missing", "made:/empty", "other:/nothing", "made:/full"]),
            lowerDirs: [s.path + "/image"])
        #expect(s.names("root/volumes/made/_data") == ["seed"])
        #expect(VolumeStore(root: root).record("made")?.labels == ["k": "v"])
        #expect(s.names("root/volumes/other/_data") == [])
    }

    @Test func anInterruptedFillNeverCountsAsContent() throws {
        let s = try Scratch()
        try s.file("image/srv/seed", "from the image")
        let root = s.path + "/root"
        try VolumeStore(root: root).create("data")
        // Killed while copying: a partial copy, not committed.
        try s.file("root/volumes/data/.fill-0123456789abcdef/half", "partial")
        try Volumes.prepare(root: root, spec: try Self.spec(["data:/srv"]), lowerDirs: [s.path + "/image"])
        #expect(s.names("root/volumes/data") == ["_data", "lock", "volume.json"])
        #expect(s.names("root/volumes/data/_data") == ["seed"])

        // Killed after the commit, while moving in: the rest is moved in, the image not copied again.
        try s.file("root/volumes/moving/_data/moved", "moved before the kill")
        try s.file("root/volumes/moving/.fill-00000000000000ff.ready/rest", "still to move")
        try Volumes.prepare(root: root, spec: try Self.spec(["moving:/srv"]), lowerDirs: [s.path + "/image"])
        #expect(s.names("root/volumes/moving") == ["_data", "lock", "volume.json"])
        #expect(s.names("root/volumes/moving/_data") == ["moved", "rest"])
    }

    @Test func containersStartingAtOnceFillAVolumeOnce() throws {
        let s = try Scratch()
        for i in 0..<50 { try s.file("image/srv/d\(i % 5)/f\(i)", String(repeating: "x", count: i)) }
        let root = s.path + "/root"
        let spec = try Self.spec(["shared:/srv"])
        let lower = s.path + "/image"
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                try Volumes.prepare(root: root, spec: spec, lowerDirs: [lower])
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        #expect(s.names("root/volumes") == ["shared"])
        #expect(s.names("root/volumes/shared") == ["_data", "lock", "volume.json"])
        #expect(s.names("root/volumes/shared/_data") == ["d0", "d1", "d2", "d3", "d4"])
        #expect(s.names("root/volumes/shared/_data/d3").count == 10)
    }

    @Test func namesAreCheckedBeforeTheyBecomePaths() throws {
        let s = try Scratch()
        let store = VolumeStore(root: s.path + "/root")
        try s.directory("root/volumes")
        try s.file("root/outside/volume.json", "{}")
        for name in ["", "..", "../outside", "a/b", ".hidden", "-dash", "x\u{0}y", String(repeating: "a", count: 129)] {
            #expect(throws: RuntimeError.self, "\(name)") { try store.create(name) }
            #expect(store.record(name) == nil)
            #expect(try !store.remove(name))
        }
        #expect(s.read("root/outside/volume.json") == "{}")
        #expect(try store.create("Aa0_.-z").created)
        #expect(try !store.create("Aa0_.-z").created)
    }

    /// A container's record on disk, as Runtime.run writes it.
    static func record(root: String, name: String, volumes: [String]) throws {
        let id = Runtime.newID()
        let record = ContainerRecord(
            id: id, name: name, image: "rootfs", argv: ["true"], created: 1, rootfs: "/", hostname: "h", user: nil,
            workdir: nil, network: "none", env: [], owner: "cli", volumes: volumes)
        let directory = ContainerLayout(root: root, id: id).directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: directory + "/container.json"))
    }

    @Test func aVolumeInUseIsNeitherRemovedNorPruned() throws {
        let s = try Scratch()
        let root = s.path + "/root"
        let store = VolumeStore(root: root)
        for name in ["used", "used-twice", "claimed", "free", "big"] { try store.create(name) }
        try Self.record(root: root, name: "web", volumes: ["used", "used-twice"])
        try Self.record(root: root, name: "db", volumes: ["used-twice"])
        // A container being created: its name claimed, its record not written yet.
        let id = Runtime.newID()
        try s.directory("root/containers/names")
        try s.directory("root/containers/" + id)
        #expect(symlink("../" + id, root + "/containers/names/starting") == 0)
        try VolumeUsers.claim(root: root, container: "starting", volumes: ["claimed"])

        #expect(store.users() == ["used": ["web"], "used-twice": ["db", "web"], "claimed": ["starting"]])
        #expect {
            try store.remove("used-twice")
        } throws: {
            let e = $0 as? RuntimeError
            return e?.exitCode == 1 && e?.description == "remove used-twice: volume is in use by containers db, web"
        }
        #expect(throws: RuntimeError.self) { try store.remove("claimed") }
        #expect(try store.remove("free"))
        #expect(try !store.remove("free"))

        try s.file("root/volumes/big/_data/a", String(repeating: "x", count: 1000))
        #expect(link(root + "/volumes/big/_data/a", root + "/volumes/big/_data/b") == 0)
        try s.file("root/volumes/big/_data/d/c", String(repeating: "y", count: 234))
        let pruned = try store.prune()
        #expect(pruned.map(\.name) == ["big"] && pruned.map(\.size) == [1234])
        #expect(store.list().map(\.name) == ["claimed", "used", "used-twice"])
    }

    @Test func pruneRemovesLeftoversNobodyHolds() throws {
        let s = try Scratch()
        let root = s.path + "/root"
        try s.file("root/volumes/.removing-0000000000000001/_data/x", "x")
        try s.file("root/volumes/.removing-0000000000000001/lock", "")
        try s.file("root/volumes/.new-0000000000000002/lock", "")
        let held = open(root + "/volumes/.new-0000000000000002/lock", O_RDWR)
        #expect(flock(held, LOCK_EX) == 0)
        defer { close(held) }
        #expect(try VolumeStore(root: root).prune().isEmpty)
        #expect(s.names("root/volumes") == [".new-0000000000000002"])
    }

    @Test func aVolumeFromBeforeRecordsGetsOne() throws {
        let s = try Scratch()
        let root = s.path + "/root"
        try s.file("root/volumes/old/_data/kept", "kept")
        #expect(VolumeStore(root: root).list().map(\.name) == ["old"])
        try Volumes.prepare(root: root, spec: try Self.spec(["old:/srv"]), lowerDirs: [s.path])
        #expect(s.names("root/volumes/old") == ["_data", "lock", "volume.json"])
        #expect(s.names("root/volumes/old/_data") == ["kept"])
    }
}
