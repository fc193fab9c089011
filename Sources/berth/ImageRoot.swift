import BerthRuntime
import BerthStore
import Foundation

extension ContainerFlags {
    /// The container's root: the --rootfs directory, or the image's layers, unpacked where they
    /// are not yet. The store lock comes back with it: held (shared) until the container's record
    /// names the image, so a GC running meanwhile cannot sweep what it is about to use.
    func rootFilesystem(root: String) -> (RootFilesystem, StoreLock?) {
        if let rootfs { return (.directory(rootfs), nil) }
        guard let reference = image else { die(125, "give an image to run, or --rootfs DIR") }
        do {
            let lock = try StoreLock(root: root, .shared)
            let store = ImageStore(root: root)
            var found = pull == "always" ? nil : try store.lookup(reference)
            if found == nil {
                guard pull != "never" else {
                    die(125, "Unable to find image '\(reference)' locally (and --pull never)")
                }
                if pull == "missing" { warn("Unable to find image '\(reference)' locally") }
                found = try pullImage(reference, root: root, platform: .current, quiet: false)
            }
            guard let entry = found else { die(125, "Unable to find image '\(reference)'") }
            return (try .image(entry, root: root), lock)
        } catch {
            die(125, "\(error)")
        }
    }
}
