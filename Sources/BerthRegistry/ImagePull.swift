import BerthSpec
import BerthStore
import Dispatch

/// Registries berth may reach over plain http besides loopback ones: BERTH_INSECURE_REGISTRIES,
/// comma-separated hosts (with their ports).
public func insecureRegistries(_ environment: [String: String]) -> Set<String> {
    Set((environment["BERTH_INSECURE_REGISTRIES"] ?? "").split(separator: ",").map(String.init))
}

extension RegistryClient {
    /// `berth pull` and berthd's pulls: the image fetched into the store, its layers unpacked
    /// (each as soon as its blob is stored, beside the downloads still running), then named.
    /// Call with the store lock held (shared).
    public static func pull(
        _ reference: ImageReference, root: String, platform: Platform, insecure: Set<String>,
        progress: ProgressHandler? = nil
    ) async throws -> ImageEntry {
        let store = ImageStore(root: root)
        let content = store.content
        let snapshots = Snapshotter(root: root)
        let unpacking = DispatchGroup()
        let image = try await with(store: content, insecure: insecure) { client in
            let image = try await client.resolve(reference, platform: platform)
            let diffIDs = image.config.rootfs.diffIDs
            let chains = ChainID.chain(diffIDs)
            let layers = image.manifest.layers
            try await client.fetchBlobs(layers, endpoint: client.endpoint(reference.normalized)) { report in
                progress?(report)
                guard report.phase == .done || report.phase == .alreadyPresent, diffIDs.count == layers.count
                else { return }
                for index in layers.indices where layers[index].digest == report.digest {
                    DispatchQueue.global().async(group: unpacking) {
                        // `prepare` below unpacks what this missed, and reports its error.
                        try? snapshots.unpack(
                            layers[index], diffID: diffIDs[index], chain: chains[index], content: content)
                    }
                }
            }
            return image
        }
        await withCheckedContinuation { done in unpacking.notify(queue: .global()) { done.resume() } }
        let name = ImageName.full(reference)
        try store.tag(name: name, manifest: image.manifestDescriptor, index: image.indexDescriptor)
        guard let entry = try store.find(name) else { throw StoreError("the image \(name) was not recorded") }
        // Unpacked now, as docker pull does, so the first run starts at once.
        _ = try snapshots.prepare(try store.image(entry), content: content)
        return entry
    }
}
