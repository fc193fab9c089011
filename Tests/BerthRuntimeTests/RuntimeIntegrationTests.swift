import BerthRuntime
import BerthSpec
import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// Containers run for real in the sandbox: a busybox root filesystem, the supervisor built
/// beside the tests, systemd scopes and journald.
@Suite(.serialized) struct RuntimeIntegrationTests {
    static let packageRoot: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let supervisor = packageRoot + "/.build/debug/berth-supervisor"
    static let root = "/tmp/berth-runtime-tests"

    /// A root filesystem of Debian's static busybox, with a passwd and group file.
    static func makeRootfs() throws -> String {
        let dir = root + "/rootfs-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/etc", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: dir + "/bin/busybox")
        for tool in [
            "sh", "cat", "echo", "id", "ps", "sleep", "grep", "ls", "touch", "mount", "seq", "head", "tr", "wc",
        ] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/bin/" + tool, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
            .write(toFile: dir + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\n".write(
            toFile: dir + "/etc/group", atomically: true, encoding: .utf8)
        return dir
    }

    static func spec(_ name: String, _ command: [String], configure: (inout ContainerSpec) -> Void = { _ in })
        -> ContainerSpec
    {
        var spec = ContainerSpec(name: name)
        spec.command = command
        spec.network = .none
        configure(&spec)
        return spec
    }

    /// Waits for the supervisor (our child) and returns the container's recorded end.
    static func wait(_ started: StartedContainer) throws -> ContainerState {
        var status: Int32 = 0
        while waitpid(started.supervisorPid, &status, 0) < 0 && errno == EINTR {}
        let text = try String(contentsOfFile: started.layout.stateFile, encoding: .utf8)
        return try #require(ContainerState(parsing: text))
    }

    /// The container's journal entries, by CONTAINER_NAME.
    static func journal(_ name: String, count: Int) throws -> [Journal.Entry] {
        let journal = try Journal()
        try journal.addMatch("CONTAINER_NAME", name)
        try journal.seekHead()
        var entries: [Journal.Entry] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while entries.count < count && ContinuousClock.now < deadline {
            while let entry = try journal.next() { entries.append(entry) }
            if entries.count < count { try journal.wait(timeout: .milliseconds(200)) }
        }
        return entries
    }

    static func unique(_ stem: String) -> String { "\(stem)-\(UInt32.random(in: 0...UInt32.max))" }

    @Test(.integration) func outputGoesToJournaldFromTheScopeAndTheExitCodeIsKept() throws {
        try Integration.check()
        JournalGate.lockShared()
        defer { JournalGate.unlockShared() }
        let rootfs = try Self.makeRootfs()
        let name = Self.unique("out")
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        let started = try runtime.run(
            spec: Self.spec(name, ["sh", "-c", "echo to-stdout; echo to-stderr >&2; touch /written; exit 7"]),
            rootfs: .directory(rootfs))
        let state = try Self.wait(started)
        #expect(state.status == "exited" && state.exitCode == 7)
        let entries = try Self.journal(name, count: 2)
        let out = try #require(entries.first { $0.string("MESSAGE") == "to-stdout" })
        let err = try #require(entries.first { $0.string("MESSAGE") == "to-stderr" })
        #expect(out.string("PRIORITY") == "6" && err.string("PRIORITY") == "3")
        #expect(out.string("_SYSTEMD_UNIT") == "berth-\(name).scope")
        #expect(out.string("_SYSTEMD_SLICE") == "berth.slice")
        #expect(out.string("SYSLOG_IDENTIFIER") == name)
        #expect(out.string("CONTAINER_ID") == String(started.layout.id.prefix(12)))
        #expect(out.string("CONTAINER_ID_FULL") == started.layout.id)
        // The container wrote to its own layer, never to the root filesystem it was given.
        #expect(!FileManager.default.fileExists(atPath: rootfs + "/written"))
        #expect(FileManager.default.fileExists(atPath: started.layout.upper + "/written"))
    }

    @Test(.integration) func isolationAndPrivilegesAsDocker() throws {
        try Integration.check()
        JournalGate.lockShared()
        defer { JournalGate.unlockShared() }
        let rootfs = try Self.makeRootfs()
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        let script =
            "ps -o pid; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; id; mount -t tmpfs x /dev 2>&1; true"
        let root = Self.unique("priv-root")
        let asRoot = try runtime.run(spec: Self.spec(root, ["sh", "-c", script]), rootfs: .directory(rootfs))
        #expect(try Self.wait(asRoot).exitCode == 0)
        let lines = try Self.journal(root, count: 10).compactMap { $0.string("MESSAGE") }
        #expect(lines.contains("CapEff:\t00000000a80425fb"))
        #expect(lines.contains("CapPrm:\t00000000a80425fb"))
        #expect(lines.contains("CapBnd:\t00000000a80425fb"))
        #expect(lines.contains("CapInh:\t0000000000000000"))
        #expect(lines.contains("CapAmb:\t0000000000000000"))
        // Without CAP_SYS_ADMIN there is no mounting.
        #expect(lines.contains { $0.contains("mount") && $0.contains("permission denied") })
        // A fresh PID namespace: only the container's own few processes, PID 1 among them.
        let pids = lines.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        #expect(pids.contains(1) && pids.count <= 3 && pids.allSatisfy { $0 < 20 })
        #expect(lines.last == "mount: permission denied (are you root?)")

        let nobody = Self.unique("priv-nobody")
        let asNobody = try runtime.run(
            spec: Self.spec(nobody, ["sh", "-c", script]) { $0.user = "nobody" }, rootfs: .directory(rootfs))
        #expect(try Self.wait(asNobody).exitCode == 0)
        let nobodyLines = try Self.journal(nobody, count: 10).compactMap { $0.string("MESSAGE") }
        #expect(nobodyLines.contains("CapEff:\t0000000000000000"))
        #expect(nobodyLines.contains("CapBnd:\t00000000a80425fb"))
        #expect(nobodyLines.contains("uid=65534(nobody) gid=65534(nogroup) groups=50(staff)"))
    }

    @Test(.integration) func commandNotFoundIs127() throws {
        try Integration.check()
        let rootfs = try Self.makeRootfs()
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        #expect {
            _ = try runtime.run(
                spec: Self.spec(Self.unique("missing"), ["no-such-command"]), rootfs: .directory(rootfs))
        } throws: { ($0 as? RuntimeError)?.exitCode == 127 }
    }

    @Test(.integration) func systemctlStopIsRecordedAndAStubbornContainerIsKilled() throws {
        try Integration.check()
        JournalGate.lockShared()
        defer { JournalGate.unlockShared() }
        let rootfs = try Self.makeRootfs()
        let name = Self.unique("stop")
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        let spec = Self.spec(name, ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]) {
            $0.stopTimeout = .seconds(1)
        }
        let started = try runtime.run(spec: spec, rootfs: .directory(rootfs))
        _ = try Self.journal(name, count: 1)
        let bus = try SystemdBus()
        let begin = ContinuousClock.now
        try bus.stopUnit(name: "berth-\(name).scope")
        let state = try Self.wait(started)
        #expect(state.stopSignal == SIGTERM)
        #expect(state.signal == SIGKILL && state.exitCode == 137)
        #expect(ContinuousClock.now - begin < .seconds(5))
        #expect(try bus.activeState(unit: "berth-\(name).scope") == "inactive")
    }

    @Test(.integration) func aLongLineIsSplitIntoMarkedPartsAndNothingIsLost() throws {
        try Integration.check()
        JournalGate.lockShared()
        defer { JournalGate.unlockShared() }
        let rootfs = try Self.makeRootfs()
        let name = Self.unique("long")
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        // 200,000 bytes of 'x' and no newline until the end: 13 parts of at most 16 KiB.
        let started = try runtime.run(
            spec: Self.spec(name, ["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo"]),
            rootfs: .directory(rootfs))
        #expect(try Self.wait(started).exitCode == 0)
        let parts = try Self.journal(name, count: 13)
        #expect(parts.count == 13)
        let joined = parts.compactMap { $0["MESSAGE"] }.reduce([], +)
        #expect(joined == [UInt8](repeating: UInt8(ascii: "x"), count: 200_000))
        let ids = Set(parts.compactMap { $0.string("CONTAINER_PARTIAL_ID") })
        #expect(ids.count == 1)
        #expect(parts.map { $0.string("CONTAINER_PARTIAL_ORDINAL") } == (1...13).map { String($0) })
        #expect(parts.dropLast().allSatisfy { $0.string("CONTAINER_PARTIAL_MESSAGE") == "true" })
        #expect(parts.last?.string("CONTAINER_PARTIAL_LAST") == "true")
        #expect(parts.last?.string("CONTAINER_PARTIAL_MESSAGE") == nil)
    }

    @Test(.integration) func aHundredThousandLinesArriveInOrder() throws {
        try Integration.check()
        JournalGate.lockShared()
        defer { JournalGate.unlockShared() }
        let rootfs = try Self.makeRootfs()
        let name = Self.unique("burst")
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        let started = try runtime.run(spec: Self.spec(name, ["seq", "1", "100000"]), rootfs: .directory(rootfs))
        #expect(try Self.wait(started).exitCode == 0)
        let lines = try Self.journal(name, count: 100_000).compactMap { $0.string("MESSAGE") }
        #expect(lines.count == 100_000)
        #expect(lines == (1...100_000).map { String($0) })
    }

    /// Docker's default filter: a new user namespace (which the kernel allows any user) is
    /// refused with EPERM, while personality(PER_LINUX32), one of the profile's five allowed
    /// values, still works; unconfined, both work.
    @Test(.integration) func defaultSeccompFilterDeniesWhatDockersDoes() throws {
        try Integration.check()
        JournalGate.lockShared()
        defer { JournalGate.unlockShared() }
        let rootfs = try Self.makeRootfs()
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        let script =
            "unshare -U true && echo userns-ok || echo userns-denied; linux32 true && echo personality-ok || echo personality-denied"
        let confined = Self.unique("seccomp")
        #expect(
            try Self.wait(
                try runtime.run(spec: Self.spec(confined, ["sh", "-c", script]), rootfs: .directory(rootfs))
            ).exitCode == 0)
        let denied = try Self.journal(confined, count: 4).compactMap { $0.string("MESSAGE") }
        #expect(denied.contains("userns-denied") && denied.contains("personality-ok"))
        #expect(denied.contains { $0.contains("Operation not permitted") })

        let open = Self.unique("unconfined")
        let spec = Self.spec(open, ["sh", "-c", script]) { $0.security.seccomp = .unconfined }
        #expect(try Self.wait(try runtime.run(spec: spec, rootfs: .directory(rootfs))).exitCode == 0)
        let allowed = try Self.journal(open, count: 2).compactMap { $0.string("MESSAGE") }
        #expect(allowed.contains("userns-ok") && allowed.contains("personality-ok"))
    }

    /// Nothing of berth's or the supervisor's reaches the container: its PID 1 (seen from the
    /// host, so no shell's own transient descriptors count) has exactly stdin, stdout and stderr.
    @Test(.integration, arguments: [false, true]) func noDescriptorLeaksIntoTheContainer(useInit: Bool) throws {
        try Integration.check()
        let rootfs = try Self.makeRootfs()
        let name = Self.unique("fds")
        var runtime = Runtime(root: Self.root, supervisor: Self.supervisor)
        let spec = Self.spec(name, ["sleep", "30"]) {
            $0.useInit = useInit
            $0.stopTimeout = .seconds(1)
        }
        let started = try runtime.run(spec: spec, rootfs: .directory(rootfs))
        // With --init, its PID 1 is berth's init, which never execs: it must hold nothing either.
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(started.pid)/fd").sorted()
        #expect(fds == ["0", "1", "2"])
        try SystemdBus().stopUnit(name: "berth-\(name).scope")
        _ = try Self.wait(started)
    }
}
