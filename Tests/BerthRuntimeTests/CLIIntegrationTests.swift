import BerthTestSupport
import Foundation
import Testing

/// The berth CLI as a user drives it, inside the sandbox.
@Suite(.serialized) struct CLIIntegrationTests {
    static let berth = RuntimeIntegrationTests.packageRoot + "/.build/debug/berth"
    static let root = "/tmp/berth-cli-tests"
    /// berth with BERTH_ROOT set, as the argv of a ChildProcess.
    static let command = ["/usr/bin/env", "BERTH_ROOT=\(root)", berth]

    /// Runs berth to completion; returns its status and output.
    @discardableResult
    static func berth(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try Command.run(berth, args, environment: ["BERTH_ROOT": root])
    }

    static func waitUntil(_ condition: () throws -> Bool) throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            usleep(50_000)
        }
        return false
    }

    @Test(.integration) func runPsLogsInspectStopRm() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("cli")
        let once = try Self.berth([
            "run", "--rootfs", rootfs, "--name", name + "-once", "sh", "-c", "echo out; echo err >&2; exit 3",
        ])
        #expect(once.status == 3)
        #expect(once.out == "out\n" && once.err == "err\n")

        let detached = try Self.berth([
            "run", "-d", "--rootfs", rootfs, "--name", name, "--stop-timeout", "2", "sh", "-c",
            "echo started; while :; do sleep 0.1; done",
        ])
        #expect(detached.status == 0 && detached.out.count == 65)
        #expect(try Self.waitUntil { try Self.berth(["logs", name]).out == "started\n" })
        #expect(try Self.berth(["ps"]).out.contains(name))
        #expect(
            try Self.berth(["inspect", "--format", "{{.State.Status}} {{.Name}}", name]).out == "running /\(name)\n")
        let refused = try Self.berth(["rm", name])
        #expect(refused.status == 1 && refused.err.contains("is running"))

        // A shell as PID 1 of its PID namespace ignores SIGTERM it has no handler for (as under
        // Docker): the supervisor SIGKILLs it after the 2 s stop timeout.
        #expect(try Self.berth(["stop", name]).status == 0)
        let ps = try Self.berth(["ps", "-a"]).out
        #expect(
            ps.split(separator: "\n").contains {
                $0.hasSuffix(name) && $0.contains("Exited (137)") && $0.contains("signal 15")
            })
        #expect(!(try Self.berth(["ps"]).out.contains(name + "\n")))
        #expect(try Self.berth(["rm", name, name + "-once"]).status == 0)
        let gone = try Self.berth(["inspect", name])
        #expect(gone.status == 1 && gone.err.contains("no such container"))
    }

    @Test(.integration) func killingTheCLIDoesNotKillTheContainer() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("fg")
        setenv("BERTH_ROOT", Self.root, 1)
        let cli = try ChildProcess([Self.berth, "run", "--rootfs", rootfs, "--name", name, "sleep", "600"])
        #expect(
            try Self.waitUntil {
                try Self.berth(["inspect", "--format", "{{.State.Status}}", name]).out == "running\n"
            })
        kill(cli.pid, SIGKILL)
        #expect(cli.terminatingSignal == SIGKILL)
        usleep(200_000)
        #expect(try Self.berth(["inspect", "--format", "{{.State.Status}}", name]).out == "running\n")
        #expect(try Self.berth(["rm", "-f", name]).status == 0)
    }

    @Test(.integration) func exitCodesAsDocker() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        #expect(try Self.berth(["run", "--rm", "--rootfs", rootfs, "no-such-program"]).status == 127)
        #expect(try Self.berth(["run", "--rm", "--rootfs", rootfs, "/etc/passwd"]).status == 126)
        let bad = try Self.berth(["run", "--rm", "--rootfs", rootfs, "--memory", "lots", "true"])
        #expect(bad.status == 125 && bad.err.contains("resources.memory"))
    }
}
