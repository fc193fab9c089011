import BerthSpec
import BerthStore
import Foundation
import Testing

@testable import BerthRegistry

@Suite struct ChallengeTests {
    @Test func dockerHubBearer() {
        let header =
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#
        let challenges = Challenge.parse(header)
        #expect(challenges.count == 1)
        #expect(challenges[0].scheme == "bearer")
        #expect(challenges[0].realm == "https://auth.docker.io/token")
        #expect(challenges[0].service == "registry.docker.io")
        #expect(challenges[0].scopes == ["repository:library/busybox:pull"])
    }

    @Test func basicAndSeveralInOneHeader() {
        let challenges = Challenge.parse(#"Basic realm="Registry Realm", Bearer realm="https://a/t",service=s"#)
        #expect(challenges.map(\.scheme) == ["basic", "bearer"])
        #expect(challenges[0].realm == "Registry Realm")
        #expect(challenges[1].realm == "https://a/t" && challenges[1].service == "s")
    }

    @Test func severalHeadersAndScopes() {
        let challenges = Challenge.parse([
            #"Basic realm="x""#, #"Bearer realm="https://t",scope="repository:a:pull repository:b:pull,push""#,
        ])
        #expect(challenges.count == 2)
        #expect(challenges[1].scopes == ["repository:a:pull", "repository:b:pull,push"])
    }

    @Test func escapesCaseAndSpaces() {
        let challenges = Challenge.parse(#"BEARER  Realm = "a \"quoted\" realm" , Error="insufficient_scope""#)
        #expect(challenges.count == 1)
        #expect(challenges[0].scheme == "bearer")
        #expect(challenges[0].realm == #"a "quoted" realm"#)
        #expect(challenges[0].parameters["error"] == "insufficient_scope")
    }

    @Test func malformed() {
        #expect(Challenge.parse("").isEmpty)
        #expect(Challenge.parse("Bearer").map(\.scheme) == ["bearer"])
        // An unterminated quote: the scheme is kept, the broken parameter is not.
        let broken = Challenge.parse(#"Bearer realm="https://t"#)
        #expect(broken.count == 1 && broken[0].realm == nil)
    }
}

@Suite struct CredentialTests {
    static func auth(_ user: String, _ password: String) -> String {
        Data("\(user):\(password)".utf8).base64EncodedString()
    }

    static func write(_ json: String) throws -> String {
        let path = NSTemporaryDirectory() + "/berth-auth-\(UUID().uuidString).json"
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func standardFilesInOrder() {
        let files = CredentialStore.standardFiles(environment: [
            "REGISTRY_AUTH_FILE": "/a/auth.json", "XDG_RUNTIME_DIR": "/run/user/1000", "HOME": "/home/u",
        ])
        #expect(
            files == [
                "/a/auth.json", "/run/user/1000/containers/auth.json", "/home/u/.config/containers/auth.json",
                "/home/u/.docker/config.json",
            ])
        #expect(
            CredentialStore.standardFiles(environment: ["HOME": "/root", "DOCKER_CONFIG": "/etc/dc"]) == [
                "/root/.config/containers/auth.json", "/etc/dc/config.json",
            ])
        #expect(CredentialStore.standardFiles(environment: [:]).isEmpty)
    }

    @Test func dockerHubKeyAsDockerWritesIt() throws {
        let file = try Self.write(
            #"{"auths": {"https://index.docker.io/v1/": {"auth": "\#(Self.auth("hub", "pw"))"}}}"#)
        defer { unlink(file) }
        let store = CredentialStore(files: [file])
        #expect(store.credential(registry: "docker.io") == Credential(username: "hub", password: "pw"))
        #expect(store.credential(registry: "ghcr.io") == nil)
    }

    @Test func firstFileWinsAndMissingFilesAreSkipped() throws {
        let first = try Self.write(#"{"auths": {"ghcr.io": {"auth": "\#(Self.auth("one", "1"))"}}}"#)
        let second = try Self.write(
            #"{"auths": {"ghcr.io": {"auth": "\#(Self.auth("two", "2"))"}, "quay.io": {"auth": "\#(Self.auth("q", "3"))"}}}"#
        )
        defer {
            unlink(first)
            unlink(second)
        }
        let store = CredentialStore(files: ["/nonexistent/auth.json", first, second])
        #expect(store.credential(registry: "ghcr.io")?.username == "one")
        #expect(store.credential(registry: "quay.io")?.username == "q")
    }

    @Test func repositoryScopedKeysAndPorts() throws {
        let file = try Self.write(
            #"""
            {"auths": {
              "quay.io": {"auth": "\#(Self.auth("all", "a"))"},
              "quay.io/org": {"auth": "\#(Self.auth("org", "o"))"},
              "quay.io/org/app": {"auth": "\#(Self.auth("app", "p"))"},
              "http://localhost:5001": {"username": "plain", "password": "text"},
              "broken.io": {"auth": "!!!"}
            }}
            """#)
        defer { unlink(file) }
        let store = CredentialStore(files: [file])
        #expect(store.credential(registry: "quay.io", repository: "org/app")?.username == "app")
        #expect(store.credential(registry: "quay.io", repository: "org/other")?.username == "org")
        #expect(store.credential(registry: "quay.io", repository: "organic/x")?.username == "all")
        #expect(store.credential(registry: "quay.io")?.username == "all")
        #expect(store.credential(registry: "localhost:5001") == Credential(username: "plain", password: "text"))
        #expect(store.credential(registry: "broken.io") == nil)
    }

    @Test func passwordsWithColonsAndOverrides() throws {
        let file = try Self.write(#"{"auths": {"r.io": {"auth": "\#(Self.auth("u", "p:a:s"))"}}}"#)
        defer { unlink(file) }
        var store = CredentialStore(files: [file])
        #expect(store.credential(registry: "r.io")?.password == "p:a:s")
        store.overrides["r.io"] = Credential(username: "flag", password: "f")
        #expect(store.credential(registry: "r.io")?.username == "flag")
        #expect(Credential(username: "u", password: "p").basicAuthorization == "Basic dTpw")
    }
}

@Suite struct PlatformTests {
    static func entry(_ arch: String, _ variant: String? = nil, os: String = "linux", n: Int) -> Descriptor {
        var d = Descriptor(
            mediaType: MediaType.ociManifest, digest: Digest("sha256:" + String(repeating: String(n), count: 64))!,
            size: 1)
        d.platform = Platform(architecture: arch, os: os, variant: variant)
        return d
    }

    static let index = [
        entry("unknown", os: "unknown", n: 0), entry("arm", "v6", n: 1), entry("arm", "v7", n: 2),
        entry("arm64", "v8", n: 3), entry("amd64", n: 4), entry("ppc64le", n: 5), entry("amd64", os: "windows", n: 6),
    ]

    static func chosen(_ platform: String, in manifests: [Descriptor] = index) -> Int? {
        PlatformMatch.choose(from: manifests, for: Platform(parsing: platform)!).map {
            Int(String($0.digest.hex.first!))!
        }
    }

    @Test func exactMatches() {
        #expect(Self.chosen("linux/amd64") == 4)
        #expect(Self.chosen("windows/amd64") == 6)
        #expect(Self.chosen("linux/arm/v7") == 2)
        #expect(Self.chosen("linux/arm/v6") == 1)
        #expect(Self.chosen("linux/ppc64le") == 5)
        #expect(Self.chosen("linux/s390x") == nil)
    }

    @Test func arm64AndItsDefaultVariant() {
        #expect(Self.chosen("linux/arm64") == 3)
        #expect(Self.chosen("linux/arm64/v8") == 3)
        #expect(Self.chosen("linux/aarch64") == 3)
        #expect(Self.chosen("linux/arm64", in: [Self.entry("arm64", n: 7)]) == 7)
        #expect(Self.chosen("linux/x86_64") == 4)
    }

    @Test func compatibleFallbacks() {
        let armOnly = [Self.entry("arm", "v5", n: 1), Self.entry("arm", "v6", n: 2)]
        #expect(Self.chosen("linux/arm/v7", in: armOnly) == 2)
        #expect(Self.chosen("linux/arm/v8", in: armOnly) == 2)
        #expect(Self.chosen("linux/arm/v6", in: armOnly) == 2)
        #expect(Self.chosen("linux/arm/v5", in: armOnly) == 1)
        #expect(Self.chosen("linux/amd64", in: [Self.entry("386", n: 9)]) == 9)
        #expect(Self.chosen("linux/386", in: [Self.entry("amd64", n: 9)]) == nil)
    }

    @Test func exactVariantBeforeOneWithout() {
        let index = [Self.entry("arm", n: 1), Self.entry("arm", "v7", n: 2)]
        #expect(Self.chosen("linux/arm/v7", in: index) == 2)
        #expect(Self.chosen("linux/arm", in: index) == 1)
        #expect(Self.chosen("unknown/unknown") == nil)
    }
}

@Suite struct EndpointTests {
    static func ref(_ text: String) throws -> ImageReference { try ImageReference(parsing: text) }

    @Test func dockerNormalization() throws {
        #expect(try Self.ref("busybox").normalized.description == "docker.io/library/busybox:latest")
        #expect(try Self.ref("user/app:1").normalized.description == "docker.io/user/app:1")
        #expect(try Self.ref("index.docker.io/busybox").normalized.description == "docker.io/library/busybox:latest")
        #expect(try Self.ref("docker.io/library/nginx:1.27").normalized.description == "docker.io/library/nginx:1.27")
        #expect(try Self.ref("localhost/app").normalized.description == "localhost/app:latest")
        #expect(try Self.ref("ghcr.io/o/p").normalized.description == "ghcr.io/o/p:latest")
        let digest = "sha256:" + String(repeating: "ab", count: 32)
        #expect(try Self.ref("busybox@\(digest)").normalized.description == "docker.io/library/busybox@\(digest)")
        #expect(try Self.ref("busybox:1@\(digest)").normalized.description == "docker.io/library/busybox:1@\(digest)")
        #expect(try Self.ref("busybox").normalizedName == "docker.io/library/busybox")
        #expect(try Self.ref("127.0.0.1:5001/a/b").registryHost == "127.0.0.1:5001")
        #expect(try Self.ref("127.0.0.1:5001/b").repository == "b")
    }

    @Test func urls() throws {
        let hub = Endpoint(try Self.ref("busybox"))
        #expect(hub.registry == "docker.io")
        #expect(hub.manifestURL("latest") == "https://registry-1.docker.io/v2/library/busybox/manifests/latest")
        let digest = Digest("sha256:" + String(repeating: "0", count: 64))!
        #expect(hub.blobURL(digest) == "https://registry-1.docker.io/v2/library/busybox/blobs/\(digest)")
        #expect(hub.uploadURL == "https://registry-1.docker.io/v2/library/busybox/blobs/uploads/")
        #expect(
            Endpoint(try Self.ref("ghcr.io/o/p")).mountURL(digest, from: "o/q")
                == "https://ghcr.io/v2/o/p/blobs/uploads/?mount=\(digest)&from=o/q")
        #expect(Endpoint(try Self.ref("localhost:5000/a")).base == "http://localhost:5000/v2/a")
        #expect(Endpoint(try Self.ref("127.0.0.2:5000/a")).scheme == "http")
        #expect(Endpoint(registry: "[::1]:5000", repository: "a").scheme == "http")
        #expect(Endpoint(try Self.ref("myreg.lan:5000/a")).scheme == "https")
        #expect(Endpoint(try Self.ref("myreg.lan:5000/a"), insecure: ["myreg.lan:5000"]).scheme == "http")
        #expect(Endpoint(try Self.ref("myreg.lan:5000/a"), insecure: ["myreg.lan"]).scheme == "http")
        #expect(Endpoint(try Self.ref("128.0.0.1:5000/a")).scheme == "https")
    }

    @Test func manifestReference() throws {
        let digest = "sha256:" + String(repeating: "c", count: 64)
        #expect(Endpoint.manifestReference(try Self.ref("a")) == "latest")
        #expect(Endpoint.manifestReference(try Self.ref("a:v2")) == "v2")
        #expect(Endpoint.manifestReference(try Self.ref("a:v2@\(digest)")) == digest)
    }

    @Test func helpers() {
        #expect(RegistryClient.rangeStart("bytes 100-199/200") == 100)
        #expect(RegistryClient.rangeStart("bytes */200") == nil)
        #expect(Endpoint.queryEscaped("repository:a/b:pull,push") == "repository%3Aa/b%3Apull%2Cpush")
        #expect(
            RegistryClient.resolve("/v2/a/blobs/uploads/u?x=1", against: "http://h:1/v2/a/blobs/uploads/")
                == "http://h:1/v2/a/blobs/uploads/u?x=1")
        #expect(RegistryClient.resolve("https://s3/x", against: "http://h:1/v2/") == "https://s3/x")
        #expect(RegistryClient.authority(of: "http://h:1/a") != RegistryClient.authority(of: "http://h:2/a"))
        #expect(RegistryClient.authority(of: "http://h:1/a") == RegistryClient.authority(of: "http://h:1/b?c"))
    }

    @Test func manifestTypes() throws {
        let endpoint = Endpoint(try Self.ref("a"))
        func type(_ json: String, _ contentType: String? = nil) throws -> String {
            try RegistryClient.manifestMediaType(
                Array(json.utf8), contentType: contentType, endpoint: endpoint, object: "m")
        }
        #expect(
            try type(#"{"mediaType": "\#(MediaType.dockerManifest)"}"#, "application/json") == MediaType.dockerManifest)
        #expect(try type(#"{"schemaVersion": 2}"#, MediaType.ociIndex + "; charset=utf-8") == MediaType.ociIndex)
        #expect(try type(#"{"manifests": []}"#) == MediaType.ociIndex)
        #expect(try type(#"{"config": {}, "layers": []}"#) == MediaType.ociManifest)
        #expect(throws: RegistryError.self) { try type(#"{"schemaVersion": 1, "fsLayers": []}"#) }
        #expect(throws: RegistryError.self) { try type("[]", "text/html") }
    }

    @Test func errorDescription() {
        let error = RegistryError(
            registry: "127.0.0.1:5001", repository: "a/b", object: "manifest latest", status: 404,
            code: "MANIFEST_UNKNOWN", message: "manifest unknown")
        #expect(
            error.description == "127.0.0.1:5001/a/b, manifest latest: HTTP 404: manifest unknown (MANIFEST_UNKNOWN)")
        #expect(
            RegistryErrorBody.first(in: Array(#"{"errors":[{"code":"DENIED","message":"no"}]}"#.utf8))?.code == "DENIED"
        )
        #expect(RegistryErrorBody.first(in: Array("<html>".utf8)) == nil)
    }
}

@Suite struct ProgressTests {
    static let digest = Digest("sha256:" + String(repeating: "ab", count: 32))!

    @Test func units() {
        #expect(ProgressRenderer.bytes(0) == "0B")
        #expect(ProgressRenderer.bytes(999) == "999B")
        #expect(ProgressRenderer.bytes(1234) == "1.23kB")
        #expect(ProgressRenderer.bytes(34_567_890) == "34.6MB")
        #expect(ProgressRenderer.bytes(104_857_600) == "105MB")
        #expect(ProgressRenderer.bytes(2_000_000_000) == "2.00GB")
    }

    @Test func lines() {
        let blobs = [
            TransferProgress(digest: Self.digest, completed: 50, total: 100, phase: .transferring),
            TransferProgress(digest: Self.digest, completed: 100, total: 100, phase: .done),
            TransferProgress(digest: Self.digest, completed: 0, total: 100, phase: .waiting),
        ]
        let lines = ProgressRenderer.render(blobs, direction: .download, width: 80, elapsed: 2)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("abababababab: Downloading [") && lines[0].hasSuffix("] 50B/100B"))
        #expect(lines[1] == "abababababab: Pull complete")
        #expect(lines[2] == "abababababab: Waiting")
        #expect(lines[3].hasPrefix("total: [") && lines[3].contains("150B/300B") && lines[3].hasSuffix("75B/s"))
        #expect(lines.allSatisfy { $0.count <= 80 })
        #expect(ProgressRenderer.render(blobs, direction: .upload, width: 30, elapsed: 0).allSatisfy { $0.count <= 30 })
        #expect(ProgressRenderer.bar(5, 10, width: 12) == "[=====>    ]")
        #expect(ProgressRenderer.bar(10, 10, width: 6) == "[====]")
    }

    @Test func quietOffATerminal() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let renderer = ProgressRenderer(fd: fds[1])
        #expect(!renderer.interactive)
        renderer.update(TransferProgress(digest: Self.digest, completed: 1, total: 2, phase: .transferring))
        renderer.finish()
        close(fds[1])
        var byte: UInt8 = 0
        #expect(read(fds[0], &byte, 1) == 0)
    }

    @Test func drawsWhenInteractive() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let renderer = ProgressRenderer(fd: fds[1], interactive: true)
        renderer.update(TransferProgress(digest: Self.digest, completed: 1, total: 2, phase: .transferring))
        renderer.update(TransferProgress(digest: Self.digest, completed: 2, total: 2, phase: .done))
        renderer.finish()
        close(fds[1])
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(fds[0], &buffer, buffer.count)
        let text = String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
        #expect(text.contains("abababababab: Downloading"))
        #expect(text.contains("abababababab: Pull complete"))
        #expect(text.contains("\u{1B}[2A"))  // redrawn in place
    }
}
