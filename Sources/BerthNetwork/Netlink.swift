import BerthSpec

#if canImport(Glibc)
    import Glibc
#endif

/// A small synchronous rtnetlink (NETLINK_ROUTE) client over a raw AF_NETLINK socket, in the
/// network namespace of the calling process. Every request asks for an ack and every ack's error
/// is checked; replies are matched by sequence number and dumps are read to NLMSG_DONE.
///
/// berth never calls setns (it is multi-threaded): links inside a container's namespace are
/// configured by the container's single-threaded C setup code. From the host side berth creates
/// the veth pair with the peer directly in the container's namespace (by PID), so the peer never
/// appears on the host. One instance belongs to one thread at a time.
public final class Netlink {
    public struct Link: Sendable, Equatable {
        public var index: Int32
        public var name: String
        public var mtu: UInt32
        /// IFF_UP: administratively up (the carrier may still be down).
        public var up: Bool
        /// The index of the bridge (or other master) the link is attached to.
        public var master: Int32?
        /// IFLA_INFO_KIND ("bridge", "veth", …); nil for links without one, such as lo or a NIC.
        public var kind: String?
    }

    private let fd: Int32
    private var sequence: UInt32 = 0
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// A socket in the calling process's current network namespace.
    public init() throws(NetworkError) {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NL.protocolRoute)
        guard fd >= 0 else { throw NetworkError("open netlink socket", errno: errno) }
        self.fd = fd
        var one: Int32 = 1
        // Best effort: older kernels lack them, and they only shorten acks and add messages.
        _ = setsockopt(fd, NL.solNetlink, NL.capAck, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, NL.solNetlink, NL.extAck, &one, socklen_t(MemoryLayout<Int32>.size))
        // A reply that never comes (it should not happen) must not hang berth forever.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // struct sockaddr_nl { sa_family_t nl_family; u16 nl_pad; u32 nl_pid; u32 nl_groups; }:
        // port 0 lets the kernel choose ours, no multicast groups.
        var address = [UInt8](repeating: 0, count: 12)
        NetlinkMessage.store(UInt16(AF_NETLINK), into: &address, at: 0)
        let bound = address.withUnsafeBytes {
            bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(12))
        }
        guard bound == 0 else {
            let code = errno
            close(fd)
            throw NetworkError("bind netlink socket", errno: code)
        }
    }

    deinit { close(fd) }

    // MARK: Names

    /// A link name from a container ID: the prefix and the ID's first 12 hex digits (Docker's
    /// short ID, so it matches what `berth ps` shows), fewer if the prefix leaves less room in
    /// IFNAMSIZ-1 = 15 bytes. Names come from the ID, never the container name, which may be long.
    public static func interfaceName(prefix: String, containerID: String) -> String {
        precondition(!prefix.isEmpty && prefix.utf8.count <= 11, "an interface name prefix is 1 to 11 bytes")
        let room = min(12, 15 - prefix.utf8.count)
        let hex = containerID.lowercased().filter(\.isHexDigit).prefix(room)
        return prefix + hex
    }

    /// Checks a link name as the kernel's dev_valid_name does, plus "%" (the kernel would treat
    /// "eth%d" as a template and pick a name itself) and control characters.
    public static func validate(name: String) throws(NetworkError) {
        let bytes = Array(name.utf8)
        func invalid(_ why: String) -> NetworkError {
            NetworkError("invalid interface name \"\(name)\": \(why)")
        }
        guard !bytes.isEmpty else { throw invalid("it is empty") }
        guard bytes.count <= 15 else { throw invalid("it is \(bytes.count) bytes, at most 15 are allowed") }
        guard name != ".", name != ".." else { throw invalid("\".\" and \"..\" are not allowed") }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: ":"), UInt8(ascii: "%"):
                throw invalid("it contains \"\(Character(Unicode.Scalar(byte)))\"")
            case UInt8(ascii: " "), 0x09...0x0D: throw invalid("it contains whitespace")
            case 0x00...0x1F, 0x7F: throw invalid("it contains a control character")
            default: continue
            }
        }
    }

    // MARK: Links

    public func links() throws(NetworkError) -> [Link] {
        var request = NetlinkMessage(type: NL.getLink, flags: NL.request | NL.dump)
        request.ifinfo()
        return try transact(request, dump: true, operation: "list links").compactMap(Self.parseLink)
    }

    public func link(named name: String) throws(NetworkError) -> Link? {
        try Self.validate(name: name)
        var request = NetlinkMessage(type: NL.getLink, flags: NL.request | NL.ack)
        request.ifinfo()
        request.attribute(IFLA.ifname, name)
        return try lookup(request, operation: "look up link \"\(name)\"")
    }

    func link(index: Int32) throws(NetworkError) -> Link? {
        var request = NetlinkMessage(type: NL.getLink, flags: NL.request | NL.ack)
        request.ifinfo(index: index)
        return try lookup(request, operation: "look up link \(index)")
    }

    private func lookup(_ request: NetlinkMessage, operation: String) throws(NetworkError) -> Link? {
        let replies = try transact(request, dump: false, operation: operation, tolerating: ENODEV)
        return replies?.lazy.compactMap(Self.parseLink).first
    }

    /// A bridge; with `mtu`, one it keeps whatever its ports' MTUs are.
    public func createBridge(_ name: String, mtu: UInt32?) throws(NetworkError) {
        if let mtu { _ = try Self.checked(mtu) }
        try execute(Self.bridgeRequest(name), operation: "create bridge \"\(name)\"")
        guard let mtu else { return }
        // An MTU given at creation (IFLA_MTU in NEWLINK) does not count as set by the user, so
        // the bridge would follow its ports' MTU (br_mtu_auto_adjust: a 1500-byte port turns a
        // 1400 bridge into 1500). Only a change through SETLINK pins it, and setting the MTU it
        // already has changes nothing: so step through another value when it is the default.
        do {
            if try link(named: name)?.mtu == mtu { try setMTU(name, mtu == 68 ? 69 : mtu - 1) }
            try setMTU(name, mtu)
        } catch {
            try? deleteLink(name)
            throw error
        }
    }

    /// A veth pair; with `peerNamespacePID`, the peer is created directly in that process's
    /// network namespace (IFLA_NET_NS_PID in the peer's info), so it never exists on the host and
    /// its name cannot collide with one here. `mtu` applies to both ends.
    public func createVethPair(_ name: String, peer: String, peerNamespacePID: pid_t?, mtu: UInt32?)
        throws(NetworkError)
    {
        try Self.validate(name: name)
        try Self.validate(name: peer)
        if let mtu { _ = try Self.checked(mtu) }
        try execute(
            Self.vethRequest(name, peer: peer, peerNamespacePID: peerNamespacePID, mtu: mtu),
            operation: "create veth pair \"\(name)\" / \"\(peer)\"")
    }

    public func setMaster(_ link: String, bridge: String) throws(NetworkError) {
        let operation = "attach \"\(link)\" to bridge \"\(bridge)\""
        let master = try index(of: bridge, operation: operation)
        try setLink(link, operation: operation) { $0.attribute(IFLA.master, UInt32(bitPattern: master)) }
    }

    /// Hairpin mode on a bridge port: the bridge may send a frame back out of the port it came in
    /// by, which a container reaching its own published port through the host needs (the DNATed
    /// packet goes back to the port it came from).
    public func setHairpin(_ link: String) throws(NetworkError) {
        try Self.validate(name: link)
        let operation = "set hairpin mode on \"\(link)\""
        let index = try index(of: link, operation: operation)
        try execute(Self.hairpinRequest(index: index), operation: operation)
    }

    static func hairpinRequest(index: Int32) -> NetlinkMessage {
        var request = NetlinkMessage(type: NL.setLink, flags: NL.request | NL.ack)
        request.ifinfo(index: index, family: NLFamily.bridge)
        request.nested(IFLA.protinfo | IFLA.nestedFlag) { $0.attribute(IFLA.brportMode, [1]) }
        return request
    }

    public func setUp(_ link: String) throws(NetworkError) {
        try setLink(link, flags: IFLA.flagUp, change: IFLA.flagUp, operation: "set link \"\(link)\" up") { _ in }
    }

    public func setMTU(_ link: String, _ mtu: UInt32) throws(NetworkError) {
        let mtu = try Self.checked(mtu)
        try setLink(link, operation: "set the MTU of \"\(link)\" to \(mtu)") { $0.attribute(IFLA.mtu, mtu) }
    }

    public func moveToNamespace(_ link: String, pid: pid_t) throws(NetworkError) {
        try setLink(link, operation: "move \"\(link)\" to the network namespace of PID \(pid)") {
            $0.attribute(IFLA.netNSPID, UInt32(bitPattern: pid))
        }
    }

    public func rename(_ link: String, to newName: String) throws(NetworkError) {
        try Self.validate(name: newName)
        let operation = "rename \"\(link)\" to \"\(newName)\""
        try setLink(link, operation: operation) { $0.attribute(IFLA.ifname, newName) }
    }

    /// Deletes a link (both ends, for a veth). A link that does not exist is not an error.
    public func deleteLink(_ name: String) throws(NetworkError) {
        try Self.validate(name: name)
        var request = NetlinkMessage(type: NL.delLink, flags: NL.request | NL.ack)
        request.ifinfo()
        request.attribute(IFLA.ifname, name)
        _ = try transact(request, dump: false, operation: "delete link \"\(name)\"", tolerating: ENODEV)
    }

    // MARK: Addresses and routes

    /// Adds an address (IPv6 without duplicate address detection: a gateway address that stays
    /// "tentative" for a second would drop a container's first packets).
    public func addAddress(_ address: IPAddress, prefixLength: UInt8, to link: String) throws(NetworkError) {
        let operation = "add address \(address)/\(prefixLength) to \"\(link)\""
        let maximum: UInt8 = address.isIPv6 ? 128 : 32
        guard prefixLength <= maximum else {
            throw NetworkError("\(operation): the prefix length is at most \(maximum)")
        }
        let index = try index(of: link, operation: operation)
        try execute(Self.addressRequest(address, prefixLength: prefixLength, index: index), operation: operation)
    }

    /// The link's addresses, IPv4 and IPv6 (link-local ones included), with their prefix lengths.
    public func addresses(of link: String) throws(NetworkError) -> [(IPAddress, UInt8)] {
        let operation = "list the addresses of \"\(link)\""
        let index = try index(of: link, operation: operation)
        var request = NetlinkMessage(type: NL.getAddr, flags: NL.request | NL.dump)
        request.append([NLFamily.unspec, 0, 0, 0])
        request.append(UInt32(0))
        var found: [(IPAddress, UInt8)] = []
        for reply in try transact(request, dump: true, operation: operation) where reply.type == NL.newAddr {
            let payload = reply.payload[...]
            guard payload.count >= NL.ifaddrSize, payload.netlinkLoad(UInt32.self, at: 4) == UInt32(bitPattern: index)
            else { continue }
            let attributes = NetlinkAttributes(payload[NL.ifaddrSize...])
            // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer on point-to-point links,
            // and the only one IPv6 sends otherwise.
            guard let raw = attributes[IFA.local] ?? attributes[IFA.address],
                let address = Self.ipAddress(family: payload[0], raw)
            else { continue }
            found.append((address, payload[1]))
        }
        return found
    }

    public func addDefaultRoute(via gateway: IPAddress, link: String) throws(NetworkError) {
        let operation = "add a default route via \(gateway) on \"\(link)\""
        let index = try index(of: link, operation: operation)
        try execute(Self.defaultRouteRequest(via: gateway, index: index), operation: operation)
    }

    /// MTU of the link that carries the default IPv4 route (RTM_GETROUTE dump, main table, dst len 0, its RTA_OIF's
    /// link MTU); nil when there is no default route. Of several, the one with the lowest metric counts.
    public func defaultRouteMTU() throws(NetworkError) -> UInt32? {
        let operation = "find the default route"
        var request = NetlinkMessage(type: NL.getRoute, flags: NL.request | NL.dump)
        request.append([NLFamily.inet, 0, 0, 0, 0, 0, 0, 0])
        request.append(UInt32(0))
        var best: (metric: UInt32, index: Int32)?
        for reply in try transact(request, dump: true, operation: operation) where reply.type == NL.newRoute {
            let payload = reply.payload[...]
            guard payload.count >= NL.rtmsgSize, payload[0] == NLFamily.inet, payload[1] == 0,
                payload[7] == RTA.unicast
            else { continue }
            let attributes = NetlinkAttributes(payload[NL.rtmsgSize...])
            // rtm_table is one byte; tables above 255 are only in RTA_TABLE.
            guard (attributes.uint32(RTA.table) ?? UInt32(payload[4])) == RTA.tableMain else { continue }
            guard let index = Self.outputIndex(attributes) else { continue }
            let metric = attributes.uint32(RTA.priority) ?? 0
            if best == nil || metric < best!.metric { best = (metric, index) }
        }
        guard let best else { return nil }
        guard let link = try link(index: best.index) else {
            throw NetworkError("\(operation): the default route's link \(best.index) is gone")
        }
        return link.mtu
    }

    // MARK: Requests (internal so that tests can check their bytes)

    static func bridgeRequest(_ name: String) throws(NetworkError) -> NetlinkMessage {
        try validate(name: name)
        var request = NetlinkMessage(type: NL.newLink, flags: NL.request | NL.ack | NL.create | NL.excl)
        request.ifinfo()
        request.attribute(IFLA.ifname, name)
        request.nested(IFLA.linkinfo) { $0.attribute(IFLA.infoKind, "bridge") }
        return request
    }

    static func vethRequest(_ name: String, peer: String, peerNamespacePID: pid_t?, mtu: UInt32?)
        -> NetlinkMessage
    {
        var request = NetlinkMessage(type: NL.newLink, flags: NL.request | NL.ack | NL.create | NL.excl)
        request.ifinfo()
        request.attribute(IFLA.ifname, name)
        if let mtu { request.attribute(IFLA.mtu, mtu) }
        request.nested(IFLA.linkinfo) { info in
            info.attribute(IFLA.infoKind, "veth")
            info.nested(IFLA.infoData) { data in
                // VETH_INFO_PEER holds a whole ifinfomsg and the peer's own link attributes.
                data.nested(IFLA.vethPeer) { peerInfo in
                    peerInfo.ifinfo()
                    peerInfo.attribute(IFLA.ifname, peer)
                    if let mtu { peerInfo.attribute(IFLA.mtu, mtu) }
                    if let peerNamespacePID { peerInfo.attribute(IFLA.netNSPID, UInt32(bitPattern: peerNamespacePID)) }
                }
            }
        }
        return request
    }

    static func addressRequest(_ address: IPAddress, prefixLength: UInt8, index: Int32) -> NetlinkMessage {
        let (family, raw) = Self.raw(address)
        var request = NetlinkMessage(type: NL.newAddr, flags: NL.request | NL.ack | NL.create | NL.excl)
        // struct ifaddrmsg: family, prefixlen, flags, scope, index.
        request.append([family, prefixLength, address.isIPv6 ? IFA.noDAD : 0, RTA.scopeUniverse])
        request.append(UInt32(bitPattern: index))
        request.attribute(IFA.local, raw)
        request.attribute(IFA.address, raw)
        return request
    }

    static func defaultRouteRequest(via gateway: IPAddress, index: Int32) -> NetlinkMessage {
        let (family, raw) = Self.raw(gateway)
        var request = NetlinkMessage(type: NL.newRoute, flags: NL.request | NL.ack | NL.create | NL.excl)
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        request.append([family, 0, 0, 0, UInt8(RTA.tableMain), RTA.protoBoot, RTA.scopeUniverse, RTA.unicast])
        request.append(UInt32(0))
        request.attribute(RTA.gateway, raw)
        request.attribute(RTA.oif, UInt32(bitPattern: index))
        return request
    }

    // MARK: Plumbing

    private static func checked(_ mtu: UInt32) throws(NetworkError) -> UInt32 {
        // 68 is IPv4's minimum; the kernel would say only "Invalid argument".
        guard mtu >= 68 else { throw NetworkError("invalid MTU \(mtu): at least 68 is needed") }
        return mtu
    }

    private static func raw(_ address: IPAddress) -> (UInt8, [UInt8]) {
        switch address {
        case .v4(let bytes): (NLFamily.inet, bytes)
        case .v6(let bytes): (NLFamily.inet6, bytes)
        }
    }

    private static func ipAddress(family: UInt8, _ raw: ArraySlice<UInt8>) -> IPAddress? {
        switch (family, raw.count) {
        case (NLFamily.inet, 4): .v4(Array(raw))
        case (NLFamily.inet6, 16): .v6(Array(raw))
        default: nil
        }
    }

    /// RTA_OIF, or the first next hop's interface of a multipath route (struct rtnexthop:
    /// len u16, flags u8, hops u8, ifindex i32).
    private static func outputIndex(_ attributes: NetlinkAttributes) -> Int32? {
        if let oif = attributes.uint32(RTA.oif) { return Int32(bitPattern: oif) }
        guard let hops = attributes[RTA.multipath], hops.count >= 8 else { return nil }
        return hops.netlinkLoad(Int32.self, at: hops.startIndex + 4)
    }

    static func parseLink(_ reply: NetlinkReply) -> Link? {
        guard reply.type == NL.newLink, reply.payload.count >= NL.ifinfoSize else { return nil }
        let payload = reply.payload[...]
        let attributes = NetlinkAttributes(payload[NL.ifinfoSize...])
        guard let name = attributes.string(IFLA.ifname) else { return nil }
        let master = attributes.uint32(IFLA.master).map { Int32(bitPattern: $0) }
        let kind = attributes[IFLA.linkinfo].flatMap { NetlinkAttributes($0).string(IFLA.infoKind) }
        return Link(
            index: payload.netlinkLoad(Int32.self, at: 4), name: name, mtu: attributes.uint32(IFLA.mtu) ?? 0,
            up: payload.netlinkLoad(UInt32.self, at: 8) & IFLA.flagUp != 0, master: master == 0 ? nil : master,
            kind: kind)
    }

    private func index(of name: String, operation: String) throws(NetworkError) -> Int32 {
        guard let link = try link(named: name) else { throw NetworkError(operation, errno: ENODEV) }
        return link.index
    }

    /// RTM_SETLINK on a link found by name.
    private func setLink(
        _ name: String, flags: UInt32 = 0, change: UInt32 = 0, operation: String,
        _ attributes: (inout NetlinkMessage) -> Void
    ) throws(NetworkError) {
        try Self.validate(name: name)
        let index = try index(of: name, operation: operation)
        var request = NetlinkMessage(type: NL.setLink, flags: NL.request | NL.ack)
        request.ifinfo(index: index, flags: flags, change: change)
        attributes(&request)
        try execute(request, operation: operation)
    }

    private func execute(_ request: NetlinkMessage, operation: String) throws(NetworkError) {
        _ = try transact(request, dump: false, operation: operation)
    }

    /// Sends one request and returns the replies to it: up to NLMSG_DONE for a dump, up to the
    /// ack otherwise. A non-zero error in either throws, with the kernel's message if it sent one.
    private func transact(_ request: NetlinkMessage, dump: Bool, operation: String) throws(NetworkError)
        -> [NetlinkReply]
    {
        // A dump that raced a change is marked inconsistent: take it again (a few times).
        for _ in 0..<4 {
            let replies = try transact(request, dump: dump, operation: operation, tolerating: nil) ?? []
            if !replies.contains(where: { $0.flags & NL.dumpInterrupted != 0 }) { return replies }
        }
        throw NetworkError("\(operation): the kernel's list kept changing while it was read")
    }

    /// The same, but nil when the kernel answered with the `tolerating` errno.
    private func transact(_ request: NetlinkMessage, dump: Bool, operation: String, tolerating: Int32?)
        throws(NetworkError) -> [NetlinkReply]?
    {
        sequence &+= 1
        if sequence == 0 { sequence = 1 }
        let bytes = request.encoded(sequence: sequence)
        var kernel = [UInt8](repeating: 0, count: 12)
        NetlinkMessage.store(UInt16(AF_NETLINK), into: &kernel, at: 0)
        while true {
            let sent = bytes.withUnsafeBytes { data in
                kernel.withUnsafeBytes { address in
                    sendto(
                        fd, data.baseAddress, data.count, 0,
                        address.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(12))
                }
            }
            if sent == bytes.count { break }
            if sent < 0 && errno == EINTR { continue }
            throw NetworkError("\(operation): send to netlink", errno: sent < 0 ? errno : EMSGSIZE)
        }
        var replies: [NetlinkReply] = []
        while true {
            for reply in try receive(operation: operation) where reply.sequence == sequence {
                if let (code, message) = reply.errorCode {
                    if code != 0 && code == tolerating { return nil }
                    if code != 0 {
                        var error = NetworkError(operation, errno: code)
                        if let message, !message.isEmpty { error.description += " (\(message))" }
                        throw error
                    }
                    // Success: the ack of a request, or NLMSG_DONE ending a dump.
                    if reply.type == NL.error || dump { return replies }
                } else {
                    replies.append(reply)
                    // A single reply without an ack would end here; we always ask for one.
                }
            }
        }
    }

    /// One datagram from the kernel, split into messages; stale replies are left to the caller.
    private func receive(operation: String) throws(NetworkError) -> [NetlinkReply] {
        while true {
            var from = [UInt8](repeating: 0, count: 12)
            var fromLength = socklen_t(12)
            let count = buffer.withUnsafeMutableBytes { data in
                from.withUnsafeMutableBytes { address in
                    recvfrom(
                        fd, data.baseAddress, data.count, Int32(MSG_TRUNC),
                        address.baseAddress!.assumingMemoryBound(to: sockaddr.self), &fromLength)
                }
            }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno == EAGAIN ? ETIMEDOUT : errno
                throw NetworkError("\(operation): receive from netlink", errno: code)
            }
            guard count <= buffer.count else {
                throw NetworkError("\(operation): a netlink reply of \(count) bytes did not fit the buffer")
            }
            // Only the kernel (port 0) answers; anything else on our port is ignored.
            guard from[...].netlinkLoad(UInt32.self, at: 4) == 0 else { continue }
            guard let replies = NetlinkReply.split(buffer[..<count]) else {
                throw NetworkError("\(operation): malformed netlink reply")
            }
            return replies
        }
    }
}
