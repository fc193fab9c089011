import BerthSpec
import BerthStore

/// What a container's overlay root is made of: a directory given with `--rootfs` (one read-only
/// layer), or an image from the store (its unpacked layers and its configuration).
public enum RootFilesystem: Sendable {
    case directory(String)
    case image(ImageRoot)

    /// An image's part in a container: what it is called, what it is, and its unpacked layers.
    public struct ImageRoot: Sendable {
        public var name: String
        /// nil for a build's state between steps, which has no manifest yet.
        public var manifest: Digest?
        public var config: ImageConfig
        /// The image's unpacked layers, topmost first.
        public var lowerDirs: [String]

        public init(name: String, manifest: Digest?, config: ImageConfig, lowerDirs: [String]) {
            self.name = name
            self.manifest = manifest
            self.config = config
            self.lowerDirs = lowerDirs
        }
    }

    /// An image of the store, its layers unpacked where they are not yet. Call with the store
    /// lock held (shared) until the container's record names the image, so a GC cannot sweep it.
    public static func image(_ entry: ImageEntry, root: String) throws -> RootFilesystem {
        let store = ImageStore(root: root)
        let image = try store.image(entry)
        let lowerDirs = try Snapshotter(root: root).prepare(image, content: store.content)
        return .image(
            ImageRoot(
                name: ImageName.short(entry.name), manifest: entry.manifest.digest, config: image.config,
                lowerDirs: lowerDirs))
    }

    public var lowerDirs: [String] {
        switch self {
        case .directory(let path): [path]
        case .image(let image): image.lowerDirs
        }
    }

    /// How `ps` and `inspect` name it.
    public var displayName: String {
        switch self {
        case .directory(let path): path
        case .image(let image): image.name
        }
    }

    var imageConfig: ImageConfig.Config? {
        if case .image(let image) = self { return image.config.config }
        return nil
    }

    var manifest: Digest? {
        if case .image(let image) = self { return image.manifest }
        return nil
    }

    /// A file as the container will see it (its /etc/passwd), read through the merged layers so
    /// that no link in them leads outside.
    func readText(_ path: String) throws(RuntimeError) -> String? {
        try MergedLayers(lowerDirs: lowerDirs).readFile(path).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// Docker's rules for what the spec (or the flags) leaves to the image's configuration.
enum ImageDefaults {
    static func apply(_ image: ImageConfig.Config?, to spec: ContainerSpec) -> ContainerSpec {
        guard let image else { return spec }
        var spec = spec
        // A new entrypoint drops the image's command too; a command alone keeps its entrypoint.
        if spec.entrypoint == nil {
            spec.entrypoint = image.entrypoint
            if spec.command == nil { spec.command = image.cmd }
        }
        if spec.workdir == nil, let dir = image.workingDir, !dir.isEmpty { spec.workdir = dir }
        if spec.user == nil, let user = image.user, !user.isEmpty { spec.user = user }
        if spec.stopSignal == nil, let signal = image.stopSignal { spec.stopSignal = Signal(parsing: signal) }
        for (key, value) in image.labels ?? [:] where spec.labels[key] == nil { spec.labels[key] = value }
        return spec
    }
}
