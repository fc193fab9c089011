import Foundation

/// The store's named images: ROOT/images/index.json, an OCI image index whose entries are the
/// images' manifests, each named by its `org.opencontainers.image.ref.name` annotation (the
/// full name, `docker.io/library/busybox:latest`). Replaced whole (temp file and rename) under
/// ROOT/images/index.lock, so readers never see half of it and two writers never lose an entry.
public struct ImageStore: Sendable {
    public let root: String
    public let content: ContentStore

    public static let nameAnnotation = "org.opencontainers.image.ref.name"
    /// The index (manifest list) a manifest was chosen from, when it came from one.
    public static let indexAnnotation = "io.berth.image.index"
    public static let createdAnnotation = "io.berth.image.created"

    public init(root: String) {
        self.root = root
        content = ContentStore(root: root)
    }

    var directory: String { root + "/images" }
    var indexFile: String { directory + "/index.json" }

    /// Every named image, sorted by name.
    public func list() -> [ImageEntry] {
        guard let data = FileManager.default.contents(atPath: indexFile),
            let index = try? JSONDecoder().decode(Index.self, from: data)
        else { return [] }
        return index.manifests.compactMap(ImageEntry.init).sorted { $0.name < $1.name }
    }

    /// As the user wrote it ("busybox", "localhost:5000/app:1"): by the full name it stands for
    /// first, then as `find` takes it.
    public func lookup(_ reference: String) throws(StoreError) -> ImageEntry? {
        if let name = ImageName.full(reference), let entry = try find(name) { return entry }
        return try find(reference)
    }

    /// By full name, by manifest digest, or by an unambiguous prefix of the image ID (its
    /// config's digest), as Docker resolves them.
    public func find(_ reference: String) throws(StoreError) -> ImageEntry? {
        let entries = list()
        if let entry = entries.first(where: { $0.name == reference }) { return entry }
        if let digest = Digest(reference), let entry = entries.first(where: { $0.manifest.digest == digest }) {
            return entry
        }
        let prefix = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
        guard prefix.count >= 4, prefix.allSatisfy(\.isHexDigit) else { return nil }
        var matches: [Digest: ImageEntry] = [:]
        for entry in entries {
            guard let config = try? image(entry).configDigest, config.hex.hasPrefix(prefix) else { continue }
            matches[config] = matches[config] ?? entry
        }
        if matches.count > 1 { throw StoreError("\(reference) matches \(matches.count) images; give more of the ID") }
        return matches.values.first
    }

    /// Names `manifest` (already in the content store) `name`, replacing what had that name.
    public func tag(name: String, manifest: Descriptor, index: Descriptor? = nil) throws(StoreError) {
        try update { entries in
            var descriptor = manifest
            var annotations = descriptor.annotations ?? [:]
            annotations[Self.nameAnnotation] = name
            annotations[Self.indexAnnotation] = index?.digest.description
            annotations[Self.createdAnnotation] = ISO8601DateFormatter().string(from: Date())
            descriptor.annotations = annotations
            entries.removeAll { $0.annotations?[Self.nameAnnotation] == name }
            entries.append(descriptor)
        }
    }

    /// Removes a name; returns whether it existed. The blobs stay until garbage collection.
    @discardableResult
    public func untag(name: String) throws(StoreError) -> Bool {
        var found = false
        try update { entries in
            let before = entries.count
            entries.removeAll { $0.annotations?[Self.nameAnnotation] == name }
            found = entries.count != before
        }
        return found
    }

    /// The manifest and configuration of an image, from the content store.
    public func image(_ entry: ImageEntry) throws(StoreError) -> Image {
        let manifest: Manifest
        let config: ImageConfig
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(content.read(entry.manifest.digest)))
            config = try JSONDecoder().decode(ImageConfig.self, from: Data(content.read(manifest.config.digest)))
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("image \(entry.name): \(error)")
        }
        return Image(name: entry.name, manifestDigest: entry.manifest.digest, manifest: manifest, config: config)
    }

    private func update(_ change: (inout [Descriptor]) -> Void) throws(StoreError) {
        try Directories.create(directory)
        let lockPath = directory + "/index.lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw StoreError.system("cannot open", lockPath) }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw StoreError.system("cannot lock", lockPath) }
        var index = Index(manifests: [])
        if let data = FileManager.default.contents(atPath: indexFile) {
            do {
                index = try JSONDecoder().decode(Index.self, from: data)
            } catch {
                throw StoreError("\(indexFile) is damaged: \(error)")
            }
        }
        change(&index.manifests)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let bytes: Data
        do { bytes = try encoder.encode(index) } catch { throw StoreError("cannot encode the image index: \(error)") }
        let temp = indexFile + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temp, contents: bytes) else {
            throw StoreError.system("cannot write", temp)
        }
        let fd = open(temp, O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(temp, indexFile) == 0 else { throw StoreError.system("cannot replace", indexFile) }
    }
}

/// One named image: its name and the manifest it names.
public struct ImageEntry: Sendable, Hashable {
    public var name: String
    public var manifest: Descriptor
    public var index: Digest?
    public var created: String?

    init?(_ descriptor: Descriptor) {
        guard let name = descriptor.annotations?[ImageStore.nameAnnotation] else { return nil }
        self.name = name
        manifest = descriptor
        index = descriptor.annotations?[ImageStore.indexAnnotation].flatMap(Digest.init)
        created = descriptor.annotations?[ImageStore.createdAnnotation]
    }
}

/// An image as a container needs it.
public struct Image: Sendable {
    public var name: String
    public var manifestDigest: Digest
    public var manifest: Manifest
    public var config: ImageConfig

    public init(name: String, manifestDigest: Digest, manifest: Manifest, config: ImageConfig) {
        self.name = name
        self.manifestDigest = manifestDigest
        self.manifest = manifest
        self.config = config
    }

    /// Docker's image ID: the digest of its configuration.
    public var configDigest: Digest { manifest.config.digest }
    public var size: Int64 { manifest.layers.reduce(manifest.config.size) { $0 + $1.size } }
}
