import BerthSpec
import Foundation

/// What a container on the bridge has: its address, and the ports it publishes (in Docker's
/// text form, "127.0.0.1:8080:80/tcp"). Kept in the container's record.
public struct NetworkAttachment: Codable, Sendable, Equatable {
    public var address: String
    public var prefixLength: UInt8
    public var gateway: String
    public var mtu: UInt32
    public var ports: [String]

    public init(address: String, prefixLength: UInt8, gateway: String, mtu: UInt32, ports: [String]) {
        self.address = address
        self.prefixLength = prefixLength
        self.gateway = gateway
        self.mtu = mtu
        self.ports = ports
    }

    public var portMappings: [PortMapping] {
        ports.compactMap { try? PortMapping.parse($0).get() }
    }
}

/// The bridge network as containers use it: the bridge `berth0` with the gateway's address,
/// forwarding, berth's nftables table, and each container's veth pair and published ports.
public struct ContainerNetwork: Sendable {
    public let root: String
    public let config: NetworkConfig
    public var leases: Leases { Leases(directory: config.stateDirectory, config: config) }

    /// A container's directory under this root: the owner its lease names.
    func owner(_ id: String) -> String { root + "/containers/" + id }

    public init(root: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(NetworkError)
    {
        self.root = root
        config = try NetworkConfig(environment: environment)
    }

    /// The host end of a container's veth: derived from its id (a name may be 63 bytes long; an
    /// interface name has 15).
    public static func vethName(_ id: String) -> String { Netlink.interfaceName(prefix: "vb", containerID: id) }

    /// The MTU containers get: that of the host's default route, else 1500.
    public func mtu() -> UInt32 {
        guard let netlink = try? Netlink(), let mtu = try? netlink.defaultRouteMTU() else { return 1500 }
        return mtu
    }

    /// A new container's attachment: its leased address and its ports.
    public func prepare(id: String, ports: [PortMapping]) throws(NetworkError) -> NetworkAttachment {
        let address = try leases.lease(id, owner: owner(id))
        return NetworkAttachment(
            address: address.description, prefixLength: config.prefixLength,
            gateway: config.gateway.description, mtu: mtu(), ports: ports.map(\.description))
    }

    /// Before a start: the container's lease again (a no-op while it holds it; after a reboot
    /// emptied /run, the address it had when that is still free, else another).
    public func renew(id: String, _ attachment: NetworkAttachment) throws(NetworkError) -> NetworkAttachment {
        var renewed = attachment
        renewed.address = try leases.lease(id, owner: owner(id), preferred: IPAddress(attachment.address)).description
        return renewed
    }

    /// Between the container's clone and its "proceed": the bridge made ready, the veth pair
    /// made with its peer directly in the container's namespace (as eth0, never seen on the
    /// host), its host end on the bridge and up. Returns lines worth telling the user. The
    /// ports are published once eth0 is up (`publish`, after the start): a connection DNATed to
    /// an address that does not answer ARP yet waits for the next ARP probe, a second later.
    public func attach(id: String, pid: pid_t, _ attachment: NetworkAttachment) throws(NetworkError) -> [String] {
        let netlink = try Netlink()
        // Under the network lock: two berths creating the bridge and the table at once would
        // otherwise race (the table's script replaces it whole).
        let warnings = try leases.withLock { () throws(NetworkError) -> [String] in try ensureBridge(netlink) }
        let host = Self.vethName(id)
        try netlink.deleteLink(host)  // a veth left by a start that failed half-way
        try netlink.createVethPair(host, peer: "eth0", peerNamespacePID: pid, mtu: attachment.mtu)
        try netlink.setMaster(host, bridge: config.bridge)
        try netlink.setHairpin(host)
        try netlink.setUp(host)
        return warnings
    }

    /// Replaces the container's published ports in one transaction (a running container keeps
    /// its PID and its connections on the ports that stay) and deletes the conntrack entries of
    /// the maps that went away, so no stale entry keeps sending to the old port.
    public func publish(id: String, _ attachment: NetworkAttachment, previous: [PortMapping] = [])
        throws(NetworkError)
    {
        guard let address = IPAddress(attachment.address) else {
            throw NetworkError("bad address \(attachment.address) for container \(id)")
        }
        let maps = attachment.portMappings
        try Firewall().apply(
            FirewallRules.replaceContainer(ContainerPorts(id: id, address: address, maps: maps.map(PortMap.init))))
        for gone in previous where !maps.contains(gone) {
            _ = try? Conntrack.deleteEntries(
                proto: gone.proto, destinationPort: gone.hostPort, count: gone.count, originalDestination: gone.address)
        }
    }

    /// The containers (by the first 12 hex digits of their id) that have chains in berth's
    /// table; nil when the table cannot be read.
    public func publishedContainers() -> Set<String>? {
        guard let firewall = try? Firewall(), let listing = try? firewall.listTable() else { return nil }
        return Set(Self.containerChains(inListing: listing))
    }

    /// A removed container: its rules, its lease, and its veth if its namespace still holds it.
    public func detach(id: String) {
        if let firewall = try? Firewall() { try? firewall.apply(FirewallRules.removeContainer(id: id)) }
        leases.release(id)
        try? Netlink().deleteLink(Self.vethName(id))
    }

    /// Removes what belongs to no container: leases whose container directory is gone (of any
    /// berth root on this host), then chains in berth's table and host ends of veths on the
    /// bridge that no lease accounts for. A --rm container's supervisor removes its directory
    /// alone, and a crash can fall between any two steps; this runs before every new lease, at
    /// removal and at daemon start. Returns what it removed, for a log line.
    @discardableResult
    public func sweep() -> [String] {
        var removed: [String] = []
        var held = Set<String>()
        for (address, owner) in leases.all() {
            let id = Leases.id(ofOwner: owner)
            if owner.hasPrefix("/") && !FileManager.default.fileExists(atPath: owner) {
                leases.release(id)
                removed.append("lease \(address)")
            } else {
                held.insert(String(id.prefix(12)))
            }
        }
        if let firewall = try? Firewall(), let listing = try? firewall.listTable() {
            for id in Self.containerChains(inListing: listing) where !held.contains(id) {
                if (try? firewall.apply(FirewallRules.removeContainer(id: id))) != nil {
                    removed.append("chain c-\(id)")
                }
            }
        }
        if let netlink = try? Netlink(), let bridge = try? netlink.link(named: config.bridge),
            let links = try? netlink.links()
        {
            for link in links where link.kind == "veth" && link.master == bridge.index && link.name.hasPrefix("vb") {
                guard !held.contains(String(link.name.dropFirst(2))) else { continue }
                if (try? netlink.deleteLink(link.name)) != nil { removed.append("link \(link.name)") }
            }
        }
        return removed
    }

    /// The 12-hex-digit ids of the per-container chains `c-X` in `list table` output.
    static func containerChains(inListing text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "chain", words[1].hasPrefix("c-") else { return nil }
            let id = String(words[1].dropFirst(2))
            return id.count == 12 && id.allSatisfy(\.isHexDigit) ? id : nil
        }
    }

    /// The bridge with the gateway's address, up; IPv4 forwarding; loopback DNAT allowed on the
    /// bridge (route_localnet, with the table's rule that drops what comes from the bridge to
    /// 127.0.0.0/8); berth's table when it is missing. Idempotent.
    func ensureBridge(_ netlink: Netlink) throws(NetworkError) -> [String] {
        var warnings: [String] = []
        if try netlink.link(named: config.bridge) == nil {
            do {
                try netlink.createBridge(config.bridge, mtu: nil)
            } catch  where (try? netlink.link(named: config.bridge)) != nil {
                // another berth made it meanwhile
            }
        }
        let gateway = config.gateway
        if try !netlink.addresses(of: config.bridge).contains(where: { $0.0 == gateway }) {
            do {
                try netlink.addAddress(gateway, prefixLength: config.prefixLength, to: config.bridge)
            } catch  where (try? netlink.addresses(of: config.bridge))?.contains(where: { $0.0 == gateway }) == true {
            }
        }
        try netlink.setUp(config.bridge)
        for (path, value) in [
            ("/proc/sys/net/ipv4/ip_forward", "1"), ("/proc/sys/net/ipv4/conf/\(config.bridge)/route_localnet", "1"),
        ] where (try? String(contentsOfFile: path, encoding: .utf8))?.hasPrefix(value) != true {
            do {
                try value.write(toFile: path, atomically: false, encoding: .utf8)
            } catch {
                warnings.append("cannot set \(path) to \(value): published ports may not be reachable")
            }
        }
        let firewall = try Firewall()
        if (try? firewall.listTable()) == nil {
            try firewall.apply(FirewallRules.table(network: try bridgeNetwork(), containers: []))
        }
        for chain in (try? firewall.foreignForwardDrops()) ?? [] {
            warnings.append(
                "the chain \(chain) drops forwarded traffic by default (policy drop): unless it accepts traffic"
                    + " to and from \(config.bridge), containers cannot reach other hosts and published ports"
                    + " answer only on 127.0.0.1; berth leaves other tables alone")
        }
        return warnings
    }

    func bridgeNetwork() throws(NetworkError) -> BridgeNetwork {
        BridgeNetwork(
            bridge: config.bridge, subnet: try IPv4Subnet(config.subnet), gateway: config.gateway)
    }
}
