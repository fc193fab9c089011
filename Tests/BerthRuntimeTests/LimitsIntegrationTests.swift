import BerthRuntime
import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// `resources` as the kernel sees them: the scope's cgroup files, and a container that goes past
/// its memory limit.
@Suite(.serialized) struct LimitsIntegrationTests {
    typealias CLI = CLIIntegrationTests

    static func cgroupFile(_ controlGroup: String, _ candidates: [String]) -> String? {
        for path in candidates {
            if let text = try? String(
                contentsOfFile: path.replacingOccurrences(of: "CG", with: controlGroup), encoding: .utf8)
            {
                return text.trimmingCharacters(in: .whitespacesAndNewlines)
            }
        }
        return nil
    }

    @Test(.integration) func limitsAreInEffectInTheScopesCgroup() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/bin/tail", withDestinationPath: "busybox")
        let name = RuntimeIntegrationTests.unique("limits")
        let run = try CLI.berth([
            "run", "-d", "--rootfs", rootfs, "--name", name, "--memory", "64m", "--pids-limit", "20", "--cpus", "0.5",
            "--init", "sleep", "600",
        ])
        #expect(run.status == 0)
        let bus = try SystemdBus()
        let unit = "berth-\(name).scope"
        let scope = "org.freedesktop.systemd1.Scope"
        #expect(try bus.getProperty(unit: unit, interface: scope, name: "Slice")?.stringValue == "berth.slice")
        let description = try bus.getProperty(
            unit: unit, interface: "org.freedesktop.systemd1.Unit", name: "Description")
        #expect(description?.stringValue == "berth container \(name) (rootfs)")
        let controlGroup = try #require(
            try bus.getProperty(unit: unit, interface: scope, name: "ControlGroup")?.stringValue)
        // 64 MiB for the container and 2 MiB for its supervisor, as the kernel has it.
        let memory = Self.cgroupFile(
            controlGroup,
            ["/sys/fs/cgroup/CG/memory.max", "/sys/fs/cgroup/memory/CG/memory.limit_in_bytes"])
        #expect(memory == String((64 << 20) + Runtime.supervisorMemory))
        let pids = Self.cgroupFile(controlGroup, ["/sys/fs/cgroup/CG/pids.max", "/sys/fs/cgroup/pids/CG/pids.max"])
        #expect(pids == "21")
        let quota = try bus.getProperty(unit: unit, interface: scope, name: "CPUQuotaPerSecUSec")
        #expect(quota == .uint64(500_000))
        #expect(try CLI.berth(["rm", "-f", name]).status == 0)

        // The container's cgroup namespace is rooted at its scope: it sees itself at "/".
        let cgroups = try CLI.berth(["run", "--rm", "--rootfs", rootfs, "cat", "/proc/self/cgroup"]).out
        #expect(!cgroups.isEmpty && cgroups.split(separator: "\n").allSatisfy { $0.hasSuffix(":/") })

        // Past the limit, the kernel's OOM killer ends the process that grew (137: SIGKILL).
        let oom = try CLI.berth([
            "run", "--rm", "--rootfs", rootfs, "--memory", "32m", "sh", "-c",
            "head -c 200000000 /dev/zero | tail > /dev/null; echo $?",
        ])
        // Under load the kernel may need a second kill before the memory is back under the limit
        // (the shell, the only other process of the container, then dies too: 137 without the
        // echo). The supervisor must survive either way (it would say "lost" and 125).
        let grewKilled = oom.status == 0 && oom.out == "137\n"
        let shellKilledToo = oom.status == 137 && oom.out.isEmpty
        #expect(grewKilled || shellKilledToo, "status \(oom.status): \(oom.out) \(oom.err)")

        // The pids limit holds: 20 background sleeps do not fit in 10 tasks (the shell gives up
        // with "can't fork"), and fit in 30.
        let script = "for i in $(seq 20); do sleep 1 & done; echo all forked"
        let tight = try CLI.berth(["run", "--rm", "--rootfs", rootfs, "--pids-limit", "10", "sh", "-c", script])
        #expect(tight.status != 0 && tight.err.contains("can't fork") && tight.out.isEmpty)
        let roomy = try CLI.berth(["run", "--rm", "--rootfs", rootfs, "--pids-limit", "30", "sh", "-c", script])
        #expect(roomy.status == 0 && roomy.out == "all forked\n")
    }
}
