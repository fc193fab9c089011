import BerthRuntime
import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

/// create/start/restart, attach, exec and terminals, driven through the berth CLI as a user
/// would, inside the sandbox.
@Suite(.serialized) struct SessionIntegrationTests {
    typealias CLI = CLIIntegrationTests

    static func status(_ name: String) throws -> String {
        try CLI.berth(["inspect", "--format", "{{.State.Status}}", name]).out
    }

    @Test(.integration) func createStartAndRestartKeepTheWritableLayer() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("create")
        let script = "cat /count 2>/dev/null || echo 0 > /count; echo run >> /count; wc -l < /count; exit 4"
        let created = try CLI.berth(["create", "--rootfs", rootfs, "--name", name, "sh", "-c", script])
        #expect(created.status == 0 && created.out.count == 65)
        #expect(try Self.status(name) == "created\n")
        #expect(try CLI.berth(["ps", "-a"]).out.contains("Created"))

        let first = try CLI.berth(["start", "-a", name])
        #expect(first.status == 4)
        #expect(first.out.hasSuffix("2\n"))
        // An exited container starts again on its own writable layer, as Docker's does.
        let second = try CLI.berth(["start", "-a", name])
        #expect(second.status == 4 && second.out.hasSuffix("3\n"))
        #expect(try CLI.berth(["start", name]).status == 0)
        #expect(try CLI.waitUntil { try Self.status(name) == "exited\n" })
        #expect(!FileManager.default.fileExists(atPath: rootfs + "/count"))
        #expect(try CLI.berth(["rm", name]).status == 0)
    }

    @Test(.integration) func restartRunsANewProcess() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("restart")
        try CLI.berth(["run", "-d", "--rootfs", rootfs, "--name", name, "--init", "sleep", "600"])
        let before = try CLI.berth(["inspect", "--format", "{{.State.Pid}}", name]).out
        #expect(try CLI.berth(["restart", name]).status == 0)
        #expect(try Self.status(name) == "running\n")
        #expect(try CLI.berth(["inspect", "--format", "{{.State.Pid}}", name]).out != before)
        #expect(try CLI.berth(["rm", "-f", name]).status == 0)
    }

    @Test(.integration) func execJoinsTheContainer() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("exec")
        try CLI.berth([
            "run", "-d", "--rootfs", rootfs, "--name", name, "--hostname", "inside", "--cap-drop", "NET_RAW",
            "-e", "FROM_RUN=1", "sh", "-c", "echo marker > /mark; exec sleep 600",
        ])
        #expect(try CLI.waitUntil { try CLI.berth(["exec", name, "cat", "/mark"]).out == "marker\n" })
        // Its PID namespace (the container's PID 1 is there), UTS namespace, environment.
        let ps = try CLI.berth(["exec", name, "ps", "-o", "pid,comm"]).out
        #expect(ps.contains("    1 sleep"))
        #expect(try CLI.berth(["exec", name, "cat", "/etc/hostname"]).out == "inside\n")
        let env = try CLI.berth(["exec", "-e", "EXTRA=2", name, "sh", "-c", "echo $FROM_RUN$EXTRA$HOSTNAME"]).out
        #expect(env == "12inside\n")
        // The same capabilities, seccomp filter and no_new_privs setting as the container.
        let container = try CLI.berth(["exec", name, "grep", "-E", "^(Cap|Seccomp:|NoNewPrivs)", "/proc/1/status"])
        let process = try CLI.berth(["exec", name, "grep", "-E", "^(Cap|Seccomp:|NoNewPrivs)", "/proc/self/status"])
        #expect(container.out == process.out && process.out.contains("Seccomp:\t2"))
        // User, groups and working directory.
        #expect(try CLI.berth(["exec", "-u", "nobody", name, "id", "-u"]).out == "65534\n")
        #expect(
            try CLI.berth(["exec", "-u", "nobody", name, "grep", "CapEff", "/proc/self/status"]).out
                == "CapEff:\t0000000000000000\n")
        #expect(try CLI.berth(["exec", "-w", "/etc", name, "sh", "-c", "pwd"]).out == "/etc\n")
        // stdin with -i, exit codes as Docker.
        let cat = try ChildProcess(
            CLI.command + ["exec", "-i", name, "sh", "-c", "read line; exit $line"], stdinPipe: true)
        cat.write("42\n")
        #expect(cat.wait() >> 8 == 42)
        #expect(try CLI.berth(["exec", name, "no-such-program"]).status == 127)
        #expect(try CLI.berth(["exec", name, "/etc/passwd"]).status == 126)
        #expect(try CLI.berth(["exec", "no-such-container", "true"]).status == 1)

        // The process is in the container's scope: started detached, found in its cgroup.
        #expect(try CLI.berth(["exec", "-d", name, "sleep", "321"]).status == 0)
        let bus = try SystemdBus()
        let cgroup = try bus.getProperty(
            unit: "berth-\(name).scope", interface: "org.freedesktop.systemd1.Scope", name: "ControlGroup")
        let path = try #require(cgroup?.stringValue)
        let procs = try #require(Self.cgroupProcs(path))
        let commands = procs.compactMap { try? String(contentsOfFile: "/proc/\($0)/cmdline", encoding: .utf8) }
        #expect(commands.contains { $0.hasPrefix("sleep\u{0}321") })
        #expect(try CLI.berth(["rm", "-f", name]).status == 0)
        let stopped = try CLI.berth(["exec", name, "true"])
        #expect(stopped.status == 1 && stopped.err.contains("no such container"))
    }

    /// The PIDs in a unit's cgroup, on cgroup v2 or in v1's systemd hierarchy.
    static func cgroupProcs(_ path: String) -> [String]? {
        for base in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"] {
            if let text = try? String(contentsOfFile: base + path + "/cgroup.procs", encoding: .utf8),
                !text.isEmpty
            {
                return text.split(separator: "\n").map(String.init)
            }
        }
        return nil
    }

    @Test(.integration) func attachPassesInputAndSurvivesItsClient() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("attach")
        try CLI.berth([
            "run", "-d", "-i", "--init", "--rootfs", rootfs, "--name", name, "sh", "-c",
            "while read l; do echo got $l; done",
        ])
        let first = try ChildProcess(CLI.command + ["attach", name], stdinPipe: true)
        first.write("one\n")
        #expect(try CLI.waitUntil { try CLI.berth(["logs", name]).out == "got one\n" })
        // Killing the client lets the container run on, and another client can attach.
        kill(first.pid, SIGKILL)
        #expect(first.terminatingSignal == SIGKILL)
        usleep(100_000)
        #expect(try Self.status(name) == "running\n")
        let second = try ChildProcess(CLI.command + ["attach", name], stdinPipe: true)
        second.write("two\n")
        #expect(try CLI.waitUntil { try CLI.berth(["logs", name]).out == "got one\ngot two\n" })
        // A later attach's end of input does not close the container's (only run -i and
        // start -ai do, as Docker's StdinOnce): a signal ends it, and the client gets its code.
        #expect(try CLI.berth(["kill", "-s", "TERM", name]).status == 0)
        #expect(second.wait() >> 8 == 143)
        #expect(try CLI.berth(["rm", name]).status == 0)
    }

    @Test(.integration) func terminalRunDetachAndAttach() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("tty")
        let run = try ChildProcess(
            [
                "/usr/bin/env", "BERTH_ROOT=\(CLI.root)", CLI.berth, "run", "-it", "--rootfs", rootfs, "--name", name,
                "sh",
            ],
            terminal: (rows: 33, columns: 101))
        #expect(run.readTerminal { $0.contains("# ") }.contains("# "))
        run.write("tty; stty size; echo $TERM\n")
        let shown = run.readTerminal { $0.contains("xterm") }
        #expect(shown.contains("/dev/pts/0\r\n33 101\r\nxterm"))
        // A new window size reaches the container's terminal.
        var size = winsize(ws_row: 40, ws_col: 120, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(run.stdinFD, UInt(TIOCSWINSZ), &size)
        kill(run.pid, SIGWINCH)
        usleep(200_000)
        run.write("stty size\n")
        #expect(run.readTerminal { $0.contains("40 120") }.contains("40 120"))
        // ctrl-p ctrl-q: berth exits 0, the container runs on.
        run.write("\u{10}\u{11}")
        #expect(run.wait() == 0)
        #expect(try Self.status(name) == "running\n")

        let attach = try ChildProcess(
            CLI.command + ["attach", name], terminal: (rows: 24, columns: 80))
        attach.write("echo back; exit 6\n")
        #expect(attach.readTerminal { $0.contains("back\r\n") }.contains("back\r\n"))
        #expect(attach.wait() >> 8 == 6)
        // The terminal's output is in journald too, one entry per line, without the \r.
        let logs = try CLI.berth(["logs", name]).out
        #expect(logs.contains("\nback\n") && !logs.contains("\r\n"))
        #expect(try CLI.berth(["rm", name]).status == 0)
    }

    @Test(.integration) func execWithATerminal() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("exectty")
        try CLI.berth(["run", "-d", "--rootfs", rootfs, "--name", name, "sleep", "600"])
        let exec = try ChildProcess(
            CLI.command + ["exec", "-it", name, "sh"],
            terminal: (rows: 20, columns: 70))
        exec.write("tty; stty size; exit 3\n")
        #expect(exec.readTerminal { $0.contains("20 70") }.contains("/dev/pts/"))
        #expect(exec.wait() >> 8 == 3)
        // exec output is not the container's: it is not in its logs.
        #expect(try CLI.berth(["logs", name]).out == "")
        #expect(try CLI.berth(["rm", "-f", name]).status == 0)
    }

    @Test(.integration) func inspectShowsWhatTheFlagsAsked() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("inspect")
        let volume = RuntimeIntegrationTests.unique("vol")
        try CLI.berth([
            "create", "-it", "--rootfs", rootfs, "--name", name, "--memory", "64m", "--cpus", "1.5",
            "--pids-limit", "30", "--cap-add", "SYS_TIME", "--cap-drop", "NET_RAW", "--read-only", "--init",
            "--security-opt", "no-new-privileges", "-v", "\(volume):/data:ro", "-v", "/etc:/host-etc",
            "--tmpfs", "/scratch", "--label", "tier=web", "--stop-signal", "SIGINT", "--stop-timeout", "3", "sh",
        ])
        func field(_ template: String) throws -> String {
            try CLI.berth(["inspect", "--format", template, name]).out.trimmingCharacters(in: .newlines)
        }
        #expect(
            try field("{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}")
                == "67108864 1500000000 30")
        #expect(
            try field("{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Init}} {{.Config.Tty}} {{.Config.OpenStdin}}")
                == "true true true true")
        #expect(try field("{{.Config.StopSignal}} {{.Config.StopTimeout}} {{.Config.Labels.tier}}") == "SIGINT 3 web")
        let document = try CLI.berth(["inspect", name]).out
        let parsed = try #require(
            try JSONSerialization.jsonObject(with: Data(document.utf8)) as? [[String: Any]])
        let mounts = try #require(parsed.first?["Mounts"] as? [[String: Any]])
        #expect(mounts.count == 3)
        #expect(
            mounts.contains {
                $0["Type"] as? String == "volume" && $0["Name"] as? String == volume
                    && $0["RW"] as? Bool == false && $0["Destination"] as? String == "/data"
            })
        #expect(mounts.contains { $0["Type"] as? String == "bind" && $0["Source"] as? String == "/etc" })
        let hostConfig = try #require(parsed.first?["HostConfig"] as? [String: Any])
        #expect(hostConfig["CapAdd"] as? [String] == ["SYS_TIME"])
        #expect(hostConfig["SecurityOpt"] as? [String] == ["no-new-privileges"])
        #expect(try CLI.berth(["rm", name]).status == 0)
        _ = try? CLI.berth(["volume", "rm", volume])
    }

    @Test(.integration) func detachedRemoveRemovesOnExit() throws {
        try Integration.check()
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let name = RuntimeIntegrationTests.unique("autorm")
        let id = try CLI.berth(["run", "-d", "--rm", "--rootfs", rootfs, "--name", name, "sh", "-c", "sleep 0.3"]).out
        #expect(try CLI.waitUntil { try CLI.berth(["inspect", name]).status == 1 })
        let dir = CLI.root + "/containers/" + id.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!FileManager.default.fileExists(atPath: dir))
        // The name is free again.
        #expect(try CLI.berth(["run", "--rm", "--rootfs", rootfs, "--name", name, "sh", "-c", "exit 0"]).status == 0)
    }
}
