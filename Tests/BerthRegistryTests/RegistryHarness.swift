import BerthRegistry
import BerthStore
import BerthTestSupport
import Crypto
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Debian's `docker-registry` (the Distribution v2 server), started for a test on a free port of
/// 127.0.0.1 (never 5000, the machine's own), with its config and storage in a temp directory,
/// and killed by its PID at the end.
final class RegistryServer {
    static let binary = "/usr/bin/docker-registry"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    enum Auth {
        case none
        /// htpasswd with bcrypt (`htpasswd -B`).
        case htpasswd(user: String, password: String)
        /// Bearer tokens from `issuer`.
        case token(TokenIssuer)
    }

    let directory: String
    let port: UInt16
    private let process: ChildProcess
    private var stopped = false

    var authority: String { "127.0.0.1:\(port)" }

    init(auth: Auth = .none) async throws {
        guard Self.available else {
            throw TestServerError(description: "\(Self.binary) is missing (apt-get install docker-registry)")
        }
        directory = try makeTemporaryDirectory("berth-registry")
        port = try freePort()
        var authYAML = ""
        switch auth {
        case .none: break
        case .htpasswd(let user, let password):
            let file = directory + "/htpasswd"
            let htpasswd = try await run(["/usr/bin/htpasswd", "-Bbc", file, user, password])
            guard htpasswd.status == 0 else { throw TestServerError(description: "htpasswd: \(htpasswd.output)") }
            authYAML = """
                auth:
                  htpasswd:
                    realm: berth-test
                    path: \(file)

                """
        case .token(let issuer):
            authYAML = """
                auth:
                  token:
                    realm: http://\(issuer.authority)/token
                    service: \(TokenIssuer.service)
                    issuer: \(TokenIssuer.issuer)
                    rootcertbundle: \(issuer.certificatePath)

                """
        }
        let config = """
            version: 0.1
            log:
              level: error
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(directory)/data
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
              secret: berth-test-secret
            \(authYAML)
            """
        try config.write(toFile: directory + "/config.yml", atomically: true, encoding: .utf8)
        process = try ChildProcess([
            "/bin/sh", "-c", "exec \(Self.binary) serve \(directory)/config.yml >\(directory)/log 2>&1",
        ])
        let deadline = ContinuousClock.now + .seconds(15)
        while Socket.connect(port: port) == nil {
            var status: Int32 = 0
            if waitpid(process.pid, &status, WNOHANG) == process.pid {
                let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
                throw TestServerError(description: "docker-registry exited: \(log)")
            }
            guard ContinuousClock.now < deadline else {
                throw TestServerError(description: "docker-registry did not listen on \(port) within 15 s")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    var log: String { (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? "" }

    /// Kills the registry (by its PID) and removes its directory.
    func stop() {
        guard !stopped else { return }
        stopped = true
        kill(process.pid, SIGKILL)
        process.wait()
        try? FileManager.default.removeItem(atPath: directory)
    }

    deinit { stop() }
}

/// Waits for a short-lived child without blocking the cooperative pool for long.
func exitStatus(_ child: ChildProcess) async -> Int32 {
    while true {
        var status: Int32 = 0
        let r = waitpid(child.pid, &status, WNOHANG)
        if r == child.pid {
            _ = child.wait()  // already reaped: records nothing new, but keeps deinit from waiting
            return (status >> 8) & 0xFF
        }
        if r < 0 { return child.wait() >> 8 & 0xFF }
        try? await Task.sleep(for: .milliseconds(10))
    }
}

/// A child's exit code and what it wrote to stdout and stderr (through files: ChildProcess
/// gives the child our stdio otherwise).
func run(_ argv: [String]) async throws -> (status: Int32, output: String) {
    let directory = try makeTemporaryDirectory("berth-run")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let quoted = argv.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
    let child = try ChildProcess(["/bin/sh", "-c", "exec \(quoted) >\(directory)/out 2>&1"])
    let status = await exitStatus(child)
    let output = (try? String(contentsOfFile: directory + "/out", encoding: .utf8)) ?? ""
    return (status, output)
}

func makeTemporaryDirectory(_ prefix: String) throws -> String {
    var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
    guard let path = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw TestServerError(description: "mkdtemp: \(String(cString: strerror(errno)))")
    }
    return String(cString: path)
}

/// A port nobody listens on now (bound and released: another process could take it, which on
/// loopback in a test is unlikely enough).
func freePort() throws -> UInt16 {
    while true {
        let listener = try TCPListener { _ in }
        let port = listener.port
        listener.stop()
        if port != 5000 { return port }
    }
}

/// The registry's token service, in process: GET /token?service=…&scope=…, with or without basic
/// credentials. Known users get what they ask for; anonymous callers get pull only. Tokens are
/// JWTs signed ES256 with a key made for the test, whose certificate (made by openssl) the
/// registry trusts; `kid` is libtrust's key ID, which is how Distribution 2.8 finds the key.
final class TokenIssuer: Sendable {
    static let issuer = "berth-test-issuer"
    static let service = "berth-test-registry"

    let certificatePath: String
    let directory: String
    private let users: [String: String]
    private let server: TestHTTPServer
    let log: RequestLog

    var authority: String { server.authority }
    var requests: [TestHTTPRequest] { log.all }

    init(users: [String: String]) async throws {
        directory = try makeTemporaryDirectory("berth-issuer")
        let key = P256.Signing.PrivateKey()
        self.users = users
        try key.pemRepresentation.write(toFile: directory + "/key.pem", atomically: true, encoding: .utf8)
        certificatePath = directory + "/cert.pem"
        let openssl = try await run([
            "/usr/bin/openssl", "req", "-new", "-x509", "-key", directory + "/key.pem", "-out", certificatePath,
            "-days",
            "2", "-subj", "/CN=\(Self.issuer)",
        ])
        guard openssl.status == 0 else { throw TestServerError(description: "openssl: \(openssl.output)") }
        let log = RequestLog()
        self.log = log
        let kid = Self.libtrustKeyID(key.publicKey.derRepresentation)
        let raw = key.rawRepresentation  // the key itself is not Sendable
        server = try TestHTTPServer { request in
            log.append(request)
            return Self.answer(
                request, key: try! P256.Signing.PrivateKey(rawRepresentation: raw), kid: kid, users: users)
        }
    }

    func stop() {
        server.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func answer(
        _ request: TestHTTPRequest, key: P256.Signing.PrivateKey, kid: String, users: [String: String]
    ) -> TestHTTPResponse {
        var account: String?
        if let authorization = request.header("Authorization") {
            guard authorization.hasPrefix("Basic "),
                let decoded = Data(base64Encoded: String(authorization.dropFirst(6))).flatMap({
                    String(data: $0, encoding: .utf8)
                }),
                let colon = decoded.firstIndex(of: ":"),
                users[String(decoded[..<colon])] == String(decoded[decoded.index(after: colon)...])
            else {
                return TestHTTPResponse(
                    status: 401, headers: [("Content-Type", "application/json")],
                    body: Array(#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#.utf8))
            }
            account = String(decoded[..<colon])
        }
        var access: [[String: Any]] = []
        for (name, value) in request.query where name == "scope" {
            let parts = value.split(separator: ":").map(String.init)
            guard parts.count == 3, parts[0] == "repository" else { continue }
            let wanted = parts[2].split(separator: ",").map(String.init)
            let granted = account == nil ? wanted.filter { $0 == "pull" } : wanted
            access.append(["type": "repository", "name": parts[1], "actions": granted])
        }
        let now = Int(Date().timeIntervalSince1970)
        let header: [String: Any] = ["typ": "JWT", "alg": "ES256", "kid": kid]
        let claims: [String: Any] = [
            "iss": issuer, "sub": account ?? "", "aud": service, "exp": now + 300, "nbf": now - 10, "iat": now,
            "jti": UUID().uuidString, "access": access,
        ]
        let signingInput =
            base64URL(try! JSONSerialization.data(withJSONObject: header)) + "."
            + base64URL(try! JSONSerialization.data(withJSONObject: claims))
        let signature = try! key.signature(for: Data(signingInput.utf8))
        let token = signingInput + "." + base64URL(signature.rawRepresentation)
        let body = try! JSONSerialization.data(withJSONObject: ["token": token, "expires_in": 300])
        return TestHTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(body))
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// libtrust's key ID: the first 240 bits of SHA-256 over the DER SubjectPublicKeyInfo, in
    /// base32, in twelve groups of four joined by ':'.
    static func libtrustKeyID(_ der: Data) -> String {
        let hash = Array(SHA256.hash(data: der)).prefix(30)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0
        var value = 0
        var out = ""
        for byte in hash {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(value >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        var groups: [String] = []
        var rest = Substring(out)
        while !rest.isEmpty {
            groups.append(String(rest.prefix(4)))
            rest = rest.dropFirst(4)
        }
        return groups.joined(separator: ":")
    }
}

/// Integration tests against a real registry need `docker-registry`; they skip without it, unless
/// BERTH_REQUIRE_INTEGRATION=1 (then they fail).
extension Trait where Self == ConditionTrait {
    static var needsRegistry: Self {
        .enabled(
            if: RegistryServer.available || Integration.required,
            "docker-registry is not installed (scripts/install-deps installs it)")
    }
}

/// A content store in a fresh temp directory, removed by `cleanup()`.
struct TemporaryStore {
    let root: String
    let store: ContentStore

    init() throws {
        root = try makeTemporaryDirectory("berth-store")
        store = ContentStore(root: root)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: root) }

    /// The files in blobs/sha256 and in ingest/.
    var blobFiles: [String] { (try? FileManager.default.contentsOfDirectory(atPath: store.blobs)) ?? [] }
    var ingestFiles: [String] { (try? FileManager.default.contentsOfDirectory(atPath: store.ingestDirectory)) ?? [] }
}

/// Runs `body` with a client on `store` (no credential files unless given) and shuts it down.
@discardableResult
func withClient<T>(
    _ store: ContentStore, credentials: CredentialStore = CredentialStore(files: []),
    _ body: (RegistryClient) async throws -> T
) async throws -> T {
    let client = RegistryClient(store: store, credentials: credentials, retryDelay: .milliseconds(10))
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

/// Collects progress reports from several tasks.
final class ProgressLog: Sendable {
    private let reports = Mutex<[TransferProgress]>([])
    var handler: ProgressHandler { { [self] p in self.reports.withLock { $0.append(p) } } }
    var all: [TransferProgress] { reports.withLock { $0 } }
}
