import BerthNetwork
import Foundation

extension Runtime {
    /// Containers on the bridge reach each other by name: every such container's /etc/hosts
    /// lists every other one that exists (running or not, until it is removed). The file is
    /// bind-mounted into the container, so it is rewritten in place (truncated and written),
    /// never replaced by a rename, which the container would not see.
    public static func refreshPeerHosts(root: String) {
        let containers = ContainerStore.list(root: root).filter { $0.record.attachment != nil }
        let peers = containers.compactMap { c in
            c.record.attachment.map { ($0.address, c.record.name, c.record.hostname) }
        }
        for container in containers {
            guard let own = container.record.attachment else { continue }
            var text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            text += "\(own.address)\t\(container.record.hostname) \(container.record.name)\n"
            for (address, name, hostname) in peers where name != container.record.name {
                text += "\(address)\t\(name)\(hostname == name ? "" : " " + hostname)\n"
            }
            let path = container.layout.directory + "/hosts"
            guard Files.readText(path) != text else { continue }
            let fd = open(path, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let bytes = Array(text.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
    }
}
