import ArgumentParser
import BerthRegistry
import BerthSpec
import BerthStore
import Foundation

/// Pulls `text` into the store with the progress on stderr; returns its entry. Call with the
/// store lock held (shared).
func pullImage(_ text: String, root: String, platform: Platform, quiet: Bool) throws -> ImageEntry {
    let reference: ImageReference
    do {
        reference = try ImageReference(parsing: text)
    } catch {
        die(125, "invalid reference \(text): \(error)")
    }
    let renderer = ProgressRenderer(interactive: quiet ? false : nil)
    let insecure = insecureRegistries(ProcessInfo.processInfo.environment)
    let entry = try blockOn {
        try await RegistryClient.pull(
            reference, root: root, platform: platform, insecure: insecure, progress: renderer.handler)
    }
    renderer.finish()
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
        guard let entry = try store.lookup(image), let reference = try? ImageReference(parsing: entry.name) else {
            die(1, "no such image: \(image)")
        }
        let renderer = ProgressRenderer(interactive: quiet ? false : nil, direction: .upload)
        let content = store.content
        let insecure = insecureRegistries(ProcessInfo.processInfo.environment)
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
