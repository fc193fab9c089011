import AsyncHTTPClient
import BerthSpec
import BerthStore
import Foundation
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// Resolves `reference` for `platform`: GETs its manifest (by digest when the reference has
    /// one, else by tag); when that is an index or a Docker manifest list, chooses the platform's
    /// entry (PlatformMatch) and GETs it by digest. Every manifest is checked against the
    /// Docker-Content-Digest header and, when fetched by digest, against that digest. The
    /// manifest, the index and the config are stored in the content store, so the image is fully
    /// described there (its layers are `pull`'s).
    public func resolve(_ reference: ImageReference, platform: Platform) async throws -> ResolvedImage {
        let reference = reference.normalized
        let endpoint = endpoint(reference)
        let expected = try reference.digest.map { text in
            guard let digest = Digest(text) else {
                throw RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: "manifest \(text)",
                    message: "only sha256 digests are supported")
            }
            return digest
        }
        let top = try await fetchManifest(
            endpoint, reference: Endpoint.manifestReference(reference), expected: expected)
        var indexDescriptor: Descriptor?
        var manifestBytes = top.bytes
        var manifestDescriptor = Descriptor(mediaType: top.mediaType, digest: top.digest, size: Int64(top.bytes.count))
        if MediaType.isIndex(top.mediaType) {
            let index: Index
            do {
                index = try JSONDecoder().decode(Index.self, from: Data(top.bytes))
            } catch {
                throw RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: "index \(top.digest)",
                    message: "not a valid index: \(error)")
            }
            guard let entry = PlatformMatch.choose(from: index.manifests, for: platform) else {
                let offered = index.manifests.compactMap { $0.platform?.description }.joined(separator: ", ")
                throw RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: "index \(top.digest)",
                    message: "no manifest for \(platform) (the index offers: \(offered.isEmpty ? "none" : offered))")
            }
            indexDescriptor = Descriptor(mediaType: top.mediaType, digest: top.digest, size: Int64(top.bytes.count))
            let chosen = try await fetchManifest(endpoint, reference: entry.digest.description, expected: entry.digest)
            guard Int64(chosen.bytes.count) == entry.size else {
                throw RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: "manifest \(entry.digest)",
                    message: "the manifest is \(chosen.bytes.count) bytes, the index says \(entry.size)")
            }
            manifestBytes = chosen.bytes
            manifestDescriptor = entry
            manifestDescriptor.mediaType = chosen.mediaType
        }
        guard MediaType.isManifest(manifestDescriptor.mediaType) else {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository,
                object: "manifest \(manifestDescriptor.digest)",
                message: "unsupported manifest type \(manifestDescriptor.mediaType)")
        }
        let manifest: Manifest
        do {
            manifest = try JSONDecoder().decode(Manifest.self, from: Data(manifestBytes))
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository,
                object: "manifest \(manifestDescriptor.digest)", message: "not a valid manifest: \(error)")
        }
        // The config first, then the manifest, then the index: whatever is in the store is whole.
        try await fetchBlob(manifest.config, endpoint: endpoint, progress: nil)
        let config: ImageConfig
        do {
            config = try JSONDecoder().decode(ImageConfig.self, from: Data(try store.read(manifest.config.digest)))
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository,
                object: "config \(manifest.config.digest)", message: "not a valid image config: \(error)")
        }
        try storeBytes(manifestBytes, digest: manifestDescriptor.digest, endpoint: endpoint)
        if let indexDescriptor { try storeBytes(top.bytes, digest: indexDescriptor.digest, endpoint: endpoint) }
        return (manifest, manifestDescriptor, config, manifest.config, indexDescriptor)
    }

    /// Resolves `reference` (see `resolve`) and downloads every layer not already in the store,
    /// `parallelism` at a time, each streamed into the store (hashed as the bytes arrive,
    /// verified before it becomes visible), resumed with a Range request after a dropped
    /// connection, or started over when the server ignores Range. Redirects (to a registry's
    /// storage) are followed. `progress` hears about each layer.
    @discardableResult
    public func pull(
        _ reference: ImageReference, platform: Platform = .current, progress: ProgressHandler? = nil
    ) async throws -> ResolvedImage {
        let image = try await resolve(reference, platform: platform)
        try await fetchBlobs(image.manifest.layers, endpoint: endpoint(reference.normalized), progress: progress)
        return image
    }

    /// Downloads the blobs not yet in the store, `parallelism` at a time; the first failure
    /// cancels the rest (whose partial files are removed).
    public func fetchBlobs(_ blobs: [Descriptor], endpoint: Endpoint, progress: ProgressHandler?) async throws {
        try await forEachBlob(blobs, progress: progress) { blob in
            try await self.fetchBlob(blob, endpoint: endpoint, progress: progress)
        }
    }

    /// GET …/manifests/REFERENCE: the bytes (at most 4 MiB), their media type and digest,
    /// checked against `expected` and the Docker-Content-Digest header.
    func fetchManifest(_ endpoint: Endpoint, reference: String, expected: Digest?) async throws -> (
        bytes: [UInt8], mediaType: String, digest: Digest
    ) {
        let object = "manifest \(reference)"
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: Self.manifestTypes.joined(separator: ", "))
        let response = try await send(
            .GET, endpoint.manifestURL(reference), endpoint: endpoint, scopes: [Self.pullScope(endpoint.repository)],
            headers: headers, object: object, timeout: .minutes(2))
        guard response.status == .ok else {
            throw await failure(response, endpoint: endpoint, object: object, expected: "200")
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try await response.body.collect(upTo: Self.maxManifestSize).readableBytesView)
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "cannot read the manifest (more than \(Self.maxManifestSize) bytes?): \(error)")
        }
        let digest = Digest(of: bytes)
        if let expected, expected != digest {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "digest mismatch: the registry sent content whose digest is \(digest)")
        }
        if let header = response.headers.first(name: "Docker-Content-Digest"), let claimed = Digest(header),
            claimed != digest
        {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "digest mismatch: Docker-Content-Digest says \(claimed), the content is \(digest)")
        }
        let mediaType = try Self.manifestMediaType(
            bytes, contentType: response.headers.first(name: "Content-Type"), endpoint: endpoint, object: object)
        return (bytes, mediaType, digest)
    }

    /// The manifest's type: its own `mediaType` field, else the Content-Type header, else its shape.
    static func manifestMediaType(_ bytes: [UInt8], contentType: String?, endpoint: Endpoint, object: String) throws
        -> String
    {
        let json = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
        if let schema = json?["schemaVersion"] as? Int, schema == 1 {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "Docker image manifest schema 1 is not supported")
        }
        if let type = json?["mediaType"] as? String, !type.isEmpty { return type }
        let header = contentType.map { String($0.split(separator: ";")[0]).trimmingCharacters(in: .whitespaces) }
        if let header, MediaType.isManifest(header) || MediaType.isIndex(header) { return header }
        if json?["manifests"] != nil { return MediaType.ociIndex }
        if json?["config"] != nil && json?["layers"] != nil { return MediaType.ociManifest }
        throw RegistryError(
            registry: endpoint.registry, repository: endpoint.repository, object: object,
            message: "not a manifest or index (Content-Type \(contentType ?? "none"))")
    }

    func storeBytes(_ bytes: [UInt8], digest: Digest, endpoint: Endpoint) throws {
        guard !store.contains(digest) else { return }
        do {
            try store.write(bytes, expected: digest)
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: "blob \(digest)",
                message: "cannot store: \(error)")
        }
    }

    /// Downloads one blob into the store unless it is there: streamed into a BlobWriter, resumed
    /// from what it holds after a dropped connection (Range: bytes=N-), started over when the
    /// server answers a Range request with the whole blob. Gives up after `maxAttempts` attempts
    /// in a row that made no progress.
    func fetchBlob(_ blob: Descriptor, endpoint: Endpoint, progress: ProgressHandler?) async throws {
        let object = "blob \(blob.digest)"
        if store.contains(blob.digest) {
            await sources.record(blob.digest, registry: endpoint.registry, repository: endpoint.repository)
            progress?(
                TransferProgress(digest: blob.digest, completed: blob.size, total: blob.size, phase: .alreadyPresent))
            return
        }
        var writer: BlobWriter
        do {
            writer = try store.ingest(expected: blob.digest, size: blob.size)
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "cannot write to the store: \(error)")
        }
        var failures = 0
        while true {
            let before = writer.written
            do {
                try await downloadOnce(blob, into: &writer, endpoint: endpoint, progress: progress)
                break
            } catch let error where Self.isTransient(error) {
                failures = writer.written > before ? 1 : failures + 1
                guard failures < maxAttempts, !Task.isCancelled else { throw error }
                progress?(
                    TransferProgress(
                        digest: blob.digest, completed: writer.written, total: blob.size,
                        phase: .retrying(attempt: failures)))
                try await Task.sleep(for: retryDelay * (1 << min(failures - 1, 6)))
            }
        }
        let handoff = Handoff(value: writer)
        do {
            // commit() fsyncs: off the cooperative pool.
            _ = try await Self.offload { try handoff.value.commit() }
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "\(error)")
        }
        await sources.record(blob.digest, registry: endpoint.registry, repository: endpoint.repository)
        progress?(TransferProgress(digest: blob.digest, completed: blob.size, total: blob.size, phase: .done))
    }

    /// One GET of a blob, from where `writer` stands. Throws a transient error when the body
    /// ends early.
    private func downloadOnce(
        _ blob: Descriptor, into writer: inout BlobWriter, endpoint: Endpoint, progress: ProgressHandler?
    ) async throws {
        let object = "blob \(blob.digest)"
        var headers = HTTPHeaders()
        let offset = writer.written
        if offset > 0 { headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response = try await send(
            .GET, endpoint.blobURL(blob.digest), endpoint: endpoint, scopes: [Self.pullScope(endpoint.repository)],
            headers: headers, object: object, timeout: .hours(12))
        switch response.status.code {
        case 200:
            if offset > 0 {
                // The server ignored Range: start over.
                writer.abort()
                writer = try store.ingest(expected: blob.digest, size: blob.size)
            }
        case 206 where offset > 0:
            let range = response.headers.first(name: "Content-Range") ?? ""
            guard Self.rangeStart(range) == offset else {
                throw RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: object, status: 206,
                    message: "asked for bytes from \(offset), got '\(range)'")
            }
        case 416 where offset > 0:
            // Not satisfiable: start over on the next attempt.
            _ = try? await response.body.collect(upTo: 1 << 20)
            writer.abort()
            writer = try store.ingest(expected: blob.digest, size: blob.size)
            let refused = RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object, status: 416,
                message: "the registry refused to resume at byte \(offset); starting over")
            throw TransportError(underlying: refused, context: refused)
        default:
            throw await failure(response, endpoint: endpoint, object: object, expected: offset > 0 ? "206" : "200")
        }
        var reported = writer.written
        progress?(TransferProgress(digest: blob.digest, completed: reported, total: blob.size, phase: .transferring))
        do {
            for try await buffer in response.body {
                try buffer.withUnsafeReadableBytes { bytes throws(StoreError) in try writer.write(bytes) }
                // About 50 reports per blob at most, and one at least every 1 MiB.
                if writer.written - reported >= min(max(blob.size / 50, 64 << 10), 1 << 20) {
                    reported = writer.written
                    progress?(
                        TransferProgress(
                            digest: blob.digest, completed: reported, total: blob.size, phase: .transferring))
                }
            }
        } catch let error as StoreError {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object, message: "\(error)")
        } catch {
            throw TransportError(
                underlying: error,
                context: RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: object,
                    message: "the connection dropped after \(writer.written) of \(blob.size) bytes: \(error)"))
        }
        progress?(
            TransferProgress(digest: blob.digest, completed: writer.written, total: blob.size, phase: .transferring))
        if writer.written < blob.size {
            throw TransportError(
                underlying: RegistryError(registry: endpoint.registry, message: "short body"),
                context: RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: object,
                    message: "the body ended after \(writer.written) of \(blob.size) bytes"))
        }
    }

    /// `bytes START-END/TOTAL` → START.
    static func rangeStart(_ header: String) -> Int64? {
        let text = header.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("bytes ") else { return nil }
        let range = text.dropFirst(6)
        guard let dash = range.firstIndex(of: "-") else { return nil }
        return Int64(range[..<dash])
    }

    /// Whether trying again may help: a dropped or refused connection, a timeout, a server error.
    static func isTransient(_ error: any Error) -> Bool {
        if error is CancellationError { return false }
        if let transport = error as? TransportError {
            if let http = transport.underlying as? HTTPClientError, http == .cancelled { return false }
            return !(transport.underlying is CancellationError)
        }
        if let registry = error as? RegistryError { return registry.isTransient }
        return false
    }
}
