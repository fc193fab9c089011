import BerthStore
import Foundation

/// The image a build has made so far: its configuration (with history and diffIDs) and its
/// layers. Every state is stored as a whole image (config and manifest blobs), so a cache entry
/// is just a manifest digest, a RUN step can mount it like any image, and GC keeps it by the
/// same marks as images.
struct BuildState {
    var config: ImageConfig
    var layers: [Descriptor]
    /// Its manifest in the content store, and the config's descriptor in it.
    var manifest: Digest
    var configDescriptor: Descriptor

    static func scratch(content: ContentStore) throws(BuildError) -> BuildState {
        let config = ImageConfig(
            architecture: Platform.current.architecture, config: ImageConfig.Config(), rootfs: .init(diffIDs: []))
        return try store(config: config, layers: [], content: content)
    }

    /// Loads a stored state (an image's manifest, or a cache entry's).
    static func load(_ manifest: Digest, content: ContentStore) throws(BuildError) -> BuildState {
        do {
            let m = try JSONDecoder().decode(Manifest.self, from: Data(content.read(manifest)))
            let config = try JSONDecoder().decode(ImageConfig.self, from: Data(content.read(m.config.digest)))
            return BuildState(config: config, layers: m.layers, manifest: manifest, configDescriptor: m.config)
        } catch {
            throw BuildError("cannot read the image \(manifest) from the store: \(error)")
        }
    }

    /// Writes the config and the manifest (OCI, keys sorted so equal states have equal digests).
    static func store(config: ImageConfig, layers: [Descriptor], content: ContentStore) throws(BuildError)
        -> BuildState
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            let configBytes = Array(try encoder.encode(config))
            let configDigest = try content.write(configBytes)
            let manifest = Manifest(
                config: Descriptor(
                    mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
                layers: layers)
            let digest = try content.write(Array(try encoder.encode(manifest)))
            return BuildState(config: config, layers: layers, manifest: digest, configDescriptor: manifest.config)
        } catch {
            throw BuildError("cannot store the image: \(error)")
        }
    }

    /// A descriptor of the stored manifest, to name the image.
    func descriptor(content: ContentStore) -> Descriptor {
        Descriptor(mediaType: MediaType.ociManifest, digest: manifest, size: content.size(manifest) ?? 0)
    }

    var image: Image {
        Image(
            name: manifest.description, manifestDigest: manifest,
            manifest: Manifest(config: configDescriptor, layers: layers),
            config: config)
    }

    var settings: ImageConfig.Config {
        get { config.config ?? ImageConfig.Config() }
        set { config.config = newValue }
    }

    /// The environment as a dictionary (the config keeps "K=V" in order).
    var environment: [String: String] {
        var env: [String: String] = [:]
        for entry in settings.env ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            env[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return env
    }

    mutating func setEnvironment(_ key: String, _ value: String) {
        var env = settings.env ?? []
        if let index = env.firstIndex(where: { $0 == key || $0.hasPrefix(key + "=") }) {
            env[index] = key + "=" + value
        } else {
            env.append(key + "=" + value)
        }
        settings.env = env
    }
}

/// The layer cache: ROOT/build-cache/KEY holds the manifest digest of the state a step made,
/// KEY being the digest of the parent state's key, the instruction after substitution, and
/// the content of the files COPY and ADD read. Entries are GC roots until `berth builder prune`.
public struct BuildCache: Sendable {
    public let root: String
    public init(root: String) { self.root = root }

    var directory: String { root + "/build-cache" }

    func lookup(_ key: Digest) -> Digest? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + key.hex) else { return nil }
        return Digest(String(decoding: data, as: UTF8.self))
    }

    func record(_ key: Digest, _ manifest: Digest) throws(BuildError) {
        let path = directory + "/" + key.hex
        let temp = path + ".tmp-\(getpid())"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data(manifest.description.utf8).write(to: URL(fileURLWithPath: temp))
        } catch {
            throw BuildError("cannot write the build cache: \(error)")
        }
        guard rename(temp, path) == 0 else { throw BuildError("cannot write the build cache \(path)") }
    }

    /// The manifests the cache keeps (GC roots).
    public func manifests() -> Set<Digest> {
        var out: Set<Digest> = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.contains(".") {
            if let data = FileManager.default.contents(atPath: directory + "/" + name),
                let digest = Digest(String(decoding: data, as: UTF8.self))
            {
                out.insert(digest)
            }
        }
        return out
    }

    /// Forgets every entry; returns how many there were. GC then sweeps what they kept.
    @discardableResult
    public func clear() -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names { unlink(directory + "/" + name) }
        return names.filter { !$0.contains(".") }.count
    }
}
