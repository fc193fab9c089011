import ArgumentParser
import BerthRegistry
import BerthSpec
import BerthStore
import Foundation

/// Registries berth may reach over plain http besides loopback ones: BERTH_INSECURE_REGISTRIES,
/// comma-separated hosts (with their ports).
func insecureRegistries() -> Set<String> {
    Set((ProcessInfo.processInfo.environment["BERTH_INSECURE_REGISTRIES"] ?? "").split(separator: ",").map(String.init))
}

/// Pulls `reference` into the store, unpacks its layers, and names it; returns its entry. Call
/// with the store lock held (shared).
func pullImage(_ text: String, root: String, platform: Platform, quiet: Bool) throws -> ImageEntry {
    let reference: ImageReference
    do {
        reference = try ImageReference(parsing: text)
    } catch {
        die(125, "invalid reference \(text): \(error)")
    }
    let store = ImageStore(root: root)
    let renderer = ProgressRenderer(interactive: quiet ? false : nil)
    let content = store.content
    let insecure = insecureRegistries()
    let snapshots = Snapshotter(root: root)
    // Each layer is unpacked as soon as its blob is stored, beside the downloads still running;
    // `prepare` below unpacks what this missed (and reports its error).
    let unpacking = DispatchGroup()
    let image = try blockOn {
        try await RegistryClient.with(store: content, insecure: insecure) { client in
            let image = try await client.resolve(reference, platform: platform)
            let diffIDs = image.config.rootfs.diffIDs
            let chains = ChainID.chain(diffIDs)
            let layers = image.manifest.layers
            try await client.fetchBlobs(layers, endpoint: client.endpoint(reference.normalized)) { progress in
                renderer.update(progress)
                guard progress.phase == .done || progress.phase == .alreadyPresent, diffIDs.count == layers.count
                else { return }
                for index in layers.indices where layers[index].digest == progress.digest {
                    DispatchQueue.global().async(group: unpacking) {
                        try? snapshots.unpack(
                            layers[index], diffID: diffIDs[index], chain: chains[index], content: content)
                    }
                }
            }
            return image
        }
    }
    unpacking.wait()
    renderer.finish()
    let name = ImageName.full(reference)
    try store.tag(name: name, manifest: image.manifestDescriptor, index: image.indexDescriptor)
    guard let entry = try store.find(name) else { throw StoreError("the image \(name) was not recorded") }
    // Unpacked now, as docker pull does, so the first run starts at once.
    _ = try snapshots.prepare(try store.image(entry), content: content)
    return entry
}

struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pull an image from a registry into the store (and unpack its layers).")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Print only the image's name.") var quiet = false
    @Option(help: "The platform to choose from a multi-platform image, e.g. linux/arm64.") var platform: String?
    @Argument(help: "NAME[:TAG|@DIGEST]") var image: String

    func run() throws {
        guard let chosen = platform.map({ Platform(parsing: $0) }) ?? Platform.current else {
            die(125, "invalid --platform \(platform ?? "")")
        }
        do {
            let lock = try StoreLock(root: berth.global.root, .shared)
            let entry = try pullImage(image, root: berth.global.root, platform: chosen, quiet: quiet)
            withExtendedLifetime(lock) {}
            if !quiet { print("Digest: \(entry.index ?? entry.manifest.digest)") }
            print(entry.name)
        } catch {
            die(1, "\(error)")
        }
    }
}

struct Push: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Push an image from the store to its registry.")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Print only the pushed digest.") var quiet = false
    @Argument(help: "NAME[:TAG]: an image in the store, named for the registry to push to.") var image: String

    func run() throws {
        let store = ImageStore(root: berth.global.root)
        guard let entry = try findImage(store, image), let reference = try? ImageReference(parsing: entry.name) else {
            die(1, "no such image: \(image)")
        }
        let renderer = ProgressRenderer(interactive: quiet ? false : nil, direction: .upload)
        let content = store.content
        let insecure = insecureRegistries()
        let manifest = entry.manifest
        do {
            let lock = try StoreLock(root: berth.global.root, .shared)
            let digest = try blockOn {
                try await RegistryClient.with(store: content, insecure: insecure) { client in
                    try await client.push(manifest, to: reference, progress: { renderer.update($0) })
                }
            }
            withExtendedLifetime(lock) {}
            renderer.finish()
            print(quiet ? "\(digest)" : "\(ImageName.short(entry.name)): digest: \(digest)")
        } catch {
            die(1, "\(error)")
        }
    }
}
