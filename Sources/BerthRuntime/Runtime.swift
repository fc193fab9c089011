import BerthNetwork
import BerthSpec
import BerthSystemd
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct RuntimeError: Error, CustomStringConvertible {
    /// Docker's convention: 125 when berth fails, 126 when the command cannot run, 127 when
    /// it is not found.
    public var exitCode: Int32
    public var description: String

    public init(_ exitCode: Int32 = 125, _ description: String) {
        self.exitCode = exitCode
        self.description = description
    }
}

/// A container that has started: its supervisor and its PID 1, and the connection of an
/// attached start.
public struct StartedContainer {
    public var layout: ContainerLayout
    public var name: String
    public var supervisorPid: pid_t
    public var pid: pid_t
    public var connection: SupervisorConnection?
}

/// What `berth run` and `create` decide beside the spec (Docker's -i and --rm).
public struct CreateOptions: Sendable {
    /// Keep the container's stdin open for attached clients (-i).
    public var openStdin = false
    /// Remove the container once it has ended (--rm); its supervisor does it.
    public var autoRemove = false
    /// Who made it: "cli" for `berth run`, "berthd" for a spec's container.
    public var owner = "cli"
    /// The spec document it is created from (berthd's), kept as `spec.json` to compare the next
    /// version of the spec with.
    public var applied: AppliedSpec?

    public init(openStdin: Bool = false, autoRemove: Bool = false, owner: String = "cli", applied: AppliedSpec? = nil) {
        self.openStdin = openStdin
        self.autoRemove = autoRemove
        self.owner = owner
        self.applied = applied
    }
}

/// The spec a container was made from, as its file said it (drop-ins merged), with the file's
/// path: relative paths in it resolve against that path when it is decoded again.
public struct AppliedSpec: Sendable {
    public var document: [UInt8]
    public var origin: String

    public init(document: [UInt8], origin: String) {
        self.document = document
        self.origin = origin
    }
}

/// Which of berth's own stdio an attached start passes to the supervisor.
public struct AttachOptions: Sendable {
    public var stdin: Bool
    public var stdinOnce: Bool
    public var size: TerminalSize?
    /// Where the container's output goes (berth's own stdout and stderr unless told).
    public var output: Int32 = 1
    public var errorOutput: Int32 = 2

    public init(stdin: Bool, stdinOnce: Bool, size: TerminalSize?, output: Int32 = 1, errorOutput: Int32 = 2) {
        self.stdin = stdin
        self.stdinOnce = stdinOnce
        self.size = size
        self.output = output
        self.errorOutput = errorOutput
    }
}

/// Creates and starts containers: a directory of state, a supervisor in the scope
/// `berth-NAME.scope`, and the container under it.
public struct Runtime {
    public let root: String
    /// The berth-supervisor executable.
    public let supervisor: String
    /// Lines worth telling the user (clamped limits), printed by the caller.
    public var warnings: [String] = []

    public init(root: String, supervisor: String) {
        self.root = root
        self.supervisor = supervisor
    }

    /// `create` then `start`: a container that cannot start is removed again.
    public mutating func run(
        spec: ContainerSpec, rootfs: RootFilesystem, options: CreateOptions = CreateOptions(),
        attach: AttachOptions? = nil
    )
        throws(RuntimeError) -> StartedContainer
    {
        let info = try create(spec: spec, rootfs: rootfs, options: options)
        do {
            return try start(info, attach: attach)
        } catch {
            Self.remove(root: root, name: spec.name, id: info.record.id)
            throw error
        }
    }

    /// Everything up to the supervisor: the name claimed, the state directory, the supervisor's
    /// configuration and the record. A crash before the record is written leaves a directory
    /// without container.json, which `ContainerStore.collectIncomplete` removes.
    public mutating func create(spec: ContainerSpec, rootfs: RootFilesystem, options: CreateOptions = CreateOptions())
        throws(RuntimeError) -> ContainerInfo
    {
        guard ContainerSpec.isValidName(spec.name) else {
            throw RuntimeError(125, "invalid container name \(spec.name)")
        }
        let layout = ContainerLayout(root: root, id: Self.newID())
        // Only root may look at containers' state, or reach their supervisors' sockets.
        try Files.makeDirectories([layout.containers], mode: 0o700)
        try Files.makeDirectories([layout.containers + "/names"])
        try Files.makeDirectories([layout.upper, layout.work, layout.merged])
        // Before the name is claimed: a crash between here and the record leaves a directory its
        // owner can tell as its own (berthd collects its own at once, the CLI's wait a minute).
        try Files.write(layout.ownerFile, options.owner + "\n")
        let link = ContainerLayout.nameLink(root: root, name: spec.name)
        ContainerStore.collectIncomplete(root: root)
        guard symlink("../" + layout.id, link) == 0 else {
            let e = errno
            Files.removeTree(layout.directory)
            if e == EEXIST {
                throw RuntimeError(
                    125,
                    "the container name \"\(spec.name)\" is already in use; remove that container or choose another name"
                )
            }
            throw RuntimeError(125, "cannot claim the name \(spec.name): \(String(cString: strerror(e)))")
        }
        do {
            let record = try prepare(spec: spec, layout: layout, rootfs: rootfs, options: options)
            return ContainerInfo(record: record, state: nil, supervisorAlive: false, layout: layout)
        } catch {
            unlink(link)
            Files.removeTree(layout.directory)
            throw error
        }
    }

    mutating func prepare(
        spec given: ContainerSpec, layout: ContainerLayout, rootfs: RootFilesystem, options: CreateOptions,
        buildStep: Bool = false
    ) throws(RuntimeError) -> ContainerRecord {
        let spec = ImageDefaults.apply(rootfs.imageConfig, to: given)
        let user: ResolvedUser
        do {
            user = try UserDatabase.resolve(
                user: spec.user, groupAdd: spec.groupAdd, passwd: try rootfs.readText("/etc/passwd"),
                group: try rootfs.readText("/etc/group"))
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "\(error)")
        }
        let argv = (spec.entrypoint ?? []) + (spec.command ?? [])
        guard !argv.isEmpty else { throw RuntimeError(125, "no command: give one after the image, or set \"command\"") }
        let hostname = spec.hostname ?? String(layout.id.prefix(12))
        let environment = try Self.environment(
            spec: spec, image: rootfs.imageConfig?.env ?? [], hostname: hostname, home: user.home)
        var clamped = spec
        clampUlimits(&clamped)

        // On the bridge: an address leased now, kept across restarts, given back at removal.
        var attachment: NetworkAttachment?
        if spec.network == .bridge && !buildStep {
            Self.sweepNetwork(root: root)
            do {
                attachment = try ContainerNetwork(root: root).prepare(id: layout.id, ports: spec.ports)
            } catch {
                throw RuntimeError(125, "cannot join the bridge network: \(error)")
            }
        }
        try Files.write(layout.directory + "/hostname", hostname + "\n")
        try Files.write(
            layout.directory + "/hosts",
            Self.hosts(spec: spec, hostname: hostname, address: attachment?.address))
        try Files.write(layout.directory + "/resolv.conf", Self.resolvConf(network: spec.network))
        try Volumes.prepare(root: root, spec: spec, lowerDirs: rootfs.lowerDirs)
        let seccompPath = try writeSeccompFilter(spec.security, layout: layout)
        var config = SupervisorConfig.make(
            spec: clamped, layout: layout, lowerDirs: rootfs.lowerDirs, user: user, environment: environment,
            argv: argv,
            seccompPath: seccompPath)
        config.set("STDIN", options.openStdin ? "1" : "0")
        config.set("AUTOREMOVE", options.autoRemove ? "1" : "0")
        if let attachment {
            config.set("NETADDR", "\(attachment.address)/\(attachment.prefixLength)")
            config.set("NETGW", attachment.gateway)
            config.set("NETMTU", String(attachment.mtu))
        }
        if !buildStep { config.set("NAMELINK", ContainerLayout.nameLink(root: root, name: spec.name)) }
        try Files.write(layout.configFile, config.bytes)
        var record = ContainerRecord(
            id: layout.id, name: spec.name, image: rootfs.displayName, argv: argv,
            created: UInt64(Date().timeIntervalSince1970 * 1e9), rootfs: rootfs.lowerDirs.joined(separator: ":"),
            hostname: hostname, user: spec.user,
            workdir: spec.workdir, network: spec.network.rawValue, env: environment, owner: options.owner,
            volumes: Volumes.names(in: spec))
        record.process = ProcessSettings(
            uid: user.uid, gid: user.gid, groups: user.groups, tty: spec.tty, openStdin: options.openStdin,
            autoRemove: options.autoRemove)
        record.scope = ScopeSettings(spec: spec)
        record.host = HostSettings(spec: spec, root: root)
        record.imageManifest = rootfs.manifest?.description
        if !buildStep {
            record.imageHealthcheck = rootfs.imageConfig?.healthcheck
            record.healthcheck = HealthSettings.resolve(spec: given.healthcheck, image: record.imageHealthcheck)
        }
        record.attachment = attachment
        if let applied = options.applied {
            try Files.write(layout.appliedSpecFile, applied.document)
            record.specOrigin = applied.origin
        }
        if buildStep {
            record.owner = "build"
            record.unit = ContainerLayout.buildStepUnitName(layout.id)
            record.slice = ContainerLayout.buildSlice
        }
        try record.write(to: layout)
        if attachment != nil { Self.refreshPeerHosts(root: root) }
        return record
    }

    /// Starts a created (or exited) container: its supervisor, placed in the container's scope,
    /// then the container. With `attach`, berth's stdio go to the supervisor before the
    /// container starts, so no output is missed; the reply comes on the returned connection.
    public mutating func start(_ given: ContainerInfo, attach: AttachOptions?) throws(RuntimeError) -> StartedContainer
    {
        if given.supervisorAlive { throw RuntimeError(125, "container \(given.record.name) is already running") }
        if given.isLost { try Self.recoverLost(given) }
        let info = try renewLease(given)
        var connection: SupervisorConnection?
        var clientEnd: Int32?
        if let attach {
            let (ours, theirs) = try SupervisorConnection.pair()
            try ours.attach(
                stdin: attach.stdin ? 0 : nil, stdout: attach.output, stderr: attach.errorOutput,
                stdinOnce: attach.stdinOnce, size: attach.size)
            connection = ours
            clientEnd = theirs
        }
        defer { if let clientEnd { close(clientEnd) } }
        let launch = try SupervisorProcess.spawn(
            executable: supervisor, config: info.layout.configFile, client: clientEnd)
        do throws(RuntimeError) {
            let child = try launch.child()
            let settings = info.record.scope ?? ScopeSettings()
            try placeInScope(record: info.record, settings: settings, pids: [launch.pid, child])
            if let attachment = info.record.attachment {
                do {
                    warnings += try ContainerNetwork(root: root).attach(id: info.record.id, pid: child, attachment)
                } catch {
                    throw RuntimeError(125, "cannot connect the container to the bridge: \(error)")
                }
            }
        } catch {
            launch.abandon()
            throw error
        }
        let pid = try launch.go()
        if let attachment = info.record.attachment, !attachment.portMappings.isEmpty {
            do {
                try ContainerNetwork(root: root).publish(id: info.record.id, attachment)
            } catch {
                // Its supervisor records the exit; a container without its ports is not started.
                _ = Glibc.kill(pid, SIGKILL)
                throw RuntimeError(125, "cannot publish the ports of \(info.record.name): \(error)")
            }
        }
        return StartedContainer(
            layout: info.layout, name: info.record.name, supervisorPid: launch.pid, pid: pid, connection: connection)
    }

    /// The transient scope, holding the supervisor and the container's process (cloned, still
    /// setting up its root): limits from `resources` (the memory limit checked in the cgroup),
    /// and the stop behaviour of the spec. The
    /// supervisor is in the scope too, so it counts: one task more, and a little memory.
    private func placeInScope(record: ContainerRecord, settings: ScopeSettings, pids: [pid_t]) throws(RuntimeError) {
        let unit = record.unitName
        let description =
            record.unit == nil
            ? "berth container \(record.name) (\(settings.image))" : "berth build step (\(settings.image))"
        var properties: [UnitProperty] = [
            .killSignal(settings.killSignal),
            // systemd's SIGKILL comes 5 s after the supervisor's own, so the exit is recorded first.
            .timeoutStop(microseconds: UInt64(settings.stopTimeout + 5) * 1_000_000),
            .collectMode("inactive-or-failed"), .delegate(true), .memoryAccounting(true), .tasksAccounting(true),
            .cpuAccounting(true), .ioAccounting(true),
        ]
        if let memory = settings.memory { properties.append(.memoryMax(memory + Self.supervisorMemory)) }
        if let pids = settings.pids { properties.append(.tasksMax(pids + 1)) }
        if let cpus = settings.cpus { properties.append(.cpuQuotaPerSec(microseconds: UInt64(cpus * 1_000_000))) }
        let bus: SystemdBus
        do {
            bus = try SystemdBus()
            // A scope of the same name from the container's last run may still be there: failed
            // (to be collected with ResetFailedUnit), or going away (its supervisor has recorded
            // the end and exited, and systemd has not collected the scope yet).
            let deadline = ContinuousClock.now + .seconds(5)
            while true {
                do {
                    try bus.startTransientScope(
                        name: unit, pids: pids, slice: record.slice ?? "berth.slice", description: description,
                        properties: properties)
                    break
                } catch let error as SystemdError
                    where error.busError == "org.freedesktop.systemd1.UnitExists" && ContinuousClock.now < deadline
                {
                    try? bus.resetFailedUnit(name: unit)
                    usleep(20_000)
                }
            }
        } catch {
            throw RuntimeError(125, "cannot create the scope \(unit): \(error)")
        }
        // The limit in effect, read back on the same connection.
        if let memory = settings.memory {
            try CgroupMemory.verify(bus: bus, unit: unit, expected: memory + Self.supervisorMemory)
        }
    }

    /// Compiles the container's seccomp filter (Docker's default profile, or the spec's own) for
    /// its capabilities, as the BPF program the supervisor loads; nil when unconfined.
    private func writeSeccompFilter(_ security: Security, layout: ContainerLayout) throws(RuntimeError) -> String? {
        do {
            let capabilities = DockerDefaults.capabilitySet(security)
            switch security.seccomp {
            case .unconfined: return nil
            case .default:
                let cached = try SeccompCache.defaultFilter(
                    root: root, capabilities: capabilities, mask: DockerDefaults.capabilities(security))
                // A hard link: the container keeps its filter even if the cache is cleared.
                let output = layout.directory + "/seccomp.bpf"
                if link(cached, output) == 0 { return output }
                try Files.write(output, Array(try Data(contentsOf: URL(fileURLWithPath: cached))))
                return output
            case .profile(let path):
                let program = try Seccomp.compile(profile: try Seccomp.load(path: path), capabilities: capabilities)
                let output = layout.directory + "/seccomp.bpf"
                try Files.write(output, program)
                return output
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "seccomp: \(error)")
        }
    }

    /// The supervisor's share of a scope's MemoryMax (its PSS is well under this).
    public static let supervisorMemory: UInt64 = 2 << 20

    /// No ulimit above our own hard limit: raising it needs CAP_SYS_RESOURCE, which berth may
    /// not have (Docker's usual nofile 1048576 fails with EPERM there). Clamped, and said so.
    private mutating func clampUlimits(_ spec: inout ContainerSpec) {
        for (name, limit) in spec.resources.ulimits {
            guard let resource = Rlimits.number(name) else { continue }
            var current = rlimit()
            guard getrlimit(__rlimit_resource_t(UInt32(resource)), &current) == 0, current.rlim_max != rlim_t.max
            else { continue }
            let max = Int64(current.rlim_max)
            var clampedLimit = limit
            if limit.hard == -1 || limit.hard > max { clampedLimit.hard = max }
            if limit.soft == -1 || limit.soft > clampedLimit.hard { clampedLimit.soft = clampedLimit.hard }
            if clampedLimit != limit {
                warnings.append(
                    "ulimit \(name) \(limit.soft):\(limit.hard) clamped to \(clampedLimit.soft):\(clampedLimit.hard), the hard limit berth itself has"
                )
                spec.resources.ulimits[name] = clampedLimit
            }
        }
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Docker's order: the image's variables (PATH, or Docker's default PATH), HOSTNAME, HOME
    /// from passwd unless set, TERM for a TTY, the env files, then the spec's own variables.
    static func environment(spec: ContainerSpec, image: [String] = [], hostname: String, home: String)
        throws(RuntimeError) -> [String]
    {
        var env: [(String, String)] = []
        func set(_ key: String, _ value: String) {
            if let i = env.firstIndex(where: { $0.0 == key }) { env[i].1 = value } else { env.append((key, value)) }
        }
        for pair in image {
            let key = pair.prefix { $0 != "=" }
            set(String(key), String(pair.dropFirst(key.count + 1)))
        }
        if !env.contains(where: { $0.0 == "PATH" }) { env.insert(("PATH", DockerDefaults.path), at: 0) }
        set("HOSTNAME", hostname)
        if !env.contains(where: { $0.0 == "HOME" }) { env.append(("HOME", home)) }
        if spec.tty && !env.contains(where: { $0.0 == "TERM" }) { env.append(("TERM", "xterm")) }
        for file in spec.envFile {
            guard let text = Files.readText(file) else { throw RuntimeError(125, "cannot read the env file \(file)") }
            for line in text.split(separator: "\n") {
                let trimmed = line.drop { $0 == " " || $0 == "\t" }
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                if let eq = trimmed.firstIndex(of: "=") {
                    set(String(trimmed[..<eq]), String(trimmed[trimmed.index(after: eq)...]))
                } else if let value = getenv(String(trimmed)) {
                    // A bare name takes the value berth was started with, as Docker does.
                    set(String(trimmed), String(cString: value))
                }
            }
        }
        for (key, value) in spec.env.sorted(by: { $0.key < $1.key }) { set(key, value) }
        return env.map { "\($0.0)=\($0.1)" }
    }

    static func hosts(spec: ContainerSpec, hostname: String, address: String?) -> String {
        if spec.network == .host, let host = Files.readText("/etc/hosts") { return host }
        let own = address.map { "\($0)\t\(hostname) \(spec.name)\n" } ?? "127.0.0.1\t\(hostname)\n"
        return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + own
    }

    /// The host's resolvers; behind systemd-resolved's stub, the upstream servers it uses.
    static func resolvConf(network: NetworkMode) -> String {
        let text = Files.readText("/etc/resolv.conf") ?? ""
        return resolvConf(host: text, resolved: Files.readText("/run/systemd/resolve/resolv.conf"), network: network)
    }

    /// Pure, for tests. A container with its own network cannot reach the host's loopback, so,
    /// as Docker does, loopback nameservers are dropped (after taking systemd-resolved's upstream
    /// servers instead of its stub), and with none left it gets Docker's fallback (Google's).
    static func resolvConf(host: String, resolved: String?, network: NetworkMode) -> String {
        if network == .host { return host }
        var text = host
        if text.contains("nameserver 127.0.0.53"), let resolved { text = resolved }
        var lines: [Substring] = []
        var servers = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if words.first == "nameserver", words.count >= 2 {
                let server = words[1]
                if server.hasPrefix("127.") || server == "::1" { continue }
                servers += 1
            }
            lines.append(line)
        }
        var out = lines.joined(separator: "\n")
        if servers == 0 {
            if !out.isEmpty && !out.hasSuffix("\n") { out += "\n" }
            out += "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        }
        return out
    }
}

extension Runtime {
    /// Removes a stopped container's state and frees its name.
    public static func remove(root: String, name: String, id: String) {
        try? ContainerNetwork(root: root).detach(id: id)
        let link = ContainerLayout.nameLink(root: root, name: name)
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == "../" + id { unlink(link) }
        Files.removeTree(ContainerLayout(root: root, id: id).directory)
        refreshPeerHosts(root: root)
    }
}
