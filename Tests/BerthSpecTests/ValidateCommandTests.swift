import BerthTestSupport
import Foundation
import Testing

/// `berth validate` end to end: the built binary on a temporary spec directory.
@Suite struct ValidateCommandTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let binary = packageRoot + "/.build/debug/berth"
    static let binaryExists = FileManager.default.isExecutableFile(atPath: binary)

    struct Run {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func berth(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        try #require(
            binaryExists, "\(binary) is missing: run `swift build` first (required by BERTH_REQUIRE_INTEGRATION=1)")
        let result = try Command.run(
            binary, arguments, environment: ["BERTH_SPEC_PATH": nil].merging(environment.mapValues { $0 }) { $1 })
        return Run(status: result.status, stdout: result.out, stderr: result.err)
    }

    static let enabled = binaryExists || Integration.required

    @Test(.enabled(if: enabled, "the berth binary has not been built (.build/debug/berth)"))
    func invalidSpecExitsOneWithLocatedLines() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try t.write("good.json", #"{"image": "busybox"}"#)
        let bad = try t.write("bad.json", "{\n  \"image\": \"busybox\",\n  \"tty\": \"yes\",\n  \"imgae\": 1\n}\n")
        let run = try Self.berth(["validate", t.path])
        #expect(run.status == 1)
        #expect(
            run.stdout.split(separator: "\n").map(String.init) == [
                "\(bad):3:10: tty: expected true or false, found a string",
                "\(bad):4:3: imgae: unknown key \"imgae\"; did you mean \"image\"?",
                "2 errors in 1 file; 1 of 2 specs valid",
            ])

        let json = try Self.berth(["validate", "--format", "json", t.path])
        #expect(json.status == 1)
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "not JSON: \(json.stdout)"
        )
        #expect(report["valid"] as? Bool == false)
        let diagnostics = try #require(report["diagnostics"] as? [[String: Any]])
        #expect(diagnostics.count == 2)
        let first = try #require(diagnostics.first)
        #expect(first["file"] as? String == bad)
        #expect(first["line"] as? Int == 3)
        #expect(first["column"] as? Int == 10)
        #expect(first["path"] as? String == "tty")
        #expect(first["severity"] as? String == "error")
        #expect(first["message"] as? String == "expected true or false, found a string")
        #expect((report["specs"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["good"])
    }

    @Test(.enabled(if: enabled, "the berth binary has not been built (.build/debug/berth)"))
    func validSpecsExitZero() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try t.write("web.json", Samples.web)
        try t.write("db.json", Samples.db)
        try t.write("cache.json", Samples.minimal)
        try t.write("web.json.d/10-env.json", #"{"env": {"EXTRA": "1"}}"#)
        let run = try Self.berth(["validate", t.path])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout == "3 specs valid: cache, db, web (+1 drop-in)\n")
        // The same through --spec-dir and through BERTH_SPEC_PATH.
        #expect(try Self.berth(["--spec-dir", t.path, "validate"]).status == 0)
        let viaEnv = try Self.berth(["validate"], environment: ["BERTH_SPEC_PATH": t.path])
        #expect(viaEnv.status == 0)
        #expect(viaEnv.stdout == run.stdout)
        let json = try Self.berth(["validate", "--format", "json", t.path])
        #expect(json.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(report?["valid"] as? Bool == true)
        #expect((report?["diagnostics"] as? [Any])?.isEmpty == true)
    }

    @Test(.enabled(if: enabled, "the berth binary has not been built (.build/debug/berth)"))
    func singleFileAndMissingPath() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let spec = try t.write("web.json", bytes: Array(#"{"image": "busy"#.utf8) + [0xFF] + Array(#"box"}"#.utf8))
        let run = try Self.berth(["validate", spec, t.path + "/nope.json"])
        #expect(run.status == 1)
        #expect(
            run.stdout.split(separator: "\n").map(String.init) == [
                "\(t.path)/nope.json:1:1: $: no such file or directory",
                "\(spec):1:16: image: invalid UTF-8 in a string (byte 0xFF)",
                "2 errors in 2 files; 0 of 1 specs valid",
            ])
    }
}
