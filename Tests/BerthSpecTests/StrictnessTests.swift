import Testing

@testable import BerthSpec

/// Inputs that once slipped through, each with the one error it must give.
@Suite struct StrictnessTests {
    static func onlyError(_ body: String) -> String? {
        let found = lines("{\"image\": \"busybox\", \(body)}")
        return found.count == 1 ? found[0] : "\(found.count) diagnostics: \(found)"
    }

    @Test(arguments: [
        ("\"$schema\": 5", "$schema: expected a string, found a number"),
        ("\"restart\": \"on-failure:\"", "restart: only \"on-failure:N\" takes a retry count"),
        ("\"restart\": \":always\"", "restart: expected one of"),
        ("\"restart\": \"on-failure:+5\"", "restart: only \"on-failure:N\" takes a retry count"),
        ("\"stopSignal\": \"SIGRTMIN++3\"", "stopSignal: unknown signal"),
        ("\"stopSignal\": 32", "stopSignal: unknown signal"),
        ("\"tmpfs\": [\"/run:mode=+17\"]", "tmpfs[0]: invalid tmpfs mode"),
        ("\"tmpfs\": [{\"target\": \"/run\", \"mode\": \"-0\"}]", "tmpfs[0].mode: invalid mode"),
        ("\"build\": \"\"", "build: the build context is empty"),
        ("\"envFile\": [\"\"]", "envFile[0]: an env file path cannot be empty"),
        ("\"security\": {\"seccomp\": \"Default\"}", "did you mean \"default\"?"),
        ("\"security\": {\"seccomp\": \"unconfied\"}", "did you mean \"unconfined\"?"),
        ("\"privileged\": true", "privileged: unknown key \"privileged\": berth has no privileged mode"),
        ("\"security\": {\"capAdd\": [\"CAP_ALL\"]}", "security.capAdd[0]: unknown capability \"CAP_ALL\""),
        (
            "\"security\": {\"capAdd\": [\"NET_ADMIN\"], \"capDrop\": [\"CHOWN\", \"net_admin\"]}",
            "security.capDrop[1]: CAP_NET_ADMIN is both added and dropped"
        ),
        (
            "\"healthcheck\": {\"test\": [\"CMD-SHELL\", \"\"]}",
            "healthcheck.test: [\"CMD-SHELL\", ...] takes exactly one non-empty"
        ),
        ("\"healthcheck\": {\"test\": [\"CMD\", \"\"]}", "healthcheck.test: [\"CMD\", ...] needs a program"),
    ])
    func rejected(_ body: String, _ expected: String) {
        let error = Self.onlyError(body)
        #expect(error?.contains(expected) == true, "\(error ?? "no error")")
    }

    @Test func hintsOnlyWhereTheyApply() {
        #expect(Self.onlyError("\"type\": \"bind\"")?.contains("a volume is a bind mount") == false)
        #expect(
            Self.onlyError("\"volumes\": [{\"type\": \"bind\", \"source\": \"/a\", \"target\": \"/b\"}]")?
                .contains("a volume is a bind mount") == true)
        #expect(
            Self.onlyError("\"security\": {\"capAdd\": [\"ALL\", \"KILL\"], \"capDrop\": [\"ALL\"]}")?
                .contains("ALL is both added and dropped") == true)
    }

    @Test func allowedForms() {
        #expect(
            lines("{\"image\": \"busybox\", \"security\": {\"capDrop\": [\"ALL\"], \"capAdd\": [\"CHOWN\"]}}").isEmpty)
        #expect(lines("{\"image\": \"busybox\", \"security\": {\"seccomp\": \"./profile.json\"}}").isEmpty)
        #expect(lines("{\"image\": \"busybox\", \"resources\": {\"memory\": 67108864.0}}").isEmpty)
        #expect(lines("{\"image\": \"busybox\", \"env\": {\"N\": 1e3}}").isEmpty)
        #expect(validate("{\"image\": \"busybox\", \"env\": {\"N\": 1e3}}").spec?.env["N"] == "1000")
    }

    @Test func registryPortInRange() {
        #expect(throws: ImageReference.ParseError.self) { try ImageReference(parsing: "host:99999/a") }
        #expect((try? ImageReference(parsing: "host:5000/a"))?.domain == "host:5000")
    }

    @Test func dependencyOnARenamedSpecsFileNameIsMissing() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        _ = try dir.write("c.json", "{\"name\": \"a\", \"image\": \"busybox\"}")
        _ = try dir.write("b.json", "{\"image\": \"busybox\", \"dependsOn\": [\"c\"]}")
        let set = SpecLoader.load(directories: [dir.path])
        #expect(set.diagnostics.count == 1)
        #expect(set.diagnostics.first?.message.hasPrefix("depends on \"c\", but no spec declares it") == true)
    }
}

/// Review findings: whole floats past 2^53, signal names in other scripts.
struct DecoderEdgeTests {
    @Test func aWholeFloatBeyond9e15IsAcceptedWhereTheRangeAllows() throws {
        // 1e16 bytes is a memory limit far above any machine, but a valid number for the field.
        let result = SpecLoader.decode(
            Array(#"{"image": "x", "resources": {"memory": 1e16}}"#.utf8), origin: "t.json", defaultName: "t")
        if case .failure(let problems) = result {
            #expect(!problems.diagnostics.contains { $0.message.contains("out of range") })
        }
        let huge = SpecLoader.decode(
            Array(#"{"image": "x", "user": 1e300}"#.utf8), origin: "t.json", defaultName: "t")
        guard case .failure(let problems) = huge else {
            Issue.record("uid 1e300 was accepted")
            return
        }
        #expect(problems.diagnostics.contains { $0.message.contains("out of range") })
    }

    @Test func signalNamesAreUpperCasedAsASCIIOnly() {
        #expect(Signal(parsing: "sigterm")?.number == 15)
        #expect(Signal(parsing: "ſigterm") == nil)  // long s: "SIGTERM" under Unicode rules
    }
}
