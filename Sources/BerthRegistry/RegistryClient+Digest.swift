import AsyncHTTPClient
import BerthSpec
import BerthStore
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// How long a HEAD for a tag's digest may take, the connection included: a registry that
    /// cannot be reached (async-http-client retries a refused connection until its deadline)
    /// costs this much, not the pull's minutes, so `"pull": "newer"` falls back to the store soon.
    public static let digestTimeout: TimeAmount = .seconds(10)

    /// The digest the registry names `reference`'s tag with now: `HEAD …/manifests/TAG` with the
    /// OCI and Docker manifest (and index) types accepted, authenticated as a pull is, read from
    /// its `Docker-Content-Digest` header. A registry that answers HEAD without that header is
    /// asked with GET, and the manifest's bytes are hashed (nothing is stored). For a multi-
    /// platform image this is the index's digest, as the store records it (`ImageEntry.tagDigest`).
    /// A reference by digest is its own answer.
    public func currentDigest(_ reference: ImageReference) async throws -> Digest {
        let reference = reference.normalized
        let endpoint = endpoint(reference)
        let tag = Endpoint.manifestReference(reference)
        if reference.digest != nil, let digest = Digest(tag) { return digest }
        let object = "manifest \(tag)"
        var headers = HTTPHeaders()
        headers.add(name: "Accept", value: Self.manifestTypes.joined(separator: ", "))
        let response = try await send(
            .HEAD, endpoint.manifestURL(tag), endpoint: endpoint, scopes: [Self.pullScope(endpoint.repository)],
            headers: headers, object: object, timeout: Self.digestTimeout)
        guard response.status == .ok else {
            throw await failure(response, endpoint: endpoint, object: object, expected: "200")
        }
        _ = try? await response.body.collect(upTo: 1 << 20)
        if let header = response.headers.first(name: "Docker-Content-Digest") {
            guard let digest = Digest(header) else {
                throw RegistryError(
                    registry: endpoint.registry, repository: endpoint.repository, object: object,
                    message: "the registry sent an invalid Docker-Content-Digest: \(header)")
            }
            return digest
        }
        return try await fetchManifest(endpoint, reference: tag, expected: nil).digest
    }

    /// `currentDigest` with a client of its own, for callers that make one request.
    public static func currentDigest(_ reference: ImageReference, root: String, insecure: Set<String>) async throws
        -> Digest
    {
        try await with(store: ContentStore(root: root), insecure: insecure) { client in
            try await client.currentDigest(reference)
        }
    }
}

extension ImageEntry {
    /// The digest the registry's tag had when this image was pulled: the index's when the
    /// manifest was chosen from one, else the manifest's. What `currentDigest` is compared with.
    public var tagDigest: Digest { index ?? manifest.digest }
}
