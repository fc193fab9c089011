import ArgumentParser
import BerthRuntime
import Foundation

struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List containers (running ones; -a for all).")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Show all containers, also those that have exited.") var all = false
    @Flag(name: .shortAndLong, help: "Only print IDs.") var quiet = false
    @Option(help: "Output format: table or json.") var format: String = "table"

    func run() throws {
        let containers = ContainerStore.list(root: berth.global.root).filter { all || $0.isRunning }
        if quiet {
            for c in containers { print(c.record.id.prefix(12)) }
            return
        }
        if format == "json" {
            try printJSON(containers.map(Inspect.document))
            return
        }
        let now = Date().timeIntervalSince1970
        var rows = [["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"]]
        for c in containers {
            let command = c.record.argv.joined(separator: " ")
            let shown = command.count > 20 ? String(command.prefix(19)) + "…" : command
            rows.append([
                String(c.record.id.prefix(12)), c.record.image, "\"\(shown)\"",
                humanDuration(now - Double(c.record.created) / 1e9) + " ago", Self.status(c, now: now), c.record.name,
            ])
        }
        print(table(rows))
    }

    /// "Up 5 minutes", "Exited (137) 2 seconds ago (stopped with SIGTERM)".
    static func status(_ c: ContainerInfo, now: Double) -> String {
        guard let state = c.state else { return c.status == "starting" ? "Starting" : "Created" }
        if c.isRunning {
            let up = "Up " + humanDuration(now - Double(state.startedAt) / 1e9)
            switch c.health?.status {
            case "starting": return up + " (health: starting)"
            case let health?: return up + " (\(health))"
            case nil: return up
            }
        }
        if state.status == "running" { return "Lost (its supervisor was killed)" }
        var text = "Exited (\(state.exitCode)) " + humanDuration(now - Double(state.finishedAt) / 1e9) + " ago"
        if state.stopSignal != 0 { text += " (stopped with signal \(state.stopSignal))" }
        if let error = state.error { text += ": \(error)" }
        return text
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a container's details as JSON shaped like Docker's.",
        discussion: "--format '{{.State.Pid}}' prints one field, as with docker inspect.")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "Print one field: a Go-template-like path such as {{.State.Status}}.")
    var format: String?
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        var documents: [[String: Any]] = []
        for reference in containers {
            do {
                documents.append(Self.document(try ContainerStore.find(root: berth.global.root, reference)))
            } catch {
                die(1, error.description)
            }
        }
        if let format {
            for doc in documents { print(Self.render(format, doc)) }
            return
        }
        try printJSON(documents)
    }

    static func iso(_ ns: UInt64) -> String {
        ns == 0
            ? "0001-01-01T00:00:00Z"
            : ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(ns) / 1e9))
    }

    /// Docker's State.Health, for a container with a check.
    static func health(_ c: ContainerInfo) -> [String: Any] {
        guard let health = c.health else { return [:] }
        let log = health.log.map {
            ["Start": $0.start, "End": $0.end, "ExitCode": Int($0.exitCode), "Output": $0.output] as [String: Any]
        }
        return [
            "Health": ["Status": health.status, "FailingStreak": health.failingStreak, "Log": log] as [String: Any]
        ]
    }

    static func document(_ c: ContainerInfo) -> [String: Any] {
        let s = c.state
        let r = c.record
        let host = r.host
        let scope = r.scope ?? ScopeSettings()
        var labels = host?.labels ?? [:]
        labels["berth.owner"] = r.owner
        return [
            "Id": r.id, "Name": "/" + r.name, "Created": iso(r.created),
            "Path": r.argv.first ?? "", "Args": Array(r.argv.dropFirst()),
            "State": [
                "Status": c.status, "Running": c.isRunning, "Pid": c.isRunning ? Int(s?.pid ?? 0) : 0,
                "ExitCode": Int(s?.exitCode ?? 0), "Error": s?.error ?? "", "StartedAt": iso(s?.startedAt ?? 0),
                "FinishedAt": iso(s?.finishedAt ?? 0), "StopSignal": Int(s?.stopSignal ?? 0),
                "SupervisorPid": c.supervisorAlive ? Int(s?.supervisorPid ?? 0) : 0,
            ].merging(health(c)) { a, _ in a } as [String: Any],
            "Config": [
                "Hostname": r.hostname, "User": r.user ?? "", "Env": r.env, "Cmd": r.argv, "Image": r.image,
                "WorkingDir": r.workdir ?? "", "Labels": labels, "Tty": r.process?.tty ?? false,
                "OpenStdin": r.process?.openStdin ?? false, "StdinOnce": r.process?.openStdin ?? false,
                "StopSignal": host?.stopSignal ?? "SIGTERM", "StopTimeout": Int(scope.stopTimeout),
            ] as [String: Any],
            "HostConfig": [
                "NetworkMode": r.network, "Memory": Int(scope.memory ?? 0),
                "NanoCpus": Int((scope.cpus ?? 0) * 1e9), "PidsLimit": Int(scope.pids ?? 0),
                "CapAdd": host?.capAdd ?? [], "CapDrop": host?.capDrop ?? [],
                "SecurityOpt": host?.securityOpt ?? [], "ReadonlyRootfs": host?.readonlyRootfs ?? false,
                "Init": host?.initProcess ?? false, "AutoRemove": r.process?.autoRemove ?? false,
                "ShmSize": Int(host?.shmSize ?? 0),
                "Binds": (host?.mounts ?? []).filter { $0.type != "tmpfs" }.map {
                    "\($0.name ?? $0.source):\($0.destination)\($0.readWrite ? "" : ":ro")"
                },
            ] as [String: Any],
            "Mounts": (host?.mounts ?? []).map { m -> [String: Any] in
                var mount: [String: Any] = [
                    "Type": m.type, "Source": m.source, "Destination": m.destination, "RW": m.readWrite,
                    "Mode": m.readWrite ? "" : "ro", "Propagation": m.type == "bind" ? "rprivate" : "",
                ]
                if let name = m.name {
                    mount["Name"] = name
                    mount["Driver"] = "local"
                }
                return mount
            },
            "GraphDriver": ["Name": "overlay", "Data": ["UpperDir": c.layout.upper, "LowerDir": r.rootfs]]
                as [String: Any],
            "NetworkSettings": networkSettings(r),
        ]
    }

    /// Docker's NetworkSettings: the bridge address and the published ports, "80/tcp" to
    /// [{"HostIp", "HostPort"}].
    static func networkSettings(_ r: ContainerRecord) -> [String: Any] {
        guard let a = r.attachment else { return ["Ports": [String: Any](), "IPAddress": ""] }
        var ports: [String: [[String: String]]] = [:]
        for map in a.portMappings {
            for offset in 0..<Int(map.count) {
                ports["\(Int(map.containerPort) + offset)/\(map.proto.rawValue)", default: []].append(
                    ["HostIp": map.address?.description ?? "0.0.0.0", "HostPort": String(Int(map.hostPort) + offset)])
            }
        }
        return [
            "IPAddress": a.address, "IPPrefixLen": Int(a.prefixLength), "Gateway": a.gateway, "Ports": ports,
            "Networks": ["bridge": ["IPAddress": a.address, "Gateway": a.gateway, "IPPrefixLen": Int(a.prefixLength)]],
        ]
    }

    /// `{{.A.B}}` replaced by that value; anything else is kept as written.
    static func render(_ template: String, _ doc: [String: Any]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].range(of: "}}") else { break }
            var path = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            // `{{json .State.Health}}`, as Docker's template function.
            let json = path.hasPrefix("json ")
            if json { path = path.dropFirst(5).trimmingCharacters(in: .whitespaces) }
            var value: Any? = doc
            for key in path.split(separator: ".") { value = (value as? [String: Any])?[String(key)] }
            if json {
                if let value,
                    let data = try? JSONSerialization.data(
                        withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes])
                {
                    out += String(decoding: data, as: UTF8.self)
                } else {
                    out += "null"
                }
                rest = rest[close.upperBound...]
                continue
            }
            switch value {
            case let v as String: out += v
            case let v as Bool: out += v ? "true" : "false"
            case let v?: out += "\(v)"
            case nil: out += "<no value>"
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
