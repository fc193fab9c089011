import ArgumentParser
import BerthRuntime
import BerthSpec
import Foundation

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start created or stopped containers (-a: attach to one and wait for it).")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Attach its stdout and stderr, and wait for it to exit.") var attach = false
    @Flag(name: .shortAndLong, help: "Attach its stdin too (when it was created with -i).") var interactive = false
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        var runtime = Runtime(root: berth.global.root, supervisor: supervisorPath())
        guard attach || interactive else {
            var failed = false
            let rest = throughBerthd(.start, containers, berth: berth, failed: &failed)
            try forEachContainer(rest, root: berth.global.root, failed: failed) { info throws(RuntimeError) in
                if !info.supervisorAlive { _ = try runtime.start(info, attach: nil) }
            }
            for warning in runtime.warnings { warn(warning) }
            return
        }
        guard containers.count == 1 else { die(125, "you cannot start and attach several containers at once") }
        let info: ContainerInfo
        do {
            info = try ContainerStore.find(root: berth.global.root, containers[0])
        } catch {
            die(1, error.description)
        }
        let process = info.record.process
        let tty = process?.tty ?? false
        let stdin = interactive && (process?.openStdin ?? false)
        if tty && stdin && isatty(0) != 1 { die(125, "the input device is not a TTY") }
        let started: StartedContainer
        do {
            started = try runtime.start(
                info, attach: AttachOptions(stdin: stdin, stdinOnce: true, size: tty ? Terminal.size() : nil))
        } catch {
            die(error.exitCode, error.description)
        }
        for warning in runtime.warnings { warn(warning) }
        if tty && stdin { Terminal.makeRaw() }
        let reply = ClientSession.wait(started.connection!, terminal: tty)
        throw ExitCode(ClientSession.exitCode(reply, layout: info.layout))
    }
}

struct Restart: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop containers (if running), then start them.")
    @ParentCommand var berth: Berth
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        let root = berth.global.root
        var runtime = Runtime(root: root, supervisor: supervisorPath())
        var failed = false
        let rest = throughBerthd(.restart, containers, berth: berth, failed: &failed)
        try forEachContainer(rest, root: root, failed: failed) { info throws(RuntimeError) in
            try runtime.restart(info)
        }
        for warning in runtime.warnings { warn(warning) }
    }
}

struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach to a running container's output (and input, if it was created with -i).",
        discussion: """
            Detach with ctrl-p ctrl-q (TTY containers), or end berth: the container goes on. \
            Without a TTY, the signals berth gets (^C) are passed to the container.
            """)
    @ParentCommand var berth: Berth
    @Flag(name: .customLong("no-stdin"), help: "Do not attach stdin.") var noStdin = false
    @Argument(help: "The container's name or ID.") var container: String

    func run() throws {
        let info: ContainerInfo
        do {
            info = try ContainerStore.find(root: berth.global.root, container)
        } catch {
            die(1, error.description)
        }
        guard info.isRunning else { die(1, "you cannot attach to a stopped container, start it first") }
        let tty = info.record.process?.tty ?? false
        let stdin = !noStdin && (info.record.process?.openStdin ?? false)
        if tty && stdin && isatty(0) != 1 { die(1, "the input device is not a TTY") }
        let connection: SupervisorConnection
        do {
            connection = try SupervisorConnection.connect(info.layout)
            try connection.attach(
                stdin: stdin, stdout: true, stderr: true, stdinOnce: false, size: tty ? Terminal.size() : nil)
        } catch {
            die(1, error.description)
        }
        if tty && stdin { Terminal.makeRaw() }
        let reply = ClientSession.wait(connection, terminal: tty)
        throw ExitCode(ClientSession.exitCode(reply, layout: info.layout))
    }
}

struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a running container: its namespaces, scope, capabilities and seccomp filter.")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Run it in the background.") var detach = false
    @Flag(name: .shortAndLong, help: "Keep stdin open and pass it to the command.") var interactive = false
    @Flag(name: .shortAndLong, help: "Allocate a pseudo-terminal.") var tty = false
    @Option(name: .shortAndLong, help: "Set an environment variable (KEY=VALUE).") var env: [String] = []
    @Option(name: .shortAndLong, help: "User: NAME|UID[:GROUP|GID].") var user: String?
    @Option(name: .shortAndLong, help: "Working directory inside the container.") var workdir: String?
    @Argument(help: "The container's name or ID.") var container: String
    @Argument(parsing: .captureForPassthrough, help: "The command and its arguments.") var command: [String] = []

    func run() throws {
        let info: ContainerInfo
        do {
            info = try ContainerStore.find(root: berth.global.root, container)
        } catch {
            die(1, error.description)
        }
        guard !command.isEmpty else { die(125, "exec needs a command") }
        if tty && interactive && !detach && isatty(0) != 1 { die(125, "the input device is not a TTY") }
        var request = ExecRequest(argv: command)
        request.env = env.map { $0.contains("=") ? $0 : "\($0)=\(ProcessInfo.processInfo.environment[$0] ?? "")" }
        request.user = user
        request.workdir = workdir
        request.tty = tty && !detach
        request.interactive = interactive && !detach
        request.detach = detach
        request.size = request.tty ? Terminal.size() : nil
        let connection: SupervisorConnection
        do {
            connection = try Runtime.exec(info, request)
        } catch {
            die(error.exitCode, error.description)
        }
        if detach {
            switch SupervisorReply((try? connection.receive()) ?? nil) {
            case .pid: return
            case let reply: throw ExitCode(ClientSession.exitCode(reply, layout: info.layout))
            }
        }
        if request.tty && request.interactive { Terminal.makeRaw() }
        let reply = ClientSession.wait(connection, terminal: request.tty, input: request.interactive)
        throw ExitCode(ClientSession.exitCode(reply, layout: info.layout))
    }
}
