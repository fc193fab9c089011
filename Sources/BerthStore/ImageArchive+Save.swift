import CArchive
import Foundation

extension ImageArchive {
    /// Writes the named images to a tar at `path`: an OCI image layout, or what `docker save`
    /// writes (manifest.json, configs, and every layer as a plain tar: compressed layers are
    /// decompressed, and checked against their diffID). Written to a temp file and renamed.
    public func save(names: [String], to path: String, format: Format) throws(StoreError) {
        let lock = try StoreLock(root: store.root, .shared)
        defer { withExtendedLifetime(lock) {} }
        var images: [(ImageEntry, Image)] = []
        for name in names {
            guard let entry = try store.find(name) else { throw StoreError("no such image: \(name)") }
            images.append((entry, try store.image(entry)))
        }
        let temp = path + ".tmp-\(getpid())"
        do {
            let tar = try TarWriter(path: temp)
            switch format {
            case .oci: try writeLayout(images, to: tar)
            case .docker: try writeDocker(images, to: tar)
            }
            try tar.close()
        } catch {
            unlink(temp)
            throw error
        }
        guard rename(temp, path) == 0 else { throw StoreError.system("cannot write", path) }
    }

    private func encode<T: Encodable>(_ value: T) throws(StoreError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        do { return Array(try encoder.encode(value)) } catch { throw StoreError("\(error)") }
    }

    private func addBlob(_ digest: Digest, to tar: TarWriter, as name: String? = nil) throws(StoreError) {
        let source = store.content.path(digest)
        guard let size = store.content.size(digest), let handle = FileHandle(forReadingAtPath: source) else {
            throw StoreError("blob \(digest) is not in the store")
        }
        defer { try? handle.close() }
        try tar.addFile(name ?? "blobs/sha256/\(digest.hex)", size: size) { (write) throws(StoreError) in
            while true {
                let data = handle.readData(ofLength: 1 << 20)
                if data.isEmpty { break }
                var failure: StoreError?
                data.withUnsafeBytes { buffer in
                    do throws(StoreError) { try write(buffer) } catch { failure = error }
                }
                if let failure { throw failure }
            }
        }
    }

    private func writeLayout(_ images: [(ImageEntry, Image)], to tar: TarWriter) throws(StoreError) {
        try tar.addFile("oci-layout", bytes: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
        var written: Set<Digest> = []
        var manifests: [Descriptor] = []
        for (entry, image) in images {
            for digest in [entry.manifest.digest, image.manifest.config.digest] + image.manifest.layers.map(\.digest)
            where written.insert(digest).inserted {
                try addBlob(digest, to: tar)
            }
            var descriptor = Descriptor(
                mediaType: entry.manifest.mediaType, digest: entry.manifest.digest, size: entry.manifest.size)
            var annotations = ["io.containerd.image.name": entry.name]
            if let tag = entry.name.split(separator: ":").last, !entry.name.contains("@") {
                annotations[ImageStore.nameAnnotation] = String(tag)
            }
            descriptor.annotations = annotations
            manifests.append(descriptor)
        }
        try tar.addFile("index.json", bytes: try encode(Index(manifests: manifests)))
    }

    private func writeDocker(_ images: [(ImageEntry, Image)], to tar: TarWriter) throws(StoreError) {
        var items: [DockerManifestItem] = []
        var written: Set<Digest> = []
        for (entry, image) in images {
            let config = image.manifest.config.digest
            if written.insert(config).inserted { try addBlob(config, to: tar) }
            var layers: [String] = []
            for (layer, diffID) in zip(image.manifest.layers, image.config.rootfs.diffIDs) {
                let name = "blobs/sha256/\(diffID.hex)"
                layers.append(name)
                guard written.insert(diffID).inserted else { continue }
                if layer.digest == diffID || store.content.contains(diffID) {
                    try addBlob(diffID, to: tar, as: name)
                } else {
                    try addDecompressed(layer.digest, diffID: diffID, to: tar, as: name)
                }
            }
            let tags = entry.name.contains("@") ? [] : [ImageName.short(entry.name)]
            items.append(DockerManifestItem(config: "blobs/sha256/\(config.hex)", repoTags: tags, layers: layers))
        }
        try tar.addFile("manifest.json", bytes: try encode(items))
    }

    /// A compressed layer as the plain tar Docker's archive format wants: decompressed into the
    /// store's ingest area first (a tar entry's size comes before its content), checked against
    /// its diffID, then copied.
    private func addDecompressed(_ digest: Digest, diffID: Digest, to tar: TarWriter, as name: String)
        throws(StoreError)
    {
        let writer = try store.content.ingest(expected: diffID)
        guard let archive = archive_read_new() else { throw StoreError("libarchive: out of memory") }
        defer { archive_read_free(archive) }
        Archive.supportCompression(archive)
        archive_read_support_format_raw(archive)
        var entry: OpaquePointer?
        guard archive_read_open_filename(archive, store.content.path(digest), 1 << 20) == ARCHIVE_OK,
            archive_read_next_header(archive, &entry) == ARCHIVE_OK
        else { throw StoreError("cannot decompress \(digest): \(TarReader.message(archive))") }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = archive_read_data(archive, &buffer, buffer.count)
            if n < 0 { throw StoreError("cannot decompress \(digest): \(TarReader.message(archive))") }
            if n == 0 { break }
            var failure: StoreError?
            buffer[0..<n].withUnsafeBytes { chunk in
                do throws(StoreError) { try writer.write(chunk) } catch { failure = error }
            }
            if let failure { throw failure }
        }
        // Kept in the store: it is the layer's plain form, and saving again needs no work.
        _ = try writer.commit()
        try addBlob(diffID, to: tar, as: name)
    }
}
