import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// Against the sandbox's real systemd and journald: transient scopes created over sd-bus from
/// Swift, and journal lines read back through sd-journal. No systemd-run, no journalctl. The
/// nested suites (in the other *IntegrationTests files) share systemd and run one test at a time.
@Suite(.serialized) struct SystemdIntegrationTests {
    static func uniqueScope(_ stem: String) -> String {
        "berth-test-\(stem)-\(UUID().uuidString.lowercased()).scope"
    }

    /// Reads entries matching `field=value` until `done` says so or `timeout` passes, waiting
    /// for journald with sd_journal_wait in between.
    static func readJournal(
        match field: String, _ value: String, timeout: Duration = .seconds(10), until done: ([Journal.Entry]) -> Bool
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

    /// Polls `condition` until it holds or `timeout` passes (systemd collects units and cgroups
    /// asynchronously, after the job that caused it has finished).
    static func eventually(timeout: Duration = .seconds(5), _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(20_000)
        }
        return try condition()
    }

    /// The cgroup of `pid` in the named systemd hierarchy (v1 and hybrid) or the unified one (v2).
    static func cgroup(of pid: pid_t) throws -> String {
        let lines = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8).split(separator: "\n")
        let line = lines.first { $0.contains(":name=systemd:") } ?? lines.first { $0.hasPrefix("0::") }
        return line.map { String($0.split(separator: ":", maxSplits: 2)[2]) } ?? ""
    }

    @Test(.integration) func scopeHoldsTheChildAndJournaldAttributesItsLine() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("journal")
        let marker = "berth-test-\(UUID().uuidString) from the scope"
        // Waits on stdin until it is in the scope, then writes its line over a journald stream
        // it opens from inside (systemd-cat), and stays alive until stopped: journald reads the
        // sender's cgroup, and a process that is gone has none.
        let child = try ChildProcess(
            [
                "/bin/sh", "-c",
                "read go; exec systemd-cat -t berth-test /bin/sh -c 'echo \"$0\"; exec sleep 60' \"$1\"", "sh",
                marker,
            ],
            stdinPipe: true)

        try bus.startTransientScope(
            name: unit, pids: [child.pid], slice: "berth.slice", description: "berth integration test",
            properties: [.collectMode(.inactiveOrFailed)])
        #expect(try bus.activeState(unit: unit) == "active")
        #expect(try bus.subState(unit: unit) == "running")
        #expect(try bus.controlGroup(unit: unit) == "/berth.slice/\(unit)")
        #expect(try Self.cgroup(of: child.pid) == "/berth.slice/\(unit)")

        child.write("go\n")
        let entries = try Self.readJournal(match: "_SYSTEMD_UNIT", unit) { entries in
            entries.contains { $0.string("MESSAGE") == marker }
        }
        let line = try #require(entries.first { $0.string("MESSAGE") == marker })
        #expect(line.string("SYSLOG_IDENTIFIER") == "berth-test")
        #expect(line.string("_SYSTEMD_SLICE") == "berth.slice")

        try bus.stopUnit(name: unit)
        #expect(try bus.activeState(unit: unit) == "inactive")
        #expect(try Self.eventually { try bus.getUnit(name: unit) == nil })
        #expect(child.terminatingSignal == SIGTERM)
    }

    /// berthd's one-call view of its scopes: two scopes of a pattern listed with their states, and
    /// a scope of another name left out.
    @Test(.integration) func scopesAreListedByPatternInOneCall() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let stem = "berth-list\(UInt32.random(in: 0...UInt32.max))"
        let children = try (0..<3).map { _ in try ChildProcess(["/bin/sleep", "60"]) }
        let names = ["\(stem)-a.scope", "\(stem)-b.scope", "berth-other\(UInt32.random(in: 0...UInt32.max)).scope"]
        for (name, child) in zip(names, children) {
            try bus.startTransientScope(
                name: name, pids: [child.pid], slice: "berth.slice", description: "list \(name)",
                properties: [.collectMode(.inactiveOrFailed)])
        }
        defer {
            for name in names { try? bus.stopUnit(name: name) }
        }
        let listed = try bus.listUnits(patterns: ["\(stem)-*.scope"])
        #expect(listed.map(\.name).sorted() == Array(names.prefix(2)), "\(listed)")
        #expect(
            listed.allSatisfy { $0.activeState == "active" && $0.subState == "running" && $0.loadState == "loaded" })
        #expect(listed.first { $0.name == names[0] }?.description == "list \(names[0])")
        #expect(try bus.listUnits(patterns: ["\(stem)-*.scope"], states: ["failed"]).isEmpty)
        try bus.stopUnit(name: names[0])
        #expect(try Self.eventually { try bus.listUnits(patterns: ["\(stem)-*.scope"]).map(\.name) == [names[1]] })
    }

    @Test(.integration) func propertiesAreSetReadBackAndChangedLive() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("props")
        let child = try ChildProcess(["/bin/sleep", "60"])
        try bus.startTransientScope(
            name: unit, pids: [child.pid], slice: "berth.slice",
            properties: [
                .killSignal(SIGINT), .timeoutStop(.seconds(3)), .memoryMax(64 << 20), .tasksMax(32),
                .cpuQuotaPerSec(microseconds: 500_000), .delegate(true), .memoryAccounting(true),
                .tasksAccounting(true), .cpuAccounting(true), .ioAccounting(true), .collectMode(.inactiveOrFailed),
            ])
        let scope = SystemdBus.Interface.scope
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "KillSignal") == .int32(SIGINT))
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "TimeoutStopUSec") == .uint64(3_000_000))
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "MemoryMax") == .uint64(64 << 20))
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "TasksMax") == .uint64(32))
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "CPUQuotaPerSecUSec") == .uint64(500_000))
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "Delegate") == .bool(true))
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "MemoryAccounting") == .bool(true))
        let collect = try bus.getProperty(unit: unit, interface: SystemdBus.Interface.unit, name: "CollectMode")
        #expect(collect == .string("inactive-or-failed"))

        try bus.setUnitProperties(name: unit, runtime: true, properties: [.memoryMax(128 << 20)])
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "MemoryMax") == .uint64(128 << 20))
        // And in the kernel: memory.limit_in_bytes on cgroup v1 and hybrid, memory.max on v2.
        let cgroup = try #require(try bus.controlGroup(unit: unit))
        let limitFiles = ["/sys/fs/cgroup/memory\(cgroup)/memory.limit_in_bytes", "/sys/fs/cgroup\(cgroup)/memory.max"]
        if let file = limitFiles.first(where: { FileManager.default.fileExists(atPath: $0) }) {
            let limit = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines)
            #expect(limit == String(128 << 20), "\(file)")
        }

        // KillSignal is what a stop sends: the sleep dies of SIGINT.
        try bus.stopUnit(name: unit)
        #expect(child.terminatingSignal == SIGINT)
        #expect(try Self.eventually { try bus.getUnit(name: unit) == nil })
    }

    @Test(.integration) func killUnitSignalsWithoutAJob() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("kill")
        let child = try ChildProcess(["/bin/sleep", "60"])
        try bus.startTransientScope(
            name: unit, pids: [child.pid], slice: "berth.slice", properties: [.collectMode(.inactiveOrFailed)])
        try bus.killUnit(name: unit, who: .all, signal: SIGUSR1)
        #expect(child.terminatingSignal == SIGUSR1)
        // The scope ends by itself once its cgroup is empty.
        #expect(try Self.eventually { try bus.activeState(unit: unit) == "inactive" })
    }

    @Test(.integration) func attachProcessesToADelegatedScope() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("attach")
        let first = try ChildProcess(["/bin/sleep", "60"])
        let second = try ChildProcess(["/bin/sleep", "60"])
        try bus.startTransientScope(
            name: unit, pids: [first.pid], slice: "berth.slice",
            properties: [.delegate(true), .collectMode(.inactiveOrFailed)])
        // As `berth exec` will: into a sub-cgroup of the container's scope.
        try bus.attachProcessesToUnit(name: unit, subcgroup: "exec", pids: [second.pid])
        #expect(try Self.cgroup(of: second.pid) == "/berth.slice/\(unit)/exec")
        #expect(try Self.cgroup(of: first.pid) == "/berth.slice/\(unit)")
        // A sub-cgroup outside the subtree is refused before anything is sent.
        let outside = try #require(throws: SystemdError.self) {
            try bus.attachProcessesToUnit(name: unit, subcgroup: "../escape", pids: [second.pid])
        }
        #expect(outside.errno == EINVAL && outside.busError == nil)
        // A stop takes both.
        try bus.stopUnit(name: unit)
        #expect(first.terminatingSignal == SIGTERM)
        #expect(second.terminatingSignal == SIGTERM)
    }

    /// A process that ignores SIGTERM (and restarts the sleeps the stop kills), so a stop job
    /// waits for TimeoutStopUSec.
    static func stubbornChild() throws -> ChildProcess {
        try ChildProcess(["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    }

    @Test(.integration) func aFailedScopeLingersUntilResetFailed() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("failed")
        let child = try Self.stubbornChild()
        // Default CollectMode: a scope whose stop timed out stays "failed" and keeps its name.
        try bus.startTransientScope(
            name: unit, pids: [child.pid], slice: "berth.slice",
            properties: [.timeoutStop(.milliseconds(300)), .sendSIGKILL(false)])
        try bus.stopUnit(name: unit)
        #expect(try bus.activeState(unit: unit) == "failed")
        try bus.killUnit(name: unit, signal: SIGKILL)
        #expect(child.terminatingSignal == SIGKILL)
        let other = try ChildProcess(["/bin/sleep", "60"])
        let taken = try #require(throws: SystemdError.self) {
            try bus.startTransientScope(name: unit, pids: [other.pid])
        }
        #expect(taken.busError == BusErrorName.unitExists, "\(taken)")

        try bus.resetFailedUnit(name: unit)
        #expect(try Self.eventually { try bus.getUnit(name: unit) == nil })
        try bus.startTransientScope(name: unit, pids: [other.pid], properties: [.collectMode(.inactiveOrFailed)])
        try bus.stopUnit(name: unit)
        #expect(other.terminatingSignal == SIGTERM)
    }

    @Test(.integration) func aJobThatOutlastsItsWaitIsATimeout() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("slow")
        let child = try Self.stubbornChild()
        try bus.startTransientScope(
            name: unit, pids: [child.pid], properties: [.timeoutStop(.seconds(60)), .collectMode(.inactiveOrFailed)])
        let start = ContinuousClock.now
        let error = try #require(throws: SystemdError.self) {
            try bus.stopUnit(name: unit, timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(error.errno == ETIMEDOUT && error.unit == unit && error.operation == "StopUnit", "\(error)")
        #expect(try bus.activeState(unit: unit) == "deactivating")
        try bus.killUnit(name: unit, signal: SIGKILL)
        #expect(child.terminatingSignal == SIGKILL)
        #expect(try Self.eventually { try bus.getUnit(name: unit) == nil })
    }

    @Test(.integration) func aCanceledJobIsAnErrorNamingItsResult() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("cancel")
        let child = try Self.stubbornChild()
        try bus.startTransientScope(
            name: unit, pids: [child.pid], properties: [.timeoutStop(.seconds(60)), .collectMode(.inactiveOrFailed)])
        // Another client cancels the stop job while this one waits for it.
        let canceller = try ChildProcess([
            "/bin/sh", "-c",
            "for i in $(seq 50); do sleep 0.1; j=$(systemctl list-jobs --no-legend | awk -v u=\"$0\" '$2 == u {print $1}');"
                + " [ -n \"$j\" ] && exec systemctl cancel $j; done; exit 1", unit,
        ])
        let error = try #require(throws: SystemdError.self) { try bus.stopUnit(name: unit, timeout: .seconds(10)) }
        #expect(error.message.contains("\"canceled\""), "\(error)")
        #expect(error.unit == unit)
        #expect(canceller.wait() == 0)
        try bus.killUnit(name: unit, signal: SIGKILL)
        #expect(child.terminatingSignal == SIGKILL)
    }

    @Test(.integration) func errorsNameTheUnitAndTheBusError() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let missing = Self.uniqueScope("missing")
        let stop = try #require(throws: SystemdError.self) { try bus.stopUnit(name: missing) }
        #expect(stop.operation == "StopUnit")
        #expect(stop.unit == missing)
        #expect(stop.busError == "org.freedesktop.systemd1.NoSuchUnit")
        #expect(stop.isNoSuchUnit)
        #expect(stop.description.contains(missing))
        let reset = try #require(throws: SystemdError.self) { try bus.resetFailedUnit(name: missing) }
        #expect(reset.isNoSuchUnit && reset.unit == missing)
        #expect(try bus.getUnit(name: missing) == nil)
        #expect(try bus.getProperty(unit: missing, interface: SystemdBus.Interface.unit, name: "ActiveState") == nil)
        #expect(try bus.activeState(unit: missing) == "inactive")

        // Bad names never reach systemd: no bus error, EINVAL, and the name in the error.
        for bad in ["not a unit name", "berth-x.scop", "berth@.service", "../berth.scope"] {
            let error = try #require(throws: SystemdError.self) { try bus.stopUnit(name: bad) }
            #expect(error.unit == bad && error.busError == nil && error.errno == EINVAL, "\(error)")
        }
        let notScope = try #require(throws: SystemdError.self) {
            try bus.startTransientScope(name: "berth-x.service", pids: [getpid()])
        }
        #expect(notScope.busError == nil && notScope.unit == "berth-x.service")
        #expect(throws: SystemdError.self) { try bus.killUnit(name: "bad name", signal: SIGTERM) }
        let nul = try #require(throws: SystemdError.self) {
            try bus.startTransientScope(name: missing, pids: [getpid()], description: "cut\u{0}short")
        }
        #expect(nul.busError == nil && nul.errno == EINVAL && nul.message.contains("NUL"), "\(nul)")
        #expect(throws: SystemdError.self) { try bus.startTransientScope(name: missing, pids: []) }
    }

    @Test(.integration) func aNameInUseAndAMissingProcessAreRefused() throws {
        try Integration.check()
        let bus = try SystemdBus()
        let unit = Self.uniqueScope("twice")
        let child = try ChildProcess(["/bin/sleep", "60"])
        try bus.startTransientScope(name: unit, pids: [child.pid], properties: [.collectMode(.inactiveOrFailed)])
        defer { try? bus.stopUnit(name: unit) }
        let other = try ChildProcess(["/bin/sleep", "60"])
        let again = try #require(throws: SystemdError.self) {
            try bus.startTransientScope(name: unit, pids: [other.pid])
        }
        #expect(again.busError == BusErrorName.unitExists && again.unit == unit, "\(again)")

        // A PID no process has (pid_max - 1 is as good as free): systemd refuses the scope.
        let pidMax = try String(contentsOfFile: "/proc/sys/kernel/pid_max", encoding: .utf8)
        let unused = try #require(pid_t(pidMax.trimmingCharacters(in: .whitespacesAndNewlines))) - 1
        let ghost = Self.uniqueScope("ghost")
        let error = try #require(throws: SystemdError.self) { try bus.startTransientScope(name: ghost, pids: [unused]) }
        #expect(error.unit == ghost && error.operation == "StartTransientUnit", "\(error)")
        #expect(try bus.getUnit(name: ghost) == nil)
    }
}
