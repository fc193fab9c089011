import AsyncHTTPClient
import BerthSpec
import BerthStore
import Foundation
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// Pushes the image `image` describes (a manifest, or an index whose manifests are all in the
    /// store) from the content store to `reference`: every blob (config and layers) the
    /// repository lacks, `parallelism` at a time, then each manifest by digest, then `image` by
    /// the reference's tag (or digest). A blob is first asked for (HEAD) and skipped when there;
    /// else mounted from another repository of the same registry that is known to hold it (one
    /// of `mountFrom`, or one this client pulled it from or pushed it to); else uploaded (POST,
    /// then one PUT of the whole blob streamed from the store). Returns `image`'s digest.
    @discardableResult
    public func push(
        _ image: Descriptor, to reference: ImageReference, mountFrom: [ImageReference] = [],
        progress: ProgressHandler? = nil
    ) async throws -> Digest {
        let reference = reference.normalized
        let endpoint = endpoint(reference)
        if let digest = reference.digest, digest != image.digest.description {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: "manifest \(digest)",
                message: "the reference's digest is not the image's (\(image.digest))")
        }
        for source in mountFrom {
            let source = source.normalized
            guard source.registryHost == endpoint.registry, source.repository != endpoint.repository else { continue }
            for digest in try blobDigests(of: image, endpoint: endpoint) {
                await sources.record(digest, registry: endpoint.registry, repository: source.repository)
            }
        }
        var manifests: [Descriptor] = []
        if MediaType.isIndex(image.mediaType) {
            let index = try decodeStored(Index.self, image.digest, endpoint: endpoint, what: "index")
            manifests = index.manifests
        } else if MediaType.isManifest(image.mediaType) {
            manifests = [image]
        } else {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: "manifest \(image.digest)",
                message: "unsupported manifest type \(image.mediaType)")
        }
        for descriptor in manifests {
            let manifest = try decodeStored(Manifest.self, descriptor.digest, endpoint: endpoint, what: "manifest")
            try await pushBlobs([manifest.config] + manifest.layers, endpoint: endpoint, progress: progress)
            if descriptor.digest != image.digest {
                try await putManifest(descriptor, tag: descriptor.digest.description, endpoint: endpoint)
            }
        }
        let tag = reference.digest ?? reference.tag ?? "latest"
        try await putManifest(image, tag: tag, endpoint: endpoint)
        return image.digest
    }

    private func decodeStored<T: Decodable>(_ type: T.Type, _ digest: Digest, endpoint: Endpoint, what: String) throws
        -> T
    {
        guard store.contains(digest) else {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: "\(what) \(digest)",
                message: "the \(what) is not in the store")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(try store.read(digest)))
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: "\(what) \(digest)",
                message: "not a valid \(what): \(error)")
        }
    }

    /// The config and layer digests of `image` that the store has.
    private func blobDigests(of image: Descriptor, endpoint: Endpoint) throws -> [Digest] {
        var manifests = [image.digest]
        if MediaType.isIndex(image.mediaType) {
            manifests = try decodeStored(Index.self, image.digest, endpoint: endpoint, what: "index").manifests.map(
                \.digest)
        }
        return try manifests.flatMap { digest -> [Digest] in
            guard store.contains(digest) else { return [] }
            let manifest = try decodeStored(Manifest.self, digest, endpoint: endpoint, what: "manifest")
            return [manifest.config.digest] + manifest.layers.map(\.digest)
        }
    }

    func pushBlobs(_ blobs: [Descriptor], endpoint: Endpoint, progress: ProgressHandler?) async throws {
        try await forEachBlob(blobs, progress: progress) { blob in
            try await self.pushBlob(blob, endpoint: endpoint, progress: progress)
        }
    }

    /// One blob: HEAD, else mount, else POST and PUT; retried from the POST after a transient
    /// failure.
    func pushBlob(_ blob: Descriptor, endpoint: Endpoint, progress: ProgressHandler?) async throws {
        let object = "blob \(blob.digest)"
        guard let size = store.size(blob.digest) else {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "the blob is not in the store")
        }
        guard size == blob.size else {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "the store's blob is \(size) bytes, its descriptor says \(blob.size)")
        }
        let scopes = [Self.pushScope(endpoint.repository)]
        let head = try await send(
            .HEAD, endpoint.blobURL(blob.digest), endpoint: endpoint, scopes: scopes, object: object,
            timeout: .minutes(2))
        _ = try? await head.body.collect(upTo: 1 << 20)
        if head.status == .ok {
            progress?(TransferProgress(digest: blob.digest, completed: size, total: size, phase: .alreadyPresent))
            await sources.record(blob.digest, registry: endpoint.registry, repository: endpoint.repository)
            return
        }
        guard head.status == .notFound else {
            throw await failure(head, endpoint: endpoint, object: object, expected: "200 or 404")
        }
        var failures = 0
        while true {
            do {
                if try await uploadBlob(blob, endpoint: endpoint, progress: progress) {
                    progress?(TransferProgress(digest: blob.digest, completed: size, total: size, phase: .mounted))
                } else {
                    progress?(TransferProgress(digest: blob.digest, completed: size, total: size, phase: .done))
                }
                await sources.record(blob.digest, registry: endpoint.registry, repository: endpoint.repository)
                return
            } catch let error where Self.isTransient(error) {
                failures += 1
                guard failures < maxAttempts, !Task.isCancelled else { throw error }
                progress?(
                    TransferProgress(
                        digest: blob.digest, completed: 0, total: size, phase: .retrying(attempt: failures)))
                try await Task.sleep(for: retryDelay * (1 << min(failures - 1, 6)))
            }
        }
    }

    /// Mounts or uploads one blob; true when it was mounted.
    private func uploadBlob(_ blob: Descriptor, endpoint: Endpoint, progress: ProgressHandler?) async throws -> Bool {
        let object = "blob \(blob.digest)"
        var location: String?
        for source in await sources.repositories(holding: blob.digest, registry: endpoint.registry)
        where source != endpoint.repository {
            let response = try await send(
                .POST, endpoint.mountURL(blob.digest, from: source), endpoint: endpoint,
                scopes: [Self.pushScope(endpoint.repository), Self.pullScope(source)], object: object,
                timeout: .minutes(2))
            _ = try? await response.body.collect(upTo: 1 << 20)
            if response.status == .created { return true }
            if response.status == .accepted, let next = response.headers.first(name: "Location") {
                // The registry could not mount it and opened an upload instead.
                location = Self.resolve(next, against: endpoint.uploadURL)
                break
            }
        }
        if location == nil {
            let response = try await send(
                .POST, endpoint.uploadURL, endpoint: endpoint, scopes: [Self.pushScope(endpoint.repository)],
                object: object, timeout: .minutes(2))
            guard response.status == .accepted, let next = response.headers.first(name: "Location") else {
                throw await failure(response, endpoint: endpoint, object: object, expected: "202 with a Location")
            }
            _ = try? await response.body.collect(upTo: 1 << 20)
            location = Self.resolve(next, against: endpoint.uploadURL)
        }
        guard let location else {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "the registry's upload location is not a URL")
        }
        let url =
            location + (location.contains("?") ? "&" : "?") + "digest=" + Endpoint.queryEscaped(blob.digest.description)
        let path = store.path(blob.digest)
        let size = blob.size
        let digest = blob.digest
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/octet-stream")
        let response = try await send(
            .PUT, url, endpoint: endpoint, scopes: [Self.pushScope(endpoint.repository)], headers: headers,
            body: {
                .stream(
                    FileChunks(path: path) { sent in
                        progress?(TransferProgress(digest: digest, completed: sent, total: size, phase: .transferring))
                    },
                    length: .known(size))
            }, object: object, timeout: .hours(12))
        guard response.status == .created else {
            let error = await failure(response, endpoint: endpoint, object: object, expected: "201")
            throw error
        }
        _ = try? await response.body.collect(upTo: 1 << 20)
        if let header = response.headers.first(name: "Docker-Content-Digest"), let claimed = Digest(header),
            claimed != blob.digest
        {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "the registry stored the blob as \(claimed)")
        }
        return false
    }

    /// PUT …/manifests/TAG with the stored manifest (or index) and its media type.
    private func putManifest(_ descriptor: Descriptor, tag: String, endpoint: Endpoint) async throws {
        let object = "manifest \(tag)"
        let bytes: [UInt8]
        do {
            bytes = try store.read(descriptor.digest)
        } catch {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object, message: "\(error)")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: descriptor.mediaType)
        let response = try await send(
            .PUT, endpoint.manifestURL(tag), endpoint: endpoint, scopes: [Self.pushScope(endpoint.repository)],
            headers: headers, body: { .bytes(ByteBuffer(bytes: bytes)) }, object: object, timeout: .minutes(2))
        guard response.status == .created else {
            throw await failure(response, endpoint: endpoint, object: object, expected: "201")
        }
        _ = try? await response.body.collect(upTo: 1 << 20)
        if let header = response.headers.first(name: "Docker-Content-Digest"), let claimed = Digest(header),
            claimed != descriptor.digest
        {
            throw RegistryError(
                registry: endpoint.registry, repository: endpoint.repository, object: object,
                message: "the registry stored the manifest as \(claimed), not \(descriptor.digest)")
        }
    }
}

/// A file read in chunks as an upload's body: at most `chunkSize` bytes in memory at a time.
/// Each read is a bounded blocking read of a local file.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    var chunkSize = 1 << 20
    let sent: (@Sendable (Int64) -> Void)?

    init(path: String, sent: (@Sendable (Int64) -> Void)? = nil) {
        self.path = path
        self.sent = sent
    }

    func makeAsyncIterator() -> Iterator { Iterator(path: path, chunkSize: chunkSize, sent: sent) }

    final class Iterator: AsyncIteratorProtocol {
        let path: String
        let chunkSize: Int
        let sent: (@Sendable (Int64) -> Void)?
        private var fd: Int32 = -1
        private var total: Int64 = 0
        private var finished = false

        init(path: String, chunkSize: Int, sent: (@Sendable (Int64) -> Void)?) {
            self.path = path
            self.chunkSize = chunkSize
            self.sent = sent
        }

        deinit { if fd >= 0 { close(fd) } }

        func next() async throws -> ByteBuffer? {
            guard !finished else { return nil }
            if fd < 0 {
                fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
            }
            var buffer = ByteBufferAllocator().buffer(capacity: chunkSize)
            var failure: Int32 = 0
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { raw in
                while true {
                    let n = read(fd, raw.baseAddress, Swift.min(raw.count, chunkSize))
                    if n < 0 && errno == EINTR { continue }
                    if n < 0 { failure = errno }
                    return Swift.max(n, 0)
                }
            }
            if failure != 0 { throw StoreError("cannot read \(path): \(String(cString: strerror(failure)))") }
            if n == 0 {
                finished = true
                close(fd)
                fd = -1
                return nil
            }
            total += Int64(n)
            sent?(total)
            return buffer
        }
    }
}
