import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// Against the sandbox's real systemd and journald: a transient scope created over sd-bus from
/// Swift, and journal lines read back through sd-journal. No systemd-run, no journalctl.
@Suite(.serialized) struct SystemdIntegrationTests {
    static func uniqueName(_ stem: String) -> String {
        "berth-test-\(stem)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Reads entries matching `field=value` until `done` says so or `timeout` passes.
    static func readJournal(
        match field: String, _ value: String, timeout: Duration = .seconds(10),
        until done: ([Journal.Entry]) -> Bool
    ) throws -> [Journal.Entry] {
        let journal = try Journal()
        try journal.addMatch(field, value)
        try journal.seekHead()
        var entries: [Journal.Entry] = []
        let deadline = ContinuousClock.now + timeout
        while true {
            while let entry = try journal.next() { entries.append(entry) }
            if done(entries) || ContinuousClock.now >= deadline { return entries }
            try journal.wait(timeout: .milliseconds(200))
        }
    }

    /// A child that waits on stdin, then (once it is in the scope) writes a line to journald over
    /// a stream opened from inside the scope, and stays alive until stopped.
    static func spawnChild(marker: String) throws -> ChildProcess {
        try ChildProcess(
            [
                "/bin/sh", "-c", "read go; exec systemd-cat -t berth-test sh -c 'echo \"$0\"; exec sleep 60' \"$1\"",
                "sh", marker,
            ],
            stdinPipe: true)
    }

    @Test(.integration) func scopeOverSdBusAndItsLineInTheJournal() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueName("scope") + ".scope"
        let marker = "berth-test-marker-\(UUID().uuidString)"
        let child = try Self.spawnChild(marker: marker)

        try bus.startTransientScope(
            name: unit, pids: [child.pid], slice: "berth.slice",
            description: "berth integration test", properties: [.collectMode("inactive-or-failed")])
        #expect(try bus.activeState(unit: unit) == "active")
        let cgroup = try bus.property(unit: unit, interface: "org.freedesktop.systemd1.Scope", name: "ControlGroup")
        #expect(cgroup?.stringValue == "/berth.slice/\(unit)")
        let procCgroup = try String(contentsOfFile: "/proc/\(child.pid)/cgroup", encoding: .utf8)
        #expect(procCgroup.contains("/berth.slice/\(unit)"))

        child.write("go\n")
        let entries = try Self.readJournal(match: "_SYSTEMD_UNIT", unit) { entries in
            entries.contains { $0.string("MESSAGE") == marker }
        }
        let line = try #require(entries.first { $0.string("MESSAGE") == marker })
        #expect(line.string("SYSLOG_IDENTIFIER") == "berth-test")
        #expect(line.string("_SYSTEMD_SLICE") == "berth.slice")

        try bus.stopUnit(name: unit)
        #expect(try bus.activeState(unit: unit) == "inactive")
        #expect(child.terminatingSignal == SIGTERM)
    }

    @Test(.integration) func nativeProtocolKeepsBinaryFields() throws {
        try Integration.check()
        let id = UUID().uuidString
        let binary: [UInt8] = [0xFF, 0xFE, 0x00, 0x0A, 0x41, 0x80, 0x0A]
        try JournalWriter.send([
            ("MESSAGE", Array("binary field test".utf8)), ("BERTH_TEST_ID", Array(id.utf8)),
            ("BERTH_TEST_BLOB", binary), ("PRIORITY", Array("6".utf8)),
        ])
        let entries = try Self.readJournal(match: "BERTH_TEST_ID", id) { !$0.isEmpty }
        let entry = try #require(entries.first)
        #expect(entry["BERTH_TEST_BLOB"] == binary)
        #expect(entry.string("MESSAGE") == "binary field test")
        #expect(entry.realtime > 0 && !entry.cursor.isEmpty)
    }

    @Test(.integration) func propertiesAreSetAndChangedLive() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueName("props") + ".scope"
        let child = try ChildProcess(["/bin/sleep", "60"])
        try bus.startTransientScope(
            name: unit, pids: [child.pid], slice: "berth.slice",
            properties: [
                .killSignal(SIGINT), .timeoutStop(microseconds: 3_000_000), .memoryMax(64 << 20),
                .tasksMax(32), .memoryAccounting(true), .tasksAccounting(true),
                .collectMode("inactive-or-failed"),
            ])
        let scope = "org.freedesktop.systemd1.Scope"
        #expect(try bus.property(unit: unit, interface: scope, name: "KillSignal") == .int32(SIGINT))
        #expect(try bus.property(unit: unit, interface: scope, name: "TimeoutStopUSec") == .uint64(3_000_000))
        #expect(try bus.property(unit: unit, interface: scope, name: "MemoryMax") == .uint64(64 << 20))
        #expect(try bus.property(unit: unit, interface: scope, name: "TasksMax") == .uint64(32))

        try bus.setUnitProperties(name: unit, properties: [.memoryMax(128 << 20)])
        #expect(try bus.property(unit: unit, interface: scope, name: "MemoryMax") == .uint64(128 << 20))

        // KillSignal is what systemctl stop sends: the sleep dies of SIGINT.
        try bus.stopUnit(name: unit)
        #expect(child.terminatingSignal == SIGINT)
        #expect(try bus.unitPath(name: unit) == nil)
    }

    @Test(.integration) func errorsNameTheUnitAndTheBusError() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let missing = Self.uniqueName("missing") + ".scope"
        do {
            try bus.stopUnit(name: missing)
            Issue.record("stopping a unit that does not exist succeeded")
        } catch let error as SystemdError {
            #expect(error.unit == missing)
            #expect(error.busError == "org.freedesktop.systemd1.NoSuchUnit")
        }
        #expect(throws: SystemdError.self) { try bus.stopUnit(name: "not a unit name") }
        #expect(try bus.unitPath(name: missing) == nil)
        #expect(try bus.activeState(unit: missing) == "inactive")
    }
}
