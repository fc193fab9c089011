import CArchive
import Foundation

/// `berth load` and `berth save`: images to and from an OCI image layout (a directory or a tar
/// of one) or a `docker save` archive. Every blob goes through the content store's verified
/// ingest; a layer of a Docker archive must match the diffID its config names.
public struct ImageArchive: Sendable {
    public let store: ImageStore

    public init(store: ImageStore) { self.store = store }

    public enum Format: String, Sendable, CaseIterable { case oci, docker }

    /// What an archive held, as read: its small control files, and every other file stored as a
    /// blob by path.
    struct Contents {
        var control: [String: [UInt8]] = [:]
        var blobs: [String: (digest: Digest, size: Int64)] = [:]
    }

    static let controlFiles: Set<String> = ["index.json", "oci-layout", "manifest.json", "repositories"]

    /// Loads every image in `path` (a directory or a tar, compressed or not); returns the names
    /// it gave (a digest for an image the archive does not name).
    public func load(path: String) throws(StoreError) -> [String] {
        let lock = try StoreLock(root: store.root, .shared)
        defer { withExtendedLifetime(lock) {} }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StoreError("no such file: \(path)")
        }
        let contents = isDirectory.boolValue ? try readDirectory(path) : try readTar(path)
        if contents.control["index.json"] != nil { return try loadLayout(contents, from: path) }
        if contents.control["manifest.json"] != nil { return try loadDocker(contents, from: path) }
        throw StoreError(
            "\(path) is neither an OCI image layout (index.json) nor a docker save archive (manifest.json)")
    }

    private func take(
        _ name: String, size: Int64, _ read: () throws(StoreError) -> [UInt8]?, into contents: inout Contents
    ) throws(StoreError) {
        if Self.controlFiles.contains(name) {
            var bytes: [UInt8] = []
            while let chunk = try read() {
                bytes += chunk
                if bytes.count > 64 << 20 { throw StoreError("\(name) is too large") }
            }
            contents.control[name] = bytes
            return
        }
        // Docker's legacy per-layer metadata is not needed: the config has it all.
        if name.hasSuffix("/json") || name.hasSuffix("/VERSION") { return }
        let expected = name.hasPrefix("blobs/sha256/") ? Digest("sha256:" + name.dropFirst(13)) : nil
        if let expected, store.content.contains(expected) {
            while try read() != nil {}
            contents.blobs[name] = (expected, size)
            return
        }
        let writer = try store.content.ingest(expected: expected, size: size)
        while let chunk = try read() {
            var failure: StoreError?
            chunk.withUnsafeBytes { buffer in
                do throws(StoreError) { try writer.write(buffer) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        do {
            contents.blobs[name] = (try writer.commit(), size)
        } catch {
            throw StoreError("\(name): \(error)")
        }
    }

    private func readTar(_ path: String) throws(StoreError) -> Contents {
        var contents = Contents()
        try TarReader.forEachFile(path: path) { (name, size, read) throws(StoreError) in
            try take(name, size: size, read, into: &contents)
        }
        return contents
    }

    private func readDirectory(_ path: String) throws(StoreError) -> Contents {
        var contents = Contents()
        let files = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
        for name in files.sorted() {
            var st = stat()
            guard lstat(path + "/" + name, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            guard let handle = FileHandle(forReadingAtPath: path + "/" + name) else {
                throw StoreError.system("cannot open", path + "/" + name)
            }
            defer { try? handle.close() }
            try take(
                name, size: Int64(st.st_size),
                { () throws(StoreError) -> [UInt8]? in
                    let data = handle.readData(ofLength: 1 << 20)
                    return data.isEmpty ? nil : Array(data)
                }, into: &contents)
        }
        return contents
    }

    private func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], _ what: String) throws(StoreError) -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(bytes))
        } catch {
            throw StoreError("\(what) is not valid: \(error)")
        }
    }

    private func loadLayout(_ contents: Contents, from path: String) throws(StoreError) -> [String] {
        let index = try decode(Index.self, contents.control["index.json"]!, "\(path): index.json")
        var names: [String] = []
        for descriptor in index.manifests {
            var manifest = descriptor
            if MediaType.isIndex(descriptor.mediaType) {
                let nested = try decode(
                    Index.self, try store.content.read(descriptor.digest), "index \(descriptor.digest)")
                guard let chosen = nested.manifest(for: .current) else {
                    throw StoreError("\(path): no \(Platform.current) image in index \(descriptor.digest)")
                }
                manifest = chosen
            }
            try checkComplete(manifest.digest)
            let name = Self.name(from: descriptor.annotations) ?? "<none>@\(manifest.digest)"
            try store.tag(
                name: name, manifest: manifest, index: MediaType.isIndex(descriptor.mediaType) ? descriptor : nil)
            names.append(name)
        }
        return names
    }

    /// Every blob an image needs is in the store (an archive may not leave one out).
    private func checkComplete(_ manifestDigest: Digest) throws(StoreError) {
        let manifest = try decode(Manifest.self, try store.content.read(manifestDigest), "manifest \(manifestDigest)")
        for blob in [manifest.config] + manifest.layers where !store.content.contains(blob.digest) {
            throw StoreError("the archive lacks \(blob.digest) of image \(manifestDigest)")
        }
    }

    /// containerd's full name, or the OCI ref.name when it is a whole reference (not just a tag).
    static func name(from annotations: [String: String]?) -> String? {
        if let full = annotations?["io.containerd.image.name"] { return full }
        if let ref = annotations?[ImageStore.nameAnnotation], ref.contains("/") { return ref }
        return nil
    }

    /// One image of a `docker save` archive's manifest.json.
    struct DockerManifestItem: Codable {
        var config: String
        var repoTags: [String]?
        var layers: [String]

        enum CodingKeys: String, CodingKey {
            case config = "Config"
            case repoTags = "RepoTags"
            case layers = "Layers"
        }
    }

    private func loadDocker(_ contents: Contents, from path: String) throws(StoreError) -> [String] {
        let items = try decode([DockerManifestItem].self, contents.control["manifest.json"]!, "\(path): manifest.json")
        var names: [String] = []
        for item in items {
            guard let config = contents.blobs[item.config] else { throw StoreError("\(path) lacks \(item.config)") }
            let image = try decode(ImageConfig.self, try store.content.read(config.digest), item.config)
            var layers: [Descriptor] = []
            for (i, layerPath) in item.layers.enumerated() {
                guard let layer = contents.blobs[layerPath] else { throw StoreError("\(path) lacks \(layerPath)") }
                // Docker's layers are plain tars: their digest is the diffID the config names.
                guard i < image.rootfs.diffIDs.count, image.rootfs.diffIDs[i] == layer.digest else {
                    throw StoreError("\(layerPath) in \(path) is not the layer its image's config names")
                }
                layers.append(Descriptor(mediaType: MediaType.dockerLayer, digest: layer.digest, size: layer.size))
            }
            let manifest = Manifest(
                mediaType: MediaType.dockerManifest,
                config: Descriptor(mediaType: MediaType.dockerConfig, digest: config.digest, size: config.size),
                layers: layers)
            let bytes: [UInt8]
            do { bytes = Array(try JSONEncoder().encode(manifest)) } catch { throw StoreError("\(error)") }
            let digest = try store.content.write(bytes)
            let descriptor = Descriptor(mediaType: MediaType.dockerManifest, digest: digest, size: Int64(bytes.count))
            let tags = item.repoTags ?? []
            for tag in tags.isEmpty ? ["<none>@\(digest)"] : tags.compactMap(ImageName.full) {
                try store.tag(name: tag, manifest: descriptor)
                names.append(tag)
            }
        }
        return names
    }

}
