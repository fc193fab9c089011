import AsyncHTTPClient
import BerthSpec
import BerthStore
import Dispatch
import Foundation
import NIOCore
import NIOHTTP1

/// What an image reference resolves to for one platform: its manifest and config (both stored in
/// the content store, with the index they were chosen from, if any).
public typealias ResolvedImage = (
    manifest: Manifest, manifestDescriptor: Descriptor, config: ImageConfig, configDescriptor: Descriptor,
    indexDescriptor: Descriptor?
)

/// One blob's transfer, reported as it goes (from several tasks at once: a handler must be
/// thread-safe; ProgressRenderer is).
public struct TransferProgress: Sendable, Hashable {
    public enum Phase: Sendable, Hashable {
        /// Queued behind the parallelism limit.
        case waiting
        /// Bytes are moving; `completed` of `total`.
        case transferring
        /// The connection dropped; trying again (resuming from `completed`).
        case retrying(attempt: Int)
        /// Already in the store (pull), or already in the repository (push).
        case alreadyPresent
        /// Linked from another repository of the same registry (push).
        case mounted
        /// Verified and stored (pull), or accepted by the registry (push).
        case done
    }

    public var digest: Digest
    public var completed: Int64
    public var total: Int64
    public var phase: Phase

    public init(digest: Digest, completed: Int64, total: Int64, phase: Phase) {
        self.digest = digest
        self.completed = completed
        self.total = total
        self.phase = phase
    }
}

public typealias ProgressHandler = @Sendable (TransferProgress) -> Void

/// The OCI distribution client: resolves references to manifests, pulls blobs into a
/// ContentStore (streamed, verified as they arrive, in parallel, resumed after a dropped
/// connection) and pushes images from it. One HTTPClient (HTTP/1.1) serves every request; call
/// `shutdown()` when done.
///
/// Callers that name what they pulled hold the store's `StoreLock` shared from before the pull
/// until the image is named, so garbage collection cannot sweep the blobs in between.
public final class RegistryClient: Sendable {
    public static let userAgent = "berth/0.1"
    /// The accepted manifest types, for GET …/manifests/…
    public static let manifestTypes = [
        MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList,
    ]
    /// The largest manifest or index accepted (the distribution spec's recommended limit).
    public static let maxManifestSize = 4 << 20

    public let store: ContentStore
    /// Registries (`host` or `host:port`) spoken to over plain http; loopback always is.
    public let insecure: Set<String>
    /// How many blobs move at once.
    public let parallelism: Int
    /// Attempts at one blob in a row that make no progress before giving up.
    public let maxAttempts: Int
    /// The pause before the first retry; doubled for each next one.
    public let retryDelay: Duration

    let http: HTTPClient
    let auth: Authenticator
    /// Which repositories are known to hold which blobs (what this client pulled or pushed), for
    /// cross-repository mounts.
    let sources = BlobSources()
    /// Blocking file work (fsync on commit, reading a blob to upload) runs here, off the
    /// cooperative pool.
    static let io = DispatchQueue(label: "berth.registry.io", attributes: .concurrent)

    public init(
        store: ContentStore, insecure: Set<String> = [], credentials: CredentialStore = .standard(),
        parallelism: Int = 4, maxAttempts: Int = 5, retryDelay: Duration = .milliseconds(250)
    ) {
        self.store = store
        self.insecure = insecure
        self.parallelism = max(1, parallelism)
        self.maxAttempts = max(1, maxAttempts)
        self.retryDelay = retryDelay
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,  // followed by hand: see send()
            timeout: .init(connect: .seconds(30), read: .seconds(120)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8),
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        auth = Authenticator(credentials: credentials, http: http)
    }

    /// Closes the connections. The client cannot be used afterwards. (A client dropped without
    /// it stops the process in a debug build: async-http-client's rule.)
    public func shutdown() async throws { try await http.shutdown() }

    /// Runs `body` with a new client and shuts the client down afterwards, whatever happens.
    public static func with<T>(
        store: ContentStore, insecure: Set<String> = [], credentials: CredentialStore = .standard(),
        parallelism: Int = 4, _ body: (RegistryClient) async throws -> T
    ) async throws -> T {
        let client = RegistryClient(
            store: store, insecure: insecure, credentials: credentials, parallelism: parallelism)
        let result: T
        do {
            result = try await body(client)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
        return result
    }

    public func endpoint(_ reference: ImageReference) -> Endpoint { Endpoint(reference, insecure: insecure) }

    /// Runs `transfer` once per distinct blob, `parallelism` at a time, each reported as waiting
    /// first; the first failure cancels the rest. Pulls and pushes share it.
    func forEachBlob(
        _ blobs: [Descriptor], progress: ProgressHandler?,
        _ transfer: @escaping @Sendable (Descriptor) async throws -> Void
    ) async throws {
        var seen = Set<Digest>()
        let unique = blobs.filter { seen.insert($0.digest).inserted }
        for blob in unique {
            progress?(TransferProgress(digest: blob.digest, completed: 0, total: blob.size, phase: .waiting))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            var queue = unique.makeIterator()
            for _ in 0..<parallelism {
                guard let blob = queue.next() else { break }
                group.addTask { try await transfer(blob) }
            }
            while try await group.next() != nil {
                if let blob = queue.next() { group.addTask { try await transfer(blob) } }
            }
        }
    }

    // MARK: Requests

    static func pullScope(_ repository: String) -> String { "repository:\(repository):pull" }
    static func pushScope(_ repository: String) -> String { "repository:\(repository):pull,push" }

    /// Sends a request with the registry's authentication (answering a 401 once), following
    /// redirects for GET and HEAD by hand: to another host without the Authorization header (a
    /// registry redirects blobs to its storage, which must not see the registry's token). The
    /// response is returned whatever its status; its body is the caller's to read.
    func send(
        _ method: HTTPMethod, _ url: String, endpoint: Endpoint, scopes: [String], headers: HTTPHeaders = [:],
        body: (@Sendable () -> HTTPClientRequest.Body)? = nil, object: String?,
        timeout: TimeAmount = .minutes(5)
    ) async throws -> HTTPClientResponse {
        var url = url
        var redirects = 0
        var authorization = try await auth.authorization(
            registry: endpoint.registry, repository: endpoint.repository, scopes: scopes)
        var answered = false
        var sameHost = true
        while true {
            var request = HTTPClientRequest(url: url)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: Self.userAgent)
            if sameHost, let authorization { request.headers.replaceOrAdd(name: "Authorization", value: authorization) }
            if let body { request.body = body() }
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: timeout)
            } catch {
                throw TransportError(
                    underlying: error,
                    context: RegistryError(
                        registry: endpoint.registry, repository: endpoint.repository, object: object,
                        message: "\(method) \(url): \(error)"))
            }
            let status = response.status.code
            if status == 401 && sameHost && !answered {
                answered = true
                _ = try? await response.body.collect(upTo: 1 << 20)
                let offered = Challenge.parse(response.headers["WWW-Authenticate"])
                authorization = try await auth.respond(
                    to: offered, rejected: authorization, registry: endpoint.registry,
                    repository: endpoint.repository, scopes: scopes)
                continue
            }
            if [301, 302, 303, 307, 308].contains(status), method == .GET || method == .HEAD,
                let location = response.headers.first(name: "Location")
            {
                _ = try? await response.body.collect(upTo: 1 << 20)
                redirects += 1
                guard redirects <= 10, let next = Self.resolve(location, against: url) else {
                    throw RegistryError(
                        registry: endpoint.registry, repository: endpoint.repository, object: object,
                        status: Int(status), message: "too many redirects, or a bad one, at \(location)")
                }
                if Self.authority(of: next) != Self.authority(of: url) { sameHost = false }
                url = next
                continue
            }
            return response
        }
    }

    /// A RegistryError from a response that is not the one expected, with the registry's own
    /// error message when its body has one.
    func failure(_ response: HTTPClientResponse, endpoint: Endpoint, object: String?, expected: String) async
        -> RegistryError
    {
        let body = (try? await response.body.collect(upTo: 1 << 20)).map { Array($0.readableBytesView) } ?? []
        let detail = RegistryErrorBody.first(in: body)
        var message = detail?.message ?? response.status.reasonPhrase
        if detail == nil, response.status.code == 404 { message = "not found" }
        if detail == nil, !expected.isEmpty { message += " (expected \(expected))" }
        return RegistryError(
            registry: endpoint.registry, repository: endpoint.repository, object: object,
            status: Int(response.status.code), code: detail?.code, message: message)
    }

    /// `location` (absolute, or relative to `base` as RFC 3986 resolves it).
    static func resolve(_ location: String, against base: String) -> String? {
        guard let baseURL = URL(string: base), let url = URL(string: location, relativeTo: baseURL) else { return nil }
        return url.absoluteString
    }

    /// `scheme://host:port` of a URL (the part that decides whether credentials may go along).
    static func authority(of url: String) -> String {
        guard let parsed = URL(string: url) else { return url }
        return "\(parsed.scheme ?? "")://\(parsed.host ?? ""):\(parsed.port ?? -1)"
    }

    /// Runs blocking file work (an fsync, reading a file) off the cooperative pool.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            io.async { continuation.resume(with: Result { try work() }) }
        }
    }
}

/// A request that failed below HTTP (connection refused or dropped, timeout): worth retrying.
struct TransportError: Error, CustomStringConvertible {
    var underlying: any Error
    var context: RegistryError
    var description: String { context.description }
}

/// Which repositories hold which blobs, as far as this client has seen.
actor BlobSources {
    private var known: [Digest: [String: Set<String>]] = [:]

    func record(_ digest: Digest, registry: String, repository: String) {
        known[digest, default: [:]][registry, default: []].insert(repository)
    }

    func repositories(holding digest: Digest, registry: String) -> [String] {
        (known[digest]?[registry] ?? []).sorted()
    }
}

/// Moves a value that is not Sendable (a BlobWriter) to the one task that uses it next. The
/// sender must not touch it afterwards.
struct Handoff<T>: @unchecked Sendable {
    let value: T
}
