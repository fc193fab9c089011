import BerthRuntime
import BerthTestSupport
import Foundation
import Testing

/// What berth does after a kill -9 at the worst moments: during create, and of a supervisor.
@Suite(.serialized) struct RecoveryTests {
    typealias CLI = CLIIntegrationTests

    /// A create killed after claiming the name leaves a directory without container.json; the
    /// next create collects it once it is old enough to be no create still under way.
    @Test func anInterruptedCreateIsCollected() throws {
        let root = NSTemporaryDirectory() + "berth-recovery-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let old = String(repeating: "a", count: 64)
        let recent = String(repeating: "b", count: 64)
        let complete = String(repeating: "c", count: 64)
        for id in [old, recent, complete] {
            try FileManager.default.createDirectory(
                atPath: root + "/containers/\(id)/upper", withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(atPath: root + "/containers/names", withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: root + "/containers/\(complete)/container.json"))
        for (name, id) in [("old", old), ("recent", recent), ("complete", complete), ("dangling", "../" + "d")] {
            try FileManager.default.createSymbolicLink(
                atPath: root + "/containers/names/\(name)", withDestinationPath: id.hasPrefix("..") ? id : "../" + id)
        }
        let hourAgo = Date().addingTimeInterval(-3600)
        for path in ["/containers/\(old)", "/containers/\(complete)"] {
            try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: root + path)
        }
        var times = [timespec(tv_sec: Int(hourAgo.timeIntervalSince1970), tv_nsec: 0)]
        times.append(times[0])
        for name in ["old", "dangling", "complete"] {
            #expect(utimensat(AT_FDCWD, root + "/containers/names/\(name)", times, AT_SYMLINK_NOFOLLOW) == 0)
        }

        ContainerStore.collectIncomplete(root: root)
        let ids = try FileManager.default.contentsOfDirectory(atPath: root + "/containers").sorted()
        #expect(ids == [recent, complete, "names"].sorted())
        let names = try FileManager.default.contentsOfDirectory(atPath: root + "/containers/names").sorted()
        #expect(names == ["complete", "recent"])
    }

    /// A supervisor killed with SIGKILL: the container runs on in its scope, ps says it is lost,
    /// stop stops the scope and records the end, and the container starts again.
    @Test(.integration) func aKilledSupervisorIsRecovered() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("lost")
        try CLI.berth(["run", "-d", "--init", "--rootfs", rootfs, "--name", name, "sleep", "600"])
        let pids = try CLI.berth(["inspect", "--format", "{{.State.SupervisorPid}} {{.State.Pid}}", name]).out
        let numbers = pids.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
        try #require(numbers.count == 2)
        kill(numbers[0], SIGKILL)
        #expect(try CLI.waitUntil { try CLI.berth(["ps", "-a"]).out.contains("Lost") })
        #expect(kill(numbers[1], 0) == 0)  // the container itself still runs
        let refused = try CLI.berth(["rm", name])
        #expect(refused.status == 1 && refused.err.contains("use -f"))

        #expect(try CLI.berth(["stop", name]).status == 0)
        #expect(try CLI.waitUntil { kill(numbers[1], 0) != 0 })
        #expect(
            try CLI.berth(["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name]).out == "exited 137\n")
        #expect(try CLI.berth(["ps", "-a"]).out.contains("its supervisor was killed"))
        #expect(try CLI.berth(["start", name]).status == 0)
        #expect(try CLI.waitUntil { try SessionIntegrationTests.status(name) == "running\n" })
        #expect(try CLI.berth(["rm", "-f", name]).status == 0)
    }
}
