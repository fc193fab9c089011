import ArgumentParser
import BerthRuntime
import BerthSpec
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a new container, in its own systemd scope, with its output in journald.",
        discussion: """
            berth run IMAGE [CMD...] runs an image from the store; --rootfs DIR [CMD...] runs on a \
            directory instead. The container writes to its own layer; the image (or DIR) is never \
            changed. Exit status: the container's own, or 125 when berth fails, 126 when the command \
            cannot run, 127 when it is not found. With -it, ctrl-p ctrl-q detaches and leaves the \
            container running.
            """)

    @ParentCommand var berth: Berth
    @OptionGroup var flags: ContainerFlags
    @Flag(name: .shortAndLong, help: "Run in the background and print the container's ID.") var detach = false

    func run() throws {
        let spec = flags.buildSpec()
        let attach = detach ? nil : try flags.attachOptions()
        var runtime = Runtime(root: berth.global.root, supervisor: supervisorPath())
        let (rootfs, lock) = flags.rootFilesystem(root: berth.global.root)
        let started: StartedContainer
        do {
            started = try runtime.run(spec: spec, rootfs: rootfs, options: flags.createOptions, attach: attach)
        } catch {
            die(error.exitCode, error.description)
        }
        withExtendedLifetime(lock) {}
        for warning in runtime.warnings { warn(warning) }
        guard let connection = started.connection else {
            print(started.layout.id)
            return
        }
        if flags.tty && flags.interactive { Terminal.makeRaw() }
        let reply = ClientSession.wait(connection, terminal: flags.tty)
        // Its supervisor removed it; its rules and its lease go now.
        if flags.rm { Runtime.sweepNetwork(root: berth.global.root) }
        throw ExitCode(ClientSession.exitCode(reply, layout: started.layout))
    }
}

struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a container without starting it (berth start starts it).")

    @ParentCommand var berth: Berth
    @OptionGroup var flags: ContainerFlags

    func run() throws {
        let spec = flags.buildSpec()
        var runtime = Runtime(root: berth.global.root, supervisor: supervisorPath())
        let (rootfs, lock) = flags.rootFilesystem(root: berth.global.root)
        defer { withExtendedLifetime(lock) {} }
        do {
            let info = try runtime.create(spec: spec, rootfs: rootfs, options: flags.createOptions)
            for warning in runtime.warnings { warn(warning) }
            print(info.record.id)
        } catch {
            die(error.exitCode, error.description)
        }
    }
}

/// berth-supervisor is installed beside berth.
func supervisorPath() -> String {
    Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent("berth-supervisor").path
}

/// The flags of `run` and `create`: each names a spec field as Docker names it, and together
/// they build the same spec value a file gives.
struct ContainerFlags: ParsableArguments {
    @Option(help: ArgumentHelp("Run on this directory (used read-only) instead of an image.", valueName: "dir"))
    var rootfs: String?

    @Option(help: "Pull the image: missing (when not in the store), always, or never.") var pull = "missing"
    @Option(help: "A name for the container (default: a random one).") var name: String?
    @Flag(help: "Remove the container when it exits.") var rm = false
    @Flag(name: .shortAndLong, help: "Keep stdin open and pass it to the container.") var interactive = false
    @Flag(name: .shortAndLong, help: "Allocate a pseudo-terminal.") var tty = false
    @Option(name: .shortAndLong, help: "Set an environment variable (KEY=VALUE).") var env: [String] = []
    @Option(name: .customLong("env-file"), help: "Read environment variables from a file.") var envFile: [String] = []
    @Option(name: .shortAndLong, help: "Bind a host path or a named volume: SRC:DST[:ro].") var volume: [String] = []
    @Option(help: "Mount a tmpfs: PATH[:size=SIZE,mode=OCTAL].") var tmpfs: [String] = []
    @Option(help: "Network mode: bridge (the default: berth0, with an address of its own), host or none.")
    var network: String?
    @Option(
        name: [.customShort("p"), .customLong("publish")],
        help: "Publish a port: [ADDR:]HOST[-END]:CONTAINER[-END][/udp] (repeatable).")
    var publish: [String] = []
    @Option(name: .shortAndLong, help: "User: NAME|UID[:GROUP|GID].") var user: String?
    @Option(name: .shortAndLong, help: "Working directory inside the container.") var workdir: String?
    @Option(help: "Override the entrypoint.") var entrypoint: String?
    @Option(name: .shortAndLong, help: "The container's hostname.") var hostname: String?
    @Flag(help: "Run a small init as PID 1 that forwards signals and reaps zombies.") var `init` = false
    @Flag(name: .customLong("read-only"), help: "Mount the root filesystem read-only.") var readOnly = false
    @Option(name: .customLong("cap-add"), help: "Add a capability.") var capAdd: [String] = []
    @Option(name: .customLong("cap-drop"), help: "Drop a capability (ALL for every one).") var capDrop: [String] = []
    @Option(name: .customLong("security-opt"), help: "no-new-privileges, or seccomp=unconfined|PATH.")
    var securityOpt: [String] = []
    @Option(name: .shortAndLong, help: "Memory limit (e.g. 256M).") var memory: String?
    @Option(help: "CPUs (e.g. 0.5).") var cpus: Double?
    @Option(name: .customLong("pids-limit"), help: "Maximum number of tasks.") var pidsLimit: Int?
    @Option(name: .customLong("shm-size"), help: "Size of /dev/shm.") var shmSize: String?
    @Option(help: "A ulimit: NAME=SOFT[:HARD].") var ulimit: [String] = []
    @Option(help: "A namespaced sysctl: KEY=VALUE.") var sysctl: [String] = []
    @Option(name: .customLong("stop-signal"), help: "Signal that stops the container.") var stopSignal: String?
    @Option(name: .customLong("stop-timeout"), help: "Seconds to wait before SIGKILL.") var stopTimeout: Int?
    @Option(name: .shortAndLong, help: "A label: KEY=VALUE.") var label: [String] = []
    @Option(name: .customLong("group-add"), help: "An additional group.") var groupAdd: [String] = []
    @Option(
        name: .customLong("health-cmd"),
        help: "A health check, run with /bin/sh -c in the container (berthd probes it while it runs).")
    var healthCmd: String?
    @Option(name: .customLong("health-interval"), help: "Time between health checks (e.g. 30s).")
    var healthInterval: String?
    @Option(name: .customLong("health-timeout"), help: "How long a health check may take.") var healthTimeout: String?
    @Option(name: .customLong("health-retries"), help: "Failures in a row that make it unhealthy.")
    var healthRetries: Int?
    @Option(name: .customLong("health-start-period"), help: "Time to start in, before failures count.")
    var healthStartPeriod: String?
    @Option(name: .customLong("health-start-interval"), help: "Time between health checks in the start period.")
    var healthStartInterval: String?
    @Flag(name: .customLong("no-healthcheck"), help: "Turn off the image's health check.") var noHealthcheck = false

    @Argument(
        parsing: .captureForPassthrough,
        help: "The image (unless --rootfs is given), then the command and its arguments."
    )
    var arguments: [String] = []

    var image: String? { rootfs == nil ? arguments.first : nil }
    var command: [String] { rootfs == nil ? Array(arguments.dropFirst()) : arguments }

    var createOptions: CreateOptions { CreateOptions(openStdin: interactive, autoRemove: rm) }

    /// berth's own stdio for an attached run: stdin with -i, the terminal's size with -t.
    func attachOptions() throws -> AttachOptions {
        if tty && interactive && isatty(0) != 1 { die(125, "the input device is not a TTY; run without -t") }
        return AttachOptions(stdin: interactive, stdinOnce: true, size: tty ? Terminal.size() : nil)
    }

    /// The flags as a spec document, decoded by the same code as spec files.
    func buildSpec() -> ContainerSpec {
        guard rootfs != nil || image != nil else { die(125, "give an image to run, or --rootfs DIR") }
        guard ["missing", "always", "never"].contains(pull) else {
            die(125, "invalid --pull \(pull): expected missing, always or never")
        }
        // A --rootfs directory stands in for an image; the spec rules still want one.
        var doc: [String: Any] = ["image": image ?? "rootfs"]
        if let name { doc["name"] = name }
        if !command.isEmpty { doc["command"] = command }
        if let entrypoint { doc["entrypoint"] = entrypoint.isEmpty ? [] : [entrypoint] }
        var environment: [String: String] = [:]
        for pair in env {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            environment[kv[0]] = kv.count == 2 ? kv[1] : ProcessInfo.processInfo.environment[kv[0]] ?? ""
        }
        if !environment.isEmpty { doc["env"] = environment }
        if !envFile.isEmpty {
            doc["envFile"] = envFile.map {
                $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0
            }
        }
        if !volume.isEmpty { doc["volumes"] = volume }
        if !tmpfs.isEmpty { doc["tmpfs"] = tmpfs }
        doc["network"] = network ?? "bridge"
        if !publish.isEmpty { doc["ports"] = publish }
        if let user { doc["user"] = user }
        if let workdir { doc["workdir"] = workdir }
        if let hostname { doc["hostname"] = hostname }
        if self.`init` { doc["init"] = true }
        if tty { doc["tty"] = true }
        var security: [String: Any] = [:]
        if readOnly { security["readonlyRootfs"] = true }
        if !capAdd.isEmpty { security["capAdd"] = capAdd }
        if !capDrop.isEmpty { security["capDrop"] = capDrop }
        for opt in securityOpt {
            if opt == "no-new-privileges" || opt == "no-new-privileges:true" || opt == "no-new-privileges=true" {
                security["noNewPrivileges"] = true
            } else if opt.hasPrefix("seccomp=") || opt.hasPrefix("seccomp:") {
                security["seccomp"] = String(opt.dropFirst(8))
            } else {
                die(125, "unsupported --security-opt \(opt): expected no-new-privileges or seccomp=unconfined|PATH")
            }
        }
        if !security.isEmpty { doc["security"] = security }
        var resources: [String: Any] = [:]
        if let memory { resources["memory"] = memory }
        if let cpus { resources["cpus"] = cpus }
        if let pidsLimit { resources["pids"] = pidsLimit }
        if let shmSize { resources["shmSize"] = shmSize }
        var ulimits: [String: Any] = [:]
        for u in ulimit {
            let kv = u.split(separator: "=", maxSplits: 1).map(String.init)
            let limits = (kv.count == 2 ? kv[1] : "").split(separator: ":").compactMap { Int64($0) }
            guard kv.count == 2, (1...2).contains(limits.count) else {
                die(125, "invalid --ulimit \(u): expected NAME=SOFT[:HARD]")
            }
            ulimits[kv[0]] = ["soft": limits[0], "hard": limits.last!]
        }
        if !ulimits.isEmpty { resources["ulimits"] = ulimits }
        if !resources.isEmpty { doc["resources"] = resources }
        if !sysctl.isEmpty { doc["sysctls"] = keyValues(sysctl, "--sysctl") }
        if !label.isEmpty { doc["labels"] = keyValues(label, "--label") }
        if !groupAdd.isEmpty { doc["groupAdd"] = groupAdd }
        if let stopSignal { doc["stopSignal"] = stopSignal }
        if let stopTimeout { doc["stopTimeout"] = stopTimeout }
        if noHealthcheck {
            doc["healthcheck"] = ["disable": true]
        } else if healthCmd != nil || healthInterval != nil || healthTimeout != nil || healthRetries != nil
            || healthStartPeriod != nil || healthStartInterval != nil
        {
            var check: [String: Any] = [:]
            if let healthCmd { check["test"] = ["CMD-SHELL", healthCmd] }
            if let healthInterval { check["interval"] = healthInterval }
            if let healthTimeout { check["timeout"] = healthTimeout }
            if let healthRetries { check["retries"] = healthRetries }
            if let healthStartPeriod { check["startPeriod"] = healthStartPeriod }
            if let healthStartInterval { check["startInterval"] = healthStartInterval }
            doc["healthcheck"] = check
        }

        let defaultName = String(UUID().uuidString.lowercased().filter { $0 != "-" }.prefix(12))
        let bytes = (try? JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])) ?? Data()
        switch SpecLoader.decode(Array(bytes), origin: "command line", defaultName: defaultName) {
        case .success(var spec):
            if rootfs != nil { spec.image = nil }
            return spec
        case .failure(let problems):
            die(125, problems.diagnostics.map { "\($0.path): \($0.message)" }.joined(separator: "\n"))
        }
    }

    private func keyValues(_ items: [String], _ flag: String) -> [String: String] {
        var out: [String: String] = [:]
        for item in items {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { die(125, "invalid \(flag) \(item): expected KEY=VALUE") }
            out[kv[0]] = kv[1]
        }
        return out
    }
}
