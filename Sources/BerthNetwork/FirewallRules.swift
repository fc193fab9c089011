import BerthSpec

/// One published port, or `count` consecutive ports mapped one to one.
public struct PortMap: Sendable, Hashable {
    public var proto: TransportProtocol
    /// nil (or 0.0.0.0) means every address of the host.
    public var hostAddress: IPAddress?
    public var hostPort: UInt16
    public var containerPort: UInt16
    /// The range's length, 1 for one port.
    public var count: UInt16

    public init(
        proto: TransportProtocol = .tcp, hostAddress: IPAddress? = nil, hostPort: UInt16, containerPort: UInt16,
        count: UInt16 = 1
    ) {
        self.proto = proto
        self.hostAddress = hostAddress
        self.hostPort = hostPort
        self.containerPort = containerPort
        self.count = count
    }

    public init(_ mapping: PortMapping) {
        self.init(
            proto: mapping.proto, hostAddress: mapping.address, hostPort: mapping.hostPort,
            containerPort: mapping.containerPort, count: mapping.count)
    }
}

/// A container's published ports and the bridge address they lead to.
public struct ContainerPorts: Sendable, Equatable {
    /// The container id, 64 lowercase hex digits (12 at least: the chain name uses the first 12).
    public var id: String
    public var address: IPAddress
    public var maps: [PortMap]

    public init(id: String, address: IPAddress, maps: [PortMap]) {
        self.id = id
        self.address = address
        self.maps = maps
    }
}

/// An IPv4 network and prefix length; the address is kept with its host bits cleared.
public struct IPv4Subnet: Sendable, Hashable, CustomStringConvertible {
    public let network: [UInt8]
    public let prefix: UInt8

    public init(address: IPAddress, prefix: UInt8) throws(NetworkError) {
        guard case .v4(let bytes) = address else { throw NetworkError("\(address): not an IPv4 address") }
        guard prefix <= 32 else { throw NetworkError("/\(prefix): an IPv4 prefix is at most 32") }
        let mask: UInt32 = prefix == 0 ? 0 : ~UInt32(0) << (32 - UInt32(prefix))
        let value = bytes.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } & mask
        network = [UInt8(value >> 24), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
        self.prefix = prefix
    }

    /// `10.88.0.0/24`.
    public init(_ text: String) throws(NetworkError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])), let prefix = UInt8(parts[1]) else {
            throw NetworkError("\(text): not an IPv4 subnet such as 10.88.0.0/24")
        }
        try self.init(address: address, prefix: prefix)
    }

    public var description: String { "\(IPAddress.v4(network))/\(prefix)" }
}

/// berth's bridge: its interface, subnet and the host's address on it.
public struct BridgeNetwork: Sendable, Equatable {
    public var bridge: String
    public var subnet: IPv4Subnet
    public var gateway: IPAddress

    public init(bridge: String, subnet: IPv4Subnet, gateway: IPAddress) {
        self.bridge = bridge
        self.subnet = subnet
        self.gateway = gateway
    }
}

/// berth's nftables table `inet berth`, as nft script text, with Docker's and Podman's behaviour:
/// published ports are DNATed in prerouting (from other hosts and containers) and in output (from
/// the host itself), both only for packets addressed to the host (`fib daddr type local`); the
/// subnet is masqueraded when it leaves by another interface; hairpin traffic (a container
/// reaching a published port of the bridge's own subnet) and loopback maps (127.0.0.1, which needs
/// route_localnet) are masqueraded too; packets that arrive on the bridge for 127.0.0.0/8 are
/// dropped before DNAT (at priority raw), or route_localnet would let containers reach services
/// bound to the host's loopback; the forward chain accepts established traffic, the bridge's own
/// and DNATed traffic into the bridge, and drops the rest into the bridge (unpublished ports).
///
/// Atomicity: every script is applied by one `nft_run_cmd_from_buffer`, which the library sends as
/// one netlink batch, and the kernel commits a batch as one generation or rejects it whole; packets
/// see the old rules or the new ones, never a mix. `table` starts with `add table` (a no-op when it
/// exists) then `delete table` (which cannot then fail) and the definitions, so it replaces
/// everything, stale per-container chains included (`flush table` would keep them). Established
/// connections keep their NAT in conntrack, whatever the rules become.
///
/// Layout per container, for the id's first 12 hex digits X: a regular chain `c-X` with the DNAT
/// rules, and two base chains `c-X-prerouting` (nat, prerouting, dstnat) and `c-X-output` (nat,
/// output, -100) that jump to it. The jumps live in base chains of the container's own because nft
/// deletes a rule only by its handle: a jump in a shared chain could be neither re-added without
/// duplicating it nor removed by a script written without reading the kernel first. With a
/// chain pair per container, `replaceContainer` and `removeContainer` are pure, idempotent
/// and atomic (`add chain` is a no-op on an existing chain, `flush chain` then empties it).
///
/// Names: interface names are quoted; chain names cannot be quoted in nft 1.0.6's grammar, so
/// they are built only from a validated hex id. Only IPv4 for now: an IPv6 map or address is
/// refused (IPv6 loopback cannot be DNATed anyway; [::1] would need a proxy).
public enum FirewallRules {
    public static let family = "inet"
    public static let tableName = "berth"
    static let table = "inet berth"

    /// The whole table, created or replaced in one transaction.
    public static func table(network: BridgeNetwork, containers: [ContainerPorts]) throws(NetworkError) -> String {
        let bridge = try quotedInterface(network.bridge)
        guard case .v4 = network.gateway else { throw NetworkError("\(network.gateway): the gateway must be IPv4") }
        let subnet = network.subnet.description
        var ids = Set<String>()
        var out = """
            add table \(table)
            delete table \(table)
            table \(table) {
                chain filter-prerouting {
                    type filter hook prerouting priority raw; policy accept;
                    iifname \(bridge) ip daddr 127.0.0.0/8 drop
                }
                chain postrouting {
                    type nat hook postrouting priority srcnat; policy accept;
                    ip saddr \(subnet) oifname != \(bridge) masquerade
                    ip saddr \(subnet) ip daddr \(subnet) ct status dnat masquerade
                    ct status dnat ip saddr 127.0.0.0/8 masquerade
                }
                chain forward {
                    type filter hook forward priority filter; policy accept;
                    ct state established,related accept
                    iifname \(bridge) accept
                    oifname \(bridge) ct status dnat accept
                    oifname \(bridge) drop
                }

            """
        for container in containers {
            let name = try chainName(id: container.id)
            guard ids.insert(name).inserted else {
                throw NetworkError("two containers share the chain \(name) (the same first 12 hex digits)")
            }
            let rules = try dnatRules(container)
            out += "    chain \(name) {\n"
            for rule in rules { out += "        \(rule)\n" }
            out += "    }\n"
            for (suffix, hook) in hooks {
                out += "    chain \(name)-\(suffix) {\n        \(hook)\n"
                out += "        fib daddr type local jump \(name)\n    }\n"
            }
        }
        return out + "}\n"
    }

    /// One container's rules, added or replaced in one transaction; other chains are not touched.
    public static func replaceContainer(_ c: ContainerPorts) throws(NetworkError) -> String {
        let name = try chainName(id: c.id)
        let rules = try dnatRules(c)
        var out = "add table \(table)\nadd chain \(table) \(name)\nflush chain \(table) \(name)\n"
        for rule in rules { out += "add rule \(table) \(name) \(rule)\n" }
        for (suffix, hook) in hooks {
            let base = "\(name)-\(suffix)"
            out += "add chain \(table) \(base) { \(hook) }\nflush chain \(table) \(base)\n"
            out += "add rule \(table) \(base) fib daddr type local jump \(name)\n"
        }
        return out
    }

    /// One container's chains deleted in one transaction; a no-op when they are absent.
    public static func removeContainer(id: String) throws(NetworkError) -> String {
        let name = try chainName(id: id)
        var out = "add table \(table)\n"
        // The base chains first: they hold the jumps that keep c-X busy.
        for chain in hooks.map({ "\(name)-\($0.0)" }) + [name] {
            out += "add chain \(table) \(chain)\ndelete chain \(table) \(chain)\n"
        }
        return out
    }

    /// `c-` and the id's first 12 hex digits, after checking the id is 12 to 64 lowercase hex digits.
    public static func chainName(id: String) throws(NetworkError) -> String {
        let hex = id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        guard (12...64).contains(id.utf8.count), hex else {
            throw NetworkError("container id \(id.debugDescription): expected 12 to 64 lowercase hex digits")
        }
        return "c-" + id.prefix(12)
    }

    // The two hooks a container's ports are DNATed in: from outside and from the host itself.
    static let hooks = [
        ("prerouting", "type nat hook prerouting priority dstnat; policy accept;"),
        ("output", "type nat hook output priority -100; policy accept;"),
    ]

    /// An interface name in double quotes, after checking it is one Linux would accept and it needs
    /// no escaping (at most 15 bytes of letters, digits, `-`, `_`, `.`).
    static func quotedInterface(_ name: String) throws(NetworkError) -> String {
        let ok = name.utf8.allSatisfy {
            (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0)
                || $0 == 0x2d || $0 == 0x5f || $0 == 0x2e
        }
        guard (1...15).contains(name.utf8.count), ok, name != ".", name != ".." else {
            throw NetworkError("interface name \(name.debugDescription): 1 to 15 of A-Z a-z 0-9 - _ .")
        }
        return "\"\(name)\""
    }

    /// The container's DNAT rules, one per map, in the maps' order.
    static func dnatRules(_ c: ContainerPorts) throws(NetworkError) -> [String] {
        guard case .v4 = c.address else {
            throw NetworkError("\(c.address): container addresses are IPv4 only for now")
        }
        var rules: [String] = []
        for map in c.maps {
            let last = Int(map.hostPort) + Int(map.count) - 1
            let containerLast = Int(map.containerPort) + Int(map.count) - 1
            guard map.count >= 1, map.hostPort >= 1, map.containerPort >= 1, last <= 65535, containerLast <= 65535
            else {
                throw NetworkError(
                    "port map \(map.hostPort):\(map.containerPort) x\(map.count): ports must be 1 to 65535")
            }
            var rule = ""
            if let address = map.hostAddress, !address.isUnspecified {
                guard case .v4 = address else {
                    throw NetworkError("\(address): IPv6 published ports are left out for now")
                }
                rule += "ip daddr \(address) "
            }
            let proto = map.proto.rawValue
            rule += map.count == 1 ? "\(proto) dport \(map.hostPort) " : "\(proto) dport \(map.hostPort)-\(last) "
            if map.count == 1 {
                rule += "dnat ip to \(c.address):\(map.containerPort)"
            } else if map.hostPort == map.containerPort {
                // Address only: the port stays, so the range maps one to one.
                rule += "dnat ip to \(c.address)"
            } else {
                // A port range in dnat would let the kernel pick any port of it; a map keeps each
                // port's offset.
                let pairs = (0..<Int(map.count)).map { "\(Int(map.hostPort) + $0) : \(Int(map.containerPort) + $0)" }
                rule += "dnat ip to \(c.address) : \(proto) dport map { \(pairs.joined(separator: ", ")) }"
            }
            rules.append(rule)
        }
        return rules
    }
}
