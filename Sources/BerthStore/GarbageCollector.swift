import Foundation

/// Mark and sweep, under the exclusive store lock (so no pull, load or start is half-way):
/// everything reachable from a named image or from an image a container uses is kept, with its
/// index, manifest, config and layers, and the snapshots of its layer chain; every other blob,
/// every leftover of an interrupted ingest, and every other snapshot goes.
public struct GarbageCollector: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public struct Report: Sendable, Equatable {
        public var blobsRemoved = 0
        public var snapshotsRemoved = 0
        public var bytesFreed: Int64 = 0
    }

    /// `inUse`: manifests of images that containers use (named or not).
    public func collect(inUse: Set<Digest>) throws(StoreError) -> Report {
        let lock = try StoreLock(root: root, .exclusive)
        defer { withExtendedLifetime(lock) {} }
        let images = ImageStore(root: root)
        let content = images.content
        var keep: Set<Digest> = []
        var chains: Set<Digest> = []
        var manifests = inUse
        for entry in images.list() {
            manifests.insert(entry.manifest.digest)
            if let index = entry.index { keep.insert(index) }
        }
        for digest in manifests where content.contains(digest) {
            keep.insert(digest)
            guard let manifest = try? JSONDecoder().decode(Manifest.self, from: Data(content.read(digest))) else {
                continue
            }
            keep.insert(manifest.config.digest)
            for layer in manifest.layers { keep.insert(layer.digest) }
            if let config = try? JSONDecoder().decode(
                ImageConfig.self, from: Data(content.read(manifest.config.digest)))
            {
                chains.formUnion(ChainID.chain(config.rootfs.diffIDs))
            }
        }
        var report = Report()
        for name in (try? FileManager.default.contentsOfDirectory(atPath: content.blobs)) ?? [] {
            guard let digest = Digest("sha256:" + name), !keep.contains(digest) else { continue }
            report.bytesFreed += content.size(digest) ?? 0
            if unlink(content.path(digest)) == 0 { report.blobsRemoved += 1 }
        }
        // Nothing ingests while we hold the lock exclusively: every temp file is a leftover.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: content.ingestDirectory)) ?? [] {
            let path = content.ingestDirectory + "/" + name
            var st = stat()
            if stat(path, &st) == 0 { report.bytesFreed += Int64(st.st_size) }
            unlink(path)
        }
        let swept = Snapshotter(root: root).collectGarbage(keep: chains)
        report.snapshotsRemoved = swept.removed
        report.bytesFreed += swept.bytes
        return report
    }
}
