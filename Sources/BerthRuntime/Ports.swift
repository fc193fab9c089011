import BerthNetwork
import BerthSpec
import Foundation

extension Runtime {
    /// Changes a container's published ports (the reconciler's and `berth port`'s call): the
    /// record first, then, when it runs, its rules swapped in one transaction and the conntrack
    /// entries of the maps that went away deleted. The container keeps its PID and the
    /// connections on its unchanged ports. Returns the ports it now publishes.
    @discardableResult
    public static func setPorts(root: String, _ info: ContainerInfo, to ports: [PortMapping]) throws(RuntimeError)
        -> [PortMapping]
    {
        guard var attachment = info.record.attachment else {
            throw RuntimeError(125, "container \(info.record.name) is not on the bridge network: it publishes no ports")
        }
        for (i, a) in ports.enumerated() {
            for b in ports[(i + 1)...] where a.overlaps(b) {
                throw RuntimeError(125, "the ports \(a) and \(b) overlap")
            }
        }
        for other in ContainerStore.list(root: root) where other.record.id != info.record.id {
            for a in ports {
                if let b = other.record.attachment?.portMappings.first(where: a.overlaps) {
                    throw RuntimeError(125, "\(a) overlaps \(b), which \(other.record.name) publishes")
                }
            }
        }
        let previous = attachment.portMappings
        attachment.ports = ports.map(\.description)
        var record = info.record
        record.attachment = attachment
        try record.write(to: info.layout)
        guard info.supervisorAlive else { return ports }
        do {
            try ContainerNetwork(root: root).publish(id: info.record.id, attachment, previous: previous)
        } catch {
            throw RuntimeError(125, "cannot publish the ports of \(info.record.name): \(error)")
        }
        return ports
    }
}

extension Runtime {
    /// The network state of containers that are gone (see ContainerNetwork.sweep).
    @discardableResult
    public static func sweepNetwork(root: String) -> [String] {
        (try? ContainerNetwork(root: root))?.sweep() ?? []
    }
}

extension Runtime {
    /// A container on the bridge holds its lease again before it starts; when its address had to
    /// change (a reboot emptied the leases and another container took it), its record, its
    /// supervisor's configuration and every peer's /etc/hosts follow.
    func renewLease(_ info: ContainerInfo) throws(RuntimeError) -> ContainerInfo {
        guard let attachment = info.record.attachment else { return info }
        let renewed: NetworkAttachment
        do {
            renewed = try ContainerNetwork(root: root).renew(id: info.record.id, attachment)
        } catch {
            throw RuntimeError(125, "cannot lease an address on the bridge: \(error)")
        }
        guard renewed != attachment else { return info }
        var updated = info
        updated.record.attachment = renewed
        do {
            // The supervisor takes the last NETADDR record.
            var config = try Data(contentsOf: URL(fileURLWithPath: info.layout.configFile))
            config.append(contentsOf: Array("NETADDR=\(renewed.address)/\(renewed.prefixLength)".utf8) + [0])
            try Files.write(info.layout.configFile, Array(config))
            try Files.write(info.layout.recordFile, Array(JSONEncoder().encode(updated.record)))
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "cannot record the container's new address: \(error)")
        }
        Self.refreshPeerHosts(root: root)
        return updated
    }

    /// Ports are published just after a container starts; a berth killed between the two
    /// leaves a running container without its rules. At daemon start the rules of every such
    /// container are put back (one listing of the table). Returns a line per container.
    @discardableResult
    public static func republishMissing(root: String) -> [String] {
        let running = ContainerStore.list(root: root).filter {
            $0.isRunning && !($0.record.attachment?.portMappings.isEmpty ?? true)
        }
        guard !running.isEmpty, let network = try? ContainerNetwork(root: root),
            let published = network.publishedContainers()
        else { return [] }
        var lines: [String] = []
        for info in running where !published.contains(String(info.record.id.prefix(12))) {
            guard let attachment = info.record.attachment else { continue }
            do {
                try network.publish(id: info.record.id, attachment)
                lines.append("published the ports of \(info.record.name) again (a start was cut short)")
            } catch {
                lines.append("cannot publish the ports of \(info.record.name): \(error)")
            }
        }
        return lines
    }
}
