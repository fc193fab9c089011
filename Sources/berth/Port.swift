import ArgumentParser
import BerthRuntime
import BerthSpec

struct Port: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a container's published ports, or change them while it runs.",
        discussion: """
            berth port NAME lists them as docker port does; berth port add NAME MAP... and \
            berth port rm NAME MAP... change them on the running container without a restart \
            (MAP: [ADDR:]HOST[-END]:CONTAINER[-END][/udp]).
            """,
        subcommands: [PortList.self, PortAdd.self, PortRemove.self], defaultSubcommand: PortList.self)
}

struct PortList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a container's published ports.")
    @ParentCommand var berth: Berth
    @Argument(help: "The container.") var container: String

    func run() throws {
        let info = try find(berth.global.root, container)
        for map in info.record.attachment?.portMappings ?? [] {
            for offset in 0..<Int(map.count) {
                let host = map.address.map { $0.isIPv6 ? "[\($0)]" : "\($0)" } ?? "0.0.0.0"
                print(
                    "\(Int(map.containerPort) + offset)/\(map.proto.rawValue) -> \(host):\(Int(map.hostPort) + offset)")
            }
        }
    }
}

struct PortAdd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add", abstract: "Publish more ports.")
    @ParentCommand var berth: Berth
    @Argument(help: "The container.") var container: String
    @Argument(help: "Port maps.") var maps: [String]

    func run() throws {
        let info = try find(berth.global.root, container)
        let current = info.record.attachment?.portMappings ?? []
        let added = parseMaps(maps).filter { !current.contains($0) }
        try change(berth.global.root, info, to: current + added)
    }
}

struct PortRemove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Stop publishing ports.")
    @ParentCommand var berth: Berth
    @Argument(help: "The container.") var container: String
    @Argument(help: "Port maps, as they were published.") var maps: [String]

    func run() throws {
        let info = try find(berth.global.root, container)
        let removed = parseMaps(maps)
        let current = info.record.attachment?.portMappings ?? []
        for map in removed where !current.contains(map) { die(1, "\(info.record.name) does not publish \(map)") }
        try change(berth.global.root, info, to: current.filter { !removed.contains($0) })
    }
}

private func find(_ root: String, _ container: String) throws -> ContainerInfo {
    do { return try ContainerStore.find(root: root, container) } catch { die(1, error.description) }
}

private func parseMaps(_ texts: [String]) -> [PortMapping] {
    texts.map { text in
        switch PortMapping.parse(text) {
        case .success(let map): return map
        case .failure(let problem): die(125, "invalid port map \(text): \(problem)")
        }
    }
}

private func change(_ root: String, _ info: ContainerInfo, to ports: [PortMapping]) throws {
    do { try Runtime.setPorts(root: root, info, to: ports) } catch { die(error.exitCode, error.description) }
}
