import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// berthd as a real unit of the sandbox's systemd (Type=notify, as units/berthd.service has
/// it), on the CLI tests' root and image store, with its own spec and run directories.
final class BerthdUnderTest {
    static let binary = RuntimeIntegrationTests.packageRoot + "/.build/debug/berthd"
    let tag = UInt32.random(in: 0...UInt32.max)
    let unit: String
    let specs: String
    let run: String
    var root: String { CLIIntegrationTests.root }
    var socket: String { run + "/berthd.sock" }

    init(restart: Bool = false) throws {
        unit = "berthd-test-\(tag).service"
        specs = CLIIntegrationTests.root + "/berthd-specs-\(tag)"
        run = "/run/berthd-test-\(tag)"
        try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
        try """
        [Service]
        Type=notify
        ExecStart=\(Self.binary) --root \(root) --spec-dir \(specs) --run-dir \(run)
        ExecReload=/bin/kill -HUP $MAINPID
        WatchdogSec=30s
        Restart=\(restart ? "on-failure" : "no")
        KillMode=mixed
        """.write(toFile: "/run/systemd/system/\(unit)", atomically: true, encoding: .utf8)
        try systemctl("daemon-reload")
        try systemctl("start", unit)
    }

    /// Stops berthd, then removes what it made (the containers stay when berthd stops).
    func tearDown(names: [String]) {
        _ = try? systemctl("stop", unit)
        for name in names { _ = try? CLIIntegrationTests.berth(["rm", "-f", name]) }
        try? FileManager.default.removeItem(atPath: "/run/systemd/system/\(unit)")
        _ = try? systemctl("daemon-reload")
        try? FileManager.default.removeItem(atPath: specs)
    }

    @discardableResult
    func systemctl(_ args: String...) throws -> String {
        let r = try Command.run("/usr/bin/systemctl", args)
        try #require(r.status == 0, "systemctl \(args.joined(separator: " ")): \(r.err)")
        return r.out
    }

    /// A spec dropped in as an editor or a deploy tool would: written aside, renamed in.
    func drop(_ name: String, _ json: String) throws {
        let temp = specs + "/.\(name).json.tmp"
        try json.write(toFile: temp, atomically: false, encoding: .utf8)
        guard rename(temp, specs + "/\(name).json") == 0 else { throw ControlFailure("rename: \(errno)") }
    }

    func remove(_ name: String) throws { try FileManager.default.removeItem(atPath: specs + "/\(name).json") }

    func berth(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try CLIIntegrationTests.berth(["--spec-dir", specs, "--run-dir", run] + args)
    }

    func inspect(_ name: String, _ format: String) throws -> String? {
        let r = try CLIIntegrationTests.berth(["inspect", "--format", format, name])
        return r.status == 0 ? r.out.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    func pid(_ name: String) throws -> String? { try inspect(name, "{{.State.Pid}}") }
    func id(_ name: String) throws -> String? { try inspect(name, "{{.Id}}") }
    func running(_ name: String) throws -> Bool { try inspect(name, "{{.State.Status}}") == "running" }

    var mainPID: Int32 {
        get throws {
            Int32(try systemctl("show", "-P", "MainPID", unit).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
    }

    /// berthd's own lines in the journal.
    func journal() throws -> String {
        try Command.run("/usr/bin/journalctl", ["-u", unit, "-o", "cat", "--no-pager"]).out
    }

    static func waitUntil(_ seconds: Double = 20, _ condition: () throws -> Bool) throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }
}

struct ControlFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The suites that run a berthd on the CLI's root, or plan against what berthd made there:
/// one at a time (a root has one berthd, and a plan sees every container of berthd's in it).
@Suite(.serialized) enum BerthdSuites {}
