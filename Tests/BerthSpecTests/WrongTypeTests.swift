import Testing

@testable import BerthSpec

/// A JSON value built in the test, rendered one member per line while recording where each value
/// starts, so a test knows the line and column an error must point at.
private indirect enum Tree {
    case object([(String, Tree)])
    case array([Tree])
    case raw(String)

    static func s(_ text: String) -> Tree { .raw("\"\(text)\"") }

    func replacing(_ path: ArraySlice<JSONPath.Component>, with value: Tree) -> Tree {
        guard let first = path.first else { return value }
        switch (self, first) {
        case (.object(let members), .key(let key)):
            return .object(members.map { $0.0 == key ? ($0.0, $0.1.replacing(path.dropFirst(), with: value)) : $0 })
        case (.array(let elements), .index(let i)):
            var copy = elements
            copy[i] = copy[i].replacing(path.dropFirst(), with: value)
            return .array(copy)
        default:
            return self
        }
    }

    /// Every path this tree has (the root excluded).
    func paths(_ prefix: JSONPath = .root) -> [JSONPath] {
        switch self {
        case .object(let members):
            return members.flatMap { [prefix.appending($0.0)] + $0.1.paths(prefix.appending($0.0)) }
        case .array(let elements):
            return elements.indices.flatMap { [prefix.appending($0)] + elements[$0].paths(prefix.appending($0)) }
        case .raw:
            return []
        }
    }

    func render() -> (text: String, positions: [JSONPath: (line: Int, column: Int)]) {
        var out = ""
        var line = 1
        var column = 1
        var positions: [JSONPath: (line: Int, column: Int)] = [:]
        func emit(_ s: String) {
            for c in s.unicodeScalars {
                if c == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
            }
            out += s
        }
        func walk(_ tree: Tree, _ path: JSONPath, _ indent: String) {
            positions[path] = (line, column)
            switch tree {
            case .raw(let text):
                emit(text)
            case .object(let members):
                emit("{\n")
                for (k, (key, value)) in members.enumerated() {
                    emit(indent + "  \"\(key)\": ")
                    walk(value, path.appending(key), indent + "  ")
                    emit(k == members.count - 1 ? "\n" : ",\n")
                }
                emit(indent + "}")
            case .array(let elements):
                emit("[")
                for (k, value) in elements.enumerated() {
                    walk(value, path.appending(k), indent + "  ")
                    if k < elements.count - 1 { emit(", ") }
                }
                emit("]")
            }
        }
        walk(self, .root, "")
        return (out, positions)
    }
}

/// What each field accepts: s string, n number, b boolean, a array, o object.
private let accepted: [String: String] = [
    "name": "s", "image": "s", "build": "so", "build.context": "s", "build.file": "s", "build.args": "o",
    "build.args.VERSION": "snb", "pull": "s", "entrypoint": "sa", "entrypoint[0]": "s", "command": "sa",
    "command[0]": "s", "command[1]": "s", "env": "o", "env.TZ": "snb", "envFile": "sa", "envFile[0]": "s",
    "workdir": "s", "user": "sn", "groupAdd": "a", "groupAdd[0]": "sn", "hostname": "s", "init": "b", "tty": "b",
    "ports": "a", "ports[0]": "so", "ports[0].host": "n", "ports[0].container": "n", "ports[0].protocol": "s",
    "ports[0].address": "s", "ports[0].count": "n", "ports[1]": "so",
    "volumes": "a", "volumes[0]": "so", "volumes[0].source": "s", "volumes[0].target": "s",
    "volumes[0].readonly": "b", "volumes[1]": "so", "volumes[1].volume": "s", "volumes[1].target": "s",
    "tmpfs": "a", "tmpfs[0]": "so", "tmpfs[0].target": "s", "tmpfs[0].size": "ns", "tmpfs[0].mode": "s",
    "network": "s", "resources": "o", "resources.memory": "ns", "resources.cpus": "n", "resources.pids": "n",
    "resources.shmSize": "ns", "resources.ulimits": "o", "resources.ulimits.nofile": "no",
    "resources.ulimits.nofile.soft": "n", "resources.ulimits.nofile.hard": "n", "resources.ulimits.core": "no",
    "sysctls": "o", "sysctls[\"net.core.somaxconn\"]": "snb", "restart": "so", "restart.policy": "s",
    "restart.maxRetries": "n", "healthcheck": "o", "healthcheck.test": "sa", "healthcheck.test[0]": "s",
    "healthcheck.test[1]": "s", "healthcheck.interval": "ns", "healthcheck.timeout": "ns",
    "healthcheck.retries": "n", "healthcheck.startPeriod": "ns", "healthcheck.startInterval": "ns",
    "healthcheck.disable": "b", "healthcheck.onFailure": "s", "dependsOn": "a", "dependsOn[0]": "so",
    "dependsOn[1]": "so", "dependsOn[1].name": "s", "dependsOn[1].condition": "s", "security": "o",
    "security.readonlyRootfs": "b", "security.capAdd": "a", "security.capAdd[0]": "s", "security.capDrop": "a",
    "security.capDrop[0]": "s", "security.seccomp": "s", "security.noNewPrivileges": "b", "stopSignal": "sn",
    "stopTimeout": "ns", "labels": "o", "labels[\"com.example.a\"]": "snb",
]

/// A valid spec that sets every field the decoder knows, most in both forms.
private let base: Tree = .object([
    ("name", .s("web")),
    ("image", .s("docker.io/library/nginx:1.27")),
    (
        "build",
        .object([("context", .s("/srv/web")), ("file", .s("Containerfile")), ("args", .object([("VERSION", .s("1"))]))])
    ),
    ("pull", .s("missing")),
    ("entrypoint", .array([.s("/docker-entrypoint.sh")])),
    ("command", .array([.s("nginx"), .s("-g")])),
    ("env", .object([("TZ", .s("UTC"))])),
    ("envFile", .array([.s("/etc/web.env")])),
    ("workdir", .s("/srv")),
    ("user", .s("101:101")),
    ("groupAdd", .array([.s("audio")])),
    ("hostname", .s("web")),
    ("init", .raw("true")),
    ("tty", .raw("false")),
    (
        "ports",
        .array([
            .object([
                ("host", .raw("8080")), ("container", .raw("80")), ("protocol", .s("tcp")),
                ("address", .s("127.0.0.1")), ("count", .raw("2")),
            ]),
            .s("9090:90/udp"),
        ])
    ),
    (
        "volumes",
        .array([
            .object([("source", .s("/srv/data")), ("target", .s("/data")), ("readonly", .raw("true"))]),
            .object([("volume", .s("cache")), ("target", .s("/cache"))]),
        ])
    ),
    ("tmpfs", .array([.object([("target", .s("/run")), ("size", .s("64M")), ("mode", .s("1777"))])])),
    ("network", .s("bridge")),
    (
        "resources",
        .object([
            ("memory", .s("256M")), ("cpus", .raw("0.5")), ("pids", .raw("100")), ("shmSize", .s("64M")),
            (
                "ulimits",
                .object([("nofile", .object([("soft", .raw("1024")), ("hard", .raw("4096"))])), ("core", .raw("0"))])
            ),
        ])
    ),
    ("sysctls", .object([("net.core.somaxconn", .s("1024"))])),
    ("restart", .object([("policy", .s("on-failure")), ("maxRetries", .raw("5"))])),
    (
        "healthcheck",
        .object([
            ("test", .array([.s("CMD"), .s("true")])), ("interval", .s("30s")), ("timeout", .raw("5")),
            ("retries", .raw("3")), ("startPeriod", .s("10s")), ("startInterval", .s("1s")),
            ("disable", .raw("false")), ("onFailure", .s("restart")),
        ])
    ),
    ("dependsOn", .array([.s("cache"), .object([("name", .s("db")), ("condition", .s("healthy"))])])),
    (
        "security",
        .object([
            ("readonlyRootfs", .raw("true")), ("capAdd", .array([.s("NET_ADMIN")])), ("capDrop", .array([.s("MKNOD")])),
            ("seccomp", .s("default")), ("noNewPrivileges", .raw("true")),
        ])
    ),
    ("stopSignal", .s("SIGQUIT")),
    ("stopTimeout", .s("20s")),
    ("labels", .object([("com.example.a", .s("1"))])),
])

/// The wrong values, each with the type name a message must say it found.
private let wrongValues: [(kind: Character, json: String, found: String)] = [
    ("z", "null", "null"), ("b", "true", "a boolean"), ("n", "12", "a number"), ("s", "\"text\"", "a string"),
    ("a", "[]", "an array"), ("o", "{}", "an object"),
]

@Suite struct WrongTypeTests {
    @Test func baseSpecIsValidAndEveryFieldIsCovered() {
        let (text, _) = base.render()
        let result = validate(text)
        #expect(result.diagnostics.map(\.description) == [])
        #expect(result.spec != nil)
        let paths = Set(base.paths().map(\.description))
        #expect(paths == Set(accepted.keys), "the table of accepted types and the base spec disagree")
        // Every top-level key the decoder knows is in the base spec.
        let topLevel = Set(SpecDecoder.topLevelKeys).subtracting(["$schema"])
        #expect(topLevel.isSubset(of: paths))
    }

    @Test func wrongTypeAtEveryField() {
        var cases = 0
        for path in base.paths() {
            let kinds = accepted[path.description] ?? ""
            for wrong in wrongValues where !kinds.contains(wrong.kind) {
                let spec = base.replacing(path.components[...], with: .raw(wrong.json))
                let (text, positions) = spec.render()
                let diagnostics = validate(text).diagnostics
                let position = positions[path]!
                cases += 1
                let context = "\(path) = \(wrong.json)"
                guard diagnostics.count == 1, let d = diagnostics.first else {
                    Issue.record("\(context): expected exactly one error, got \(diagnostics.map(\.description))")
                    continue
                }
                #expect(d.path == path, "\(context)")
                #expect(d.location.line == position.line && d.location.column == position.column, "\(context): \(d)")
                #expect(d.message.hasPrefix("expected "), "\(context): \(d.message)")
                #expect(d.message.hasSuffix(", found \(wrong.found)"), "\(context): \(d.message)")
                #expect(d.severity == .error)
            }
        }
        #expect(cases > 300)
    }
}
