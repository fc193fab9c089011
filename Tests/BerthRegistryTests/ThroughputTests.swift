import BerthSpec
import BerthStore
import Foundation
import Testing

@testable import BerthRegistry

#if canImport(Glibc)
    import Glibc
#endif

/// A pull of one large layer from the local registry, timed, with the process's peak memory
/// before and after. Only with BERTH_REGISTRY_BENCH=1 (it moves BERTH_REGISTRY_BENCH_MB, default
/// 100, megabytes twice); prints what it measured.
@Suite(
    .serialized, .needsRegistry,
    .enabled(if: ProcessInfo.processInfo.environment["BERTH_REGISTRY_BENCH"] == "1", "set BERTH_REGISTRY_BENCH=1"))
struct ThroughputTests {
    /// The process's resident memory now, in MiB.
    static func rss() -> Int {
        let statm = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8)) ?? ""
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (pages * Int(sysconf(Int32(_SC_PAGESIZE)))) >> 20
    }

    /// Samples `rss()` every 5 ms on a thread of its own until stopped; the highest seen.
    final class Sampler: @unchecked Sendable {
        private let lock = NSLock()
        private var highest = 0
        private var running = true

        init() {
            Thread { [self] in
                while lock.withLock({ running }) {
                    let now = ThroughputTests.rss()
                    lock.withLock { highest = max(highest, now) }
                    usleep(5000)
                }
            }.start()
        }

        func stop() -> Int {
            lock.withLock {
                running = false
                return highest
            }
        }
    }

    @Test func pullOfALargeLayer() async throws {
        let megabytes = Int(ProcessInfo.processInfo.environment["BERTH_REGISTRY_BENCH_MB"] ?? "") ?? 100
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        // The layer goes into the store a megabyte at a time: never whole in memory.
        let writer = try source.store.ingest()
        for n in 0..<megabytes {
            let chunk = TestImage.pseudoRandom(1 << 20, seed: "bench-\(n)")
            var failure: StoreError?
            chunk.withUnsafeBytes { bytes in
                do throws(StoreError) { try writer.write(bytes) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        let layerDigest = try writer.commit()
        let layer = Descriptor(mediaType: MediaType.ociLayer, digest: layerDigest, size: Int64(megabytes) << 20)
        let config = TestImage.encode(
            ImageConfig(architecture: "amd64", config: nil, rootfs: .init(diffIDs: [layerDigest])))
        let configDigest = try source.store.write(config)
        let manifestBytes = TestImage.encode(
            Manifest(
                config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(config.count)),
                layers: [layer]))
        let manifest = Descriptor(
            mediaType: MediaType.ociManifest, digest: try source.store.write(manifestBytes),
            size: Int64(manifestBytes.count))
        let reference = try ImageReference(parsing: "\(registry.authority)/bench/large:v1")

        let before = Self.rss()
        let sampler = Sampler()
        let pushStart = ContinuousClock.now
        try await withClient(source.store) { try await $0.push(manifest, to: reference) }
        let pushTime = ContinuousClock.now - pushStart
        let target = try TemporaryStore()
        defer { target.cleanup() }
        let pullStart = ContinuousClock.now
        try await withClient(target.store) { try await $0.pull(reference, platform: Platform(architecture: "amd64")) }
        let pullTime = ContinuousClock.now - pullStart
        let highest = sampler.stop()
        #expect(target.store.contains(layerDigest))
        let seconds = { (d: Duration) in Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
        let size = Double(megabytes) * 1.048576
        print(
            "throughput: \(megabytes) MiB layer: push \(String(format: "%.2f", seconds(pushTime))) s"
                + " (\(String(format: "%.0f", size / seconds(pushTime))) MB/s),"
                + " pull \(String(format: "%.2f", seconds(pullTime))) s (\(String(format: "%.0f", size / seconds(pullTime))) MB/s);"
                + " resident memory \(before) MiB before, at most \(highest) MiB during")
        // Streamed both ways: memory grows by far less than the layer.
        #expect(highest - before < megabytes / 2)
    }
}
