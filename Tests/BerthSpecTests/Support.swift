import Foundation
import Testing

@testable import BerthSpec

/// Validates one spec held in memory, as SpecLoader does for a file without drop-ins: parse, then
/// decode. Returns the spec when it is valid, and every diagnostic in file order.
func validate(bytes: [UInt8], file: String = "/specs/web.json") -> (spec: ContainerSpec?, diagnostics: [Diagnostic]) {
    switch JSONParser.parse(bytes, file: file) {
    case .failure(let diagnostic):
        return (nil, [diagnostic])
    case .success(let root):
        let stem = String(file.split(separator: "/").last ?? "").replacingOccurrences(of: ".json", with: "")
        var decoder = SpecDecoder()
        let decoded = decoder.decode(root, defaultName: stem)
        return (decoded?.0, decoder.diagnostics.sorted(by: Diagnostic.ordered))
    }
}

func validate(_ text: String, file: String = "/specs/web.json") -> (spec: ContainerSpec?, diagnostics: [Diagnostic]) {
    validate(bytes: Array(text.utf8), file: file)
}

/// The diagnostics of a spec as `FILE:LINE:COL: PATH: message` lines.
func lines(_ text: String, file: String = "/specs/web.json") -> [String] {
    validate(text, file: file).diagnostics.map(\.description)
}

/// A deterministic PRNG (SplitMix64), so every run mutates the same way.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A fresh temporary directory, removed by `cleanup()`.
struct TempDir {
    let path: String

    init() throws {
        var template = Array(
            (NSTemporaryDirectory() as NSString).appendingPathComponent("berth-spec-test-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let made else { throw CocoaError(.fileWriteUnknown) }
        path = String(cString: made)
    }

    /// Writes `text` at `relative` (creating folders) and returns the full path.
    @discardableResult
    func write(_ relative: String, _ text: String) throws -> String {
        try write(relative, bytes: Array(text.utf8))
    }

    @discardableResult
    func write(_ relative: String, bytes: [UInt8]) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }

    func mkdir(_ relative: String) throws -> String {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    func symlink(_ relative: String, to destination: String) throws {
        let full = path + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: full, withDestinationPath: destination)
    }

    func cleanup() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Realistic valid specs, used by the mutation test and as bases elsewhere.
enum Samples {
    static let web = """
        {
          "$schema": "https://berth.example/container-spec.schema.json",
          "image": "docker.io/library/nginx:1.27",
          "pull": "missing",
          "command": ["nginx", "-g", "daemon off;"],
          "env": {"TZ": "UTC", "WORKERS": 4, "DEBUG": false},
          "workdir": "/usr/share/nginx",
          "user": "101:101",
          "hostname": "web",
          "init": true,
          "ports": [
            "8080:80",
            "127.0.0.1:8443:443/tcp",
            {"host": 5353, "container": 53, "protocol": "udp", "address": "0.0.0.0"},
            {"host": 9000, "container": 9000, "count": 10}
          ],
          "volumes": [
            "/srv/web/html:/usr/share/nginx/html:ro",
            {"volume": "web-cache", "target": "/var/cache/nginx"}
          ],
          "tmpfs": ["/run:size=64m,mode=1777", {"target": "/tmp", "size": "128M"}],
          "resources": {
            "memory": "256M", "cpus": 0.5, "pids": 200, "shmSize": "64M",
            "ulimits": {"nofile": {"soft": 1024, "hard": 4096}, "core": 0}
          },
          "restart": {"policy": "on-failure", "maxRetries": 5},
          "healthcheck": {
            "test": ["CMD", "wget", "-q", "-O", "/dev/null", "http://localhost/"],
            "interval": "30s", "timeout": "5s", "retries": 3, "startPeriod": "10s", "onFailure": "restart"
          },
          "dependsOn": ["cache", {"name": "db", "condition": "healthy"}],
          "security": {"readonlyRootfs": true, "capAdd": ["NET_BIND_SERVICE"], "capDrop": ["ALL"], "noNewPrivileges": true},
          "stopSignal": "SIGQUIT",
          "stopTimeout": "20s",
          "labels": {"com.example.tier": "frontend", "owner": "web-team"}
        }
        """

    static let db = """
        {
          "name": "db",
          "image": "localhost:5000/postgres/server:16",
          "entrypoint": "docker-entrypoint.sh",
          "command": "postgres -c 'max_connections=200'",
          "env": {"POSTGRES_PASSWORD": "secret", "PGDATA": "/var/lib/postgresql/data/pgdata"},
          "envFile": ["/etc/berth/db.env"],
          "ports": ["[::1]:5432:5432"],
          "volumes": [{"source": "/srv/db", "target": "/var/lib/postgresql/data", "readonly": false}],
          "resources": {"memory": "1G", "shmSize": 268435456, "ulimits": {"nproc": 4096}},
          "sysctls": {"kernel.shmmax": "68719476736", "net.core.somaxconn": 1024},
          "restart": "unless-stopped",
          "healthcheck": {"test": ["CMD-SHELL", "pg_isready -U postgres"], "interval": 10, "startInterval": "1s"},
          "stopSignal": "SIGINT",
          "stopTimeout": 60
        }
        """

    static let worker = """
        {
          "build": {"context": "/srv/worker", "file": "Containerfile", "args": {"VERSION": "1.2", "JOBS": 8}},
          "image": "worker@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
          "pull": "never",
          "entrypoint": [],
          "command": ["/usr/bin/worker", "--queue", "default"],
          "user": 1000,
          "groupAdd": ["audio", 44],
          "tty": false,
          "network": "none",
          "tmpfs": [{"target": "/scratch", "size": 67108864, "mode": "0700"}],
          "restart": "on-failure:3",
          "healthcheck": {"disable": true},
          "dependsOn": [{"name": "db"}],
          "security": {"seccomp": "unconfined", "capDrop": ["NET_RAW", "cap_mknod"]},
          "stopSignal": 15,
          "labels": {"x": "y"}
        }
        """

    static let minimal = """
        {"image": "busybox", "command": ["sh", "-c", "echo héllo € 😀 && sleep 3600"], "healthcheck": {"test": "true"}}
        """

    static let all = [web, db, worker, minimal]
}
