import BerthRuntime
import BerthStore
import Foundation

/// `berth commit`: a container's writable layer as a new layer on its image, through the same
/// layer writer as RUN. The container may be running: its upper directory is only read (never
/// adopted as a snapshot), and the mount points the runtime made in it are left out.
public enum Commit {
    public static func commit(
        root: String, container: ContainerInfo, tag: String?, author: String? = nil, message: String? = nil
    ) throws(BuildError) -> Digest {
        guard let manifest = container.record.imageManifest.flatMap(Digest.init) else {
            throw BuildError(
                "\(container.record.name) runs on a root filesystem directory, not an image: nothing to commit onto")
        }
        let lock: StoreLock
        do { lock = try StoreLock(root: root, .shared) } catch { throw BuildError("\(error)") }
        defer { withExtendedLifetime(lock) {} }
        let content = ContentStore(root: root)
        var state = try BuildState.load(manifest, content: content)
        let image = try CopyStep.imageFiles(state, root: root)
        let stubs = MountStubs.leftovers(upper: container.layout.upper, image: image)
        let written: WrittenLayer
        do {
            written = try LayerWriter.write(directory: container.layout.upper, content: content, skip: Set(stubs))
        } catch {
            throw BuildError("cannot write the layer: \(error)")
        }
        if let author { state.config.author = author }
        var history = "berth commit \(container.record.name)"
        if let message { history += ": " + message }
        state = try state.adding(history: history, layer: written.isEmpty ? nil : written, content: content)
        if let tag {
            guard let name = ImageName.full(tag) else { throw BuildError("invalid image name \(tag)") }
            do { try ImageStore(root: root).tag(name: name, manifest: state.descriptor(content: content)) } catch {
                throw BuildError("cannot name the image \(name): \(error)")
            }
        }
        return state.configDescriptor.digest
    }
}
