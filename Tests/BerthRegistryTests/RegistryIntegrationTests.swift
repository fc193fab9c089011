import BerthSpec
import BerthStore
import BerthTestSupport
import Foundation
import Synchronization
import Testing

@testable import BerthRegistry

/// Counts calls by key, from the test servers' threads.
final class Counter: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    /// The count for `key` after this call.
    func next(_ key: String) -> Int {
        counts.withLock { counts in
            counts[key, default: 0] += 1
            return counts[key]!
        }
    }
}

/// The last phase reported for each blob.
func lastPhases(_ log: ProgressLog) -> [Digest: TransferProgress.Phase] {
    var out: [Digest: TransferProgress.Phase] = [:]
    for report in log.all { out[report.digest] = report.phase }
    return out
}

/// Against Debian's docker-registry, started per test on its own port of 127.0.0.1. These need
/// neither root nor systemd, so they run on the host as well as in the sandbox.
@Suite(.serialized, .needsRegistry) struct RegistryIntegrationTests {
    static let amd64 = Platform(architecture: "amd64")

    func reference(_ authority: String, _ rest: String) throws -> ImageReference {
        try ImageReference(parsing: "\(authority)/\(rest)")
    }

    /// Pushes `image` (already in `store`) to `reference` with a fresh client.
    func push(
        _ image: Descriptor, from store: ContentStore, to reference: ImageReference,
        credentials: CredentialStore = CredentialStore(files: []), mountFrom: [ImageReference] = [],
        progress: ProgressHandler? = nil
    ) async throws {
        try await withClient(store, credentials: credentials) { client in
            try await client.push(image, to: reference, mountFrom: mountFrom, progress: progress)
        }
    }

    @Test func pushThenPullByTagAndByDigest() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "round-trip", extraLayers: 5)
        try image.put(into: source.store)
        let tagged = try reference(registry.authority, "berth/test:v1")
        let pushed = ProgressLog()
        try await push(image.manifest.descriptor, from: source.store, to: tagged, progress: pushed.handler)
        #expect(
            lastPhases(pushed) == Dictionary(uniqueKeysWithValues: image.blobs.map { ($0.descriptor.digest, .done) }))

        // Pushed again: every blob is already there.
        let again = ProgressLog()
        try await push(image.manifest.descriptor, from: source.store, to: tagged, progress: again.handler)
        #expect(lastPhases(again).values.allSatisfy { $0 == .alreadyPresent })

        let target = try TemporaryStore()
        defer { target.cleanup() }
        let pulled = ProgressLog()
        let resolved = try await withClient(target.store) { client in
            try await client.pull(tagged, platform: Self.amd64, progress: pulled.handler)
        }
        #expect(resolved.manifestDescriptor.digest == image.manifest.descriptor.digest)
        #expect(resolved.manifestDescriptor.mediaType == MediaType.ociManifest)
        #expect(resolved.configDescriptor == image.config.descriptor)
        #expect(resolved.indexDescriptor == nil)
        #expect(resolved.manifest.layers == image.layers.map(\.descriptor))
        #expect(resolved.config.config?.env?.contains("SEED=round-trip") == true)
        for blob in image.blobs + [image.manifest] {
            #expect(try target.store.read(blob.descriptor.digest) == blob.bytes)
        }
        #expect(Set(target.blobFiles) == Set((image.blobs + [image.manifest]).map(\.descriptor.digest.hex)))
        #expect(target.ingestFiles.isEmpty)
        #expect(
            lastPhases(pulled) == Dictionary(uniqueKeysWithValues: image.layers.map { ($0.descriptor.digest, .done) }))

        // By digest, into a fresh store; then again into the same one: nothing to download.
        let pinned = try reference(registry.authority, "berth/test@\(image.manifest.descriptor.digest)")
        let fresh = try TemporaryStore()
        defer { fresh.cleanup() }
        let byDigest = try await withClient(fresh.store) { client in
            try await client.pull(pinned, platform: Self.amd64)
        }
        #expect(byDigest.manifestDescriptor.digest == image.manifest.descriptor.digest)
        #expect(Set(fresh.blobFiles) == Set(target.blobFiles))
        let present = ProgressLog()
        try await withClient(fresh.store) { client in
            try await client.pull(pinned, platform: Self.amd64, progress: present.handler)
        }
        #expect(lastPhases(present).values.allSatisfy { $0 == .alreadyPresent })
    }

    @Test func indexChoosesThePlatform() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        for docker in [false, true] {
            let amd = TestImage.make(seed: "amd-\(docker)", docker: docker)
            let arm = TestImage.make(seed: "arm-\(docker)", architecture: "arm64", variant: "v8", docker: docker)
            let index = TestImage.index([arm, amd], docker: docker)
            try amd.put(into: source.store)
            try arm.put(into: source.store)
            try source.store.write(index.bytes, expected: index.descriptor.digest)
            let tagged = try reference(registry.authority, "berth/multi:\(docker ? "docker" : "oci")")
            try await push(index.descriptor, from: source.store, to: tagged)

            for (platform, image) in [
                (Platform(architecture: "amd64"), amd), (Platform(architecture: "arm64"), arm),
                (Platform(parsing: "linux/arm64/v8")!, arm),
            ] {
                let target = try TemporaryStore()
                defer { target.cleanup() }
                let resolved = try await withClient(target.store) { client in
                    try await client.pull(tagged, platform: platform)
                }
                #expect(resolved.manifestDescriptor.digest == image.manifest.descriptor.digest)
                #expect(
                    resolved.manifestDescriptor.mediaType == (docker ? MediaType.dockerManifest : MediaType.ociManifest)
                )
                #expect(resolved.indexDescriptor == index.descriptor)
                #expect(resolved.config.architecture == platform.architecture)
                #expect(try target.store.read(index.descriptor.digest) == index.bytes)
                let other = image.config.descriptor.digest == amd.config.descriptor.digest ? arm : amd
                #expect(!target.store.contains(other.manifest.descriptor.digest))
                #expect(!target.store.contains(other.layers[1].descriptor.digest))
                #expect(image.blobs.allSatisfy { target.store.contains($0.descriptor.digest) })
            }

            let target = try TemporaryStore()
            defer { target.cleanup() }
            let error = await #expect(throws: RegistryError.self) {
                try await withClient(target.store) { client in
                    try await client.pull(tagged, platform: Platform(architecture: "s390x"))
                }
            }
            #expect(error?.description.contains("no manifest for linux/s390x") == true)
            #expect(error?.description.contains("linux/arm64/v8, linux/amd64") == true)
        }
    }

    @Test func errorsNameTheRegistryRepositoryAndObject() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let target = try TemporaryStore()
        defer { target.cleanup() }
        let missing = try reference(registry.authority, "berth/none:nope")
        let error = await #expect(throws: RegistryError.self) {
            try await withClient(target.store) { try await $0.pull(missing, platform: Self.amd64) }
        }
        #expect(error?.registry == registry.authority)
        #expect(error?.repository == "berth/none")
        #expect(error?.object == "manifest nope")
        #expect(error?.status == 404)
        #expect(error?.code == "MANIFEST_UNKNOWN")
        #expect(error?.description.hasPrefix("\(registry.authority)/berth/none, manifest nope: HTTP 404: ") == true)

        // A blob the store lacks cannot be pushed.
        let image = TestImage.make(seed: "incomplete")
        try target.store.write(image.manifest.bytes)
        let pushError = await #expect(throws: RegistryError.self) {
            try await push(image.manifest.descriptor, from: target.store, to: missing)
        }
        #expect(pushError?.description.contains("is not in the store") == true)
        #expect(target.ingestFiles.isEmpty)
    }

    @Test func layersComeFourAtATime() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "parallel", extraLayers: 8)
        try image.put(into: source.store)
        try await push(
            image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "berth/p:v1"))

        let proxy = try TestProxy(upstream: registry.port, delay: .milliseconds(250))
        defer { proxy.stop() }
        let target = try TemporaryStore()
        defer { target.cleanup() }
        try await withClient(target.store) { client in
            try await client.pull(try reference(proxy.authority, "berth/p:v1"), platform: Self.amd64)
        }
        #expect(image.blobs.allSatisfy { target.store.contains($0.descriptor.digest) })
        // Blob requests the registry's side served at once: the limit, reached.
        #expect(proxy.blobsInFlight.highest == 4)
    }

    @Test func droppedConnectionResumesWithRange() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "resume", dataSize: 3_000_000)
        try image.put(into: source.store)
        try await push(
            image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "berth/r:v1"))

        let big = image.layers[1].descriptor.digest
        let counter = Counter()
        let proxy = try TestProxy(upstream: registry.port) { request in
            guard request.path.hasSuffix("/blobs/\(big)") else { return .forward }
            return counter.next("big") == 1 ? .cutAfter(1_000_000) : .forward
        }
        defer { proxy.stop() }
        let target = try TemporaryStore()
        defer { target.cleanup() }
        let log = ProgressLog()
        try await withClient(target.store) { client in
            try await client.pull(
                try reference(proxy.authority, "berth/r:v1"), platform: Self.amd64, progress: log.handler)
        }
        #expect(try target.store.read(big) == image.layers[1].bytes)
        #expect(target.ingestFiles.isEmpty)
        let gets = proxy.requests.filter { $0.path.hasSuffix("/blobs/\(big)") }
        #expect(gets.count == 2)
        #expect(gets.first?.header("Range") == nil)
        let range = gets.last?.header("Range") ?? ""
        let resumedAt = Int(range.dropFirst("bytes=".count).dropLast()) ?? 0
        #expect(range.hasPrefix("bytes=") && range.hasSuffix("-"))
        #expect(resumedAt > 0 && resumedAt <= 1_000_000)
        #expect(log.all.contains { $0.digest == big && $0.phase == .retrying(attempt: 1) })
    }

    @Test func rangeIgnoredStartsOver() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "restart", dataSize: 2_000_000)
        try image.put(into: source.store)
        try await push(
            image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "berth/r:v1"))

        let big = image.layers[1].descriptor.digest
        let counter = Counter()
        let proxy = try TestProxy(upstream: registry.port) { request in
            guard request.path.hasSuffix("/blobs/\(big)") else { return .forward }
            return counter.next("big") == 1 ? .cutAfter(700_000) : .forwardWithoutRange
        }
        defer { proxy.stop() }
        let target = try TemporaryStore()
        defer { target.cleanup() }
        try await withClient(target.store) { client in
            try await client.pull(try reference(proxy.authority, "berth/r:v1"), platform: Self.amd64)
        }
        #expect(try target.store.read(big) == image.layers[1].bytes)
        #expect(target.ingestFiles.isEmpty)
        let gets = proxy.requests.filter { $0.path.hasSuffix("/blobs/\(big)") }
        #expect(gets.count == 2)
        #expect(gets.last?.header("Range")?.hasPrefix("bytes=") == true)
    }

    @Test func wrongBlobIsRejectedAndLeavesNothing() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "corrupt", dataSize: 500_000)
        try image.put(into: source.store)
        try await push(
            image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "berth/c:v1"))

        let big = image.layers[1].descriptor.digest
        let proxy = try TestProxy(upstream: registry.port) { request in
            request.path.hasSuffix("/blobs/\(big)") ? .corrupt(at: 12345) : .forward
        }
        defer { proxy.stop() }
        let target = try TemporaryStore()
        defer { target.cleanup() }
        let error = await #expect(throws: RegistryError.self) {
            try await withClient(target.store) { client in
                try await client.pull(try reference(proxy.authority, "berth/c:v1"), platform: Self.amd64)
            }
        }
        #expect(error?.description.contains("blob \(big)") == true)
        #expect(error?.description.contains("digest mismatch") == true)
        #expect(error?.repository == "berth/c")
        #expect(!target.blobFiles.contains(big.hex))
        #expect(target.ingestFiles.isEmpty)
        // Not retried: a wrong digest is not a dropped connection.
        #expect(proxy.requests.filter { $0.path.hasSuffix("/blobs/\(big)") }.count == 1)
    }

    @Test func wrongManifestIsRejected() async throws {
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "manifest")
        try image.put(into: source.store)
        try await push(
            image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "berth/m:v1"))

        let proxy = try TestProxy(upstream: registry.port) { request in
            request.path.contains("/manifests/") ? .corrupt(at: 20) : .forward
        }
        defer { proxy.stop() }
        let target = try TemporaryStore()
        defer { target.cleanup() }
        for text in ["berth/m:v1", "berth/m@\(image.manifest.descriptor.digest)"] {
            let error = await #expect(throws: RegistryError.self) {
                try await withClient(target.store) { client in
                    try await client.pull(try reference(proxy.authority, text), platform: Self.amd64)
                }
            }
            #expect(error?.description.contains("digest mismatch") == true)
        }
        #expect(target.blobFiles.isEmpty)
    }

    @Test func basicAuth() async throws {
        let registry = try await RegistryServer(auth: .htpasswd(user: "berth", password: "s3cret:pw"))
        defer { registry.stop() }
        let directory = try makeTemporaryDirectory("berth-auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let authFile = directory + "/auth.json"
        let encoded = Data("berth:s3cret:pw".utf8).base64EncodedString()
        try #"{"auths": {"\#(registry.authority)": {"auth": "\#(encoded)"}}}"#.write(
            toFile: authFile, atomically: true, encoding: .utf8)
        // As a user would have it: REGISTRY_AUTH_FILE names the file.
        let credentials = CredentialStore.standard(environment: ["REGISTRY_AUTH_FILE": authFile])

        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "basic")
        try image.put(into: source.store)
        let tagged = try reference(registry.authority, "berth/private:v1")
        try await push(image.manifest.descriptor, from: source.store, to: tagged, credentials: credentials)

        let target = try TemporaryStore()
        defer { target.cleanup() }
        let resolved = try await withClient(target.store, credentials: credentials) { client in
            try await client.pull(tagged, platform: Self.amd64)
        }
        #expect(resolved.manifestDescriptor.digest == image.manifest.descriptor.digest)
        #expect(image.blobs.allSatisfy { target.store.contains($0.descriptor.digest) })

        let anonymous = await #expect(throws: RegistryError.self) {
            try await withClient(target.store) { try await $0.pull(tagged, platform: Self.amd64) }
        }
        #expect(anonymous?.status == 401)
        #expect(anonymous?.description.contains("user name and password") == true)

        let wrong = CredentialStore(
            files: [], overrides: [registry.authority: Credential(username: "berth", password: "nope")])
        let refused = await #expect(throws: RegistryError.self) {
            try await withClient(target.store, credentials: wrong) { try await $0.pull(tagged, platform: Self.amd64) }
        }
        #expect(refused?.status == 401)
        #expect(refused?.object == "manifest v1")
    }

    @Test func bearerTokensAndCrossRepositoryMount() async throws {
        let issuer = try await TokenIssuer(users: ["berth": "pw"])
        defer { issuer.stop() }
        let registry = try await RegistryServer(auth: .token(issuer))
        defer { registry.stop() }
        let credentials = CredentialStore(
            files: [], overrides: [registry.authority: Credential(username: "berth", password: "pw")])
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "bearer")
        try image.put(into: source.store)
        let first = try reference(registry.authority, "team/app:v1")
        try await push(image.manifest.descriptor, from: source.store, to: first, credentials: credentials)
        #expect(issuer.requests.allSatisfy { $0.header("Authorization")?.hasPrefix("Basic ") == true })
        #expect(issuer.requests.contains { $0.query.contains { $0 == ("scope", "repository:team/app:pull,push") } })
        #expect(issuer.requests.allSatisfy { $0.query.contains { $0 == ("service", TokenIssuer.service) } })

        // To another repository of the same registry: mounted, not uploaded.
        let mounted = ProgressLog()
        let second = try reference(registry.authority, "team/copy:v1")
        try await push(
            image.manifest.descriptor, from: source.store, to: second, credentials: credentials, mountFrom: [first],
            progress: mounted.handler)
        #expect(lastPhases(mounted).values.allSatisfy { $0 == .mounted })
        #expect(
            issuer.requests.contains { request in
                let scopes = request.query.filter { $0.name == "scope" }.map(\.value)
                return scopes.contains("repository:team/copy:pull,push") && scopes.contains("repository:team/app:pull")
            })

        // Anonymous pull: a token without credentials, fetched once for all the blobs.
        let before = issuer.requests.count
        let target = try TemporaryStore()
        defer { target.cleanup() }
        let resolved = try await withClient(target.store) { client in
            try await client.pull(second, platform: Self.amd64)
        }
        #expect(resolved.manifestDescriptor.digest == image.manifest.descriptor.digest)
        #expect(image.blobs.allSatisfy { target.store.contains($0.descriptor.digest) })
        let anonymousRequests = issuer.requests.dropFirst(before)
        #expect(anonymousRequests.count == 1)
        #expect(anonymousRequests.allSatisfy { $0.header("Authorization") == nil })

        // Anonymous push: the token grants pull only, and the registry says so.
        let denied = await #expect(throws: RegistryError.self) {
            try await push(
                image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "x/y:1"))
        }
        #expect(denied?.status == 401)
        #expect(denied?.repository == "x/y")

        // Wrong password: the token service refuses.
        let wrong = CredentialStore(
            files: [], overrides: [registry.authority: Credential(username: "berth", password: "bad")])
        let refused = await #expect(throws: RegistryError.self) {
            try await withClient(target.store, credentials: wrong) { try await $0.pull(second, platform: Self.amd64) }
        }
        #expect(refused?.object?.hasPrefix("token from http://\(issuer.authority)/token") == true)
        #expect(refused?.message == "bad credentials")
    }

    @Test func crossHostRedirectDropsAuthorization() async throws {
        let registry = try await RegistryServer(auth: .htpasswd(user: "berth", password: "pw"))
        defer { registry.stop() }
        let credentials = CredentialStore(
            files: [], overrides: [registry.authority: Credential(username: "berth", password: "pw")])
        let source = try TemporaryStore()
        defer { source.cleanup() }
        let image = TestImage.make(seed: "redirect")
        try image.put(into: source.store)
        try await push(
            image.manifest.descriptor, from: source.store, to: try reference(registry.authority, "berth/r:v1"),
            credentials: credentials)

        // "Storage" on another host (127.0.0.2) serves the blobs the proxy redirects to.
        let blobs = Dictionary(uniqueKeysWithValues: image.blobs.map { ($0.descriptor.digest.hex, $0.bytes) })
        let storageLog = RequestLog()
        let storage = try TestHTTPServer(host: "127.0.0.2") { request in
            storageLog.append(request)
            guard let bytes = blobs[String(request.path.split(separator: "/").last ?? "")] else {
                return TestHTTPResponse(status: 404)
            }
            return TestHTTPResponse(status: 200, body: bytes)
        }
        defer { storage.stop() }
        let proxy = try TestProxy(upstream: registry.port) { request in
            guard request.path.contains("/blobs/sha256:") else { return .forward }
            let hex = request.path.split(separator: ":").last ?? ""
            return .respond(
                TestHTTPResponse(status: 307, headers: [("Location", "http://\(storage.authority)/storage/\(hex)")]))
        }
        defer { proxy.stop() }
        let proxied = CredentialStore(
            files: [], overrides: [proxy.authority: credentials.overrides[registry.authority]!])
        let target = try TemporaryStore()
        defer { target.cleanup() }
        try await withClient(target.store, credentials: proxied) { client in
            try await client.pull(try reference(proxy.authority, "berth/r:v1"), platform: Self.amd64)
        }
        #expect(image.blobs.allSatisfy { target.store.contains($0.descriptor.digest) })
        #expect(storageLog.all.count == image.blobs.count)
        #expect(storageLog.all.allSatisfy { $0.header("Authorization") == nil })
        let redirected = proxy.requests.filter { $0.path.contains("/blobs/") }
        #expect(redirected.count == image.blobs.count)
        #expect(redirected.allSatisfy { $0.header("Authorization")?.hasPrefix("Basic ") == true })
    }
}
