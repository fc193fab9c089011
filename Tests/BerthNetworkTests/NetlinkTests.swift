import BerthSpec
import BerthTestSupport
import Foundation
import Testing

@testable import BerthNetwork

/// The rtnetlink client: names and message bytes without a kernel; links, addresses and routes
/// for real inside the sandbox's own network namespace (and a second one made by `unshare --net`),
/// each checked from outside with `ip -j` as well.
@Suite(.serialized) struct NetlinkTests {
    // MARK: Names

    @Test func interfaceNamesComeFromTheIDAndFit() {
        let id = "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
        #expect(Netlink.interfaceName(prefix: "vb", containerID: id) == "vb0123456789ab")
        #expect(Netlink.interfaceName(prefix: "berthvethx", containerID: id) == "berthvethx01234")
        #expect(Netlink.interfaceName(prefix: "vb", containerID: "abc") == "vbabc")
        for prefix in ["v", "vb", "berth-", "abcdefghijk"] {
            let name = Netlink.interfaceName(prefix: prefix, containerID: id)
            #expect(name.utf8.count <= 15)
            #expect(throws: Never.self) { try Netlink.validate(name: name) }
        }
    }

    @Test func namesTheKernelWouldRefuseOrMisreadAreRefused() throws {
        for good in ["eth0", "bt0", "vb0123456789abc", "br-x_1.2", "é"] {
            #expect(throws: Never.self) { try Netlink.validate(name: good) }
        }
        let bad: [(String, String)] = [
            ("", "empty"), ("vb0123456789abcd", "16 bytes"), (".", "not allowed"), ("..", "not allowed"),
            ("a/b", "\"/\""), ("a b", "whitespace"), ("a\tb", "whitespace"), ("a\nb", "whitespace"),
            ("eth0:1", "\":\""), ("eth%d", "\"%\""), ("a\u{1}b", "control"), ("ééééééééé", "18 bytes"),
        ]
        for (name, reason) in bad {
            let error = try #require(throws: NetworkError.self) { try Netlink.validate(name: name) }
            #expect(error.description.contains("invalid interface name \"\(name)\""), "\(error)")
            #expect(error.description.contains(reason), "\(error)")
        }
        // Every call that names a link checks it before the kernel sees it.
        let netlink = try Netlink()
        #expect(throws: NetworkError.self) { try netlink.createBridge("bad name", mtu: nil) }
        #expect(throws: NetworkError.self) { try netlink.deleteLink("../x") }
        #expect(throws: NetworkError.self) {
            try netlink.createVethPair("ok0", peer: "also/bad", peerNamespacePID: nil, mtu: nil)
        }
    }

    // MARK: Messages

    @Test func aBridgeRequestIsEncodedByteForByte() throws {
        let bytes = try Netlink.bridgeRequest("bt0").encoded(sequence: 7)
        #if _endian(little)
            let expected: [UInt8] = [
                56, 0, 0, 0, 16, 0, 0x05, 0x06, 7, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr: NEWLINK, REQUEST|ACK|EXCL|CREATE
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // ifinfomsg
                8, 0, 3, 0, 0x62, 0x74, 0x30, 0,  // IFLA_IFNAME "bt0\0"
                16, 0, 18, 0,  // IFLA_LINKINFO
                11, 0, 1, 0, 0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0, 0,  // IFLA_INFO_KIND "bridge\0", padded
            ]
            #expect(bytes == expected)
        #endif
        #expect(bytes.count % 4 == 0)
    }

    @Test func aHairpinRequestIsABridgeFamilySetLinkWithNestedPortInfo() throws {
        let bytes = Netlink.hairpinRequest(index: 9).encoded(sequence: 3)
        #if _endian(little)
            let expected: [UInt8] = [
                44, 0, 0, 0, 19, 0, 0x05, 0, 3, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr: SETLINK, REQUEST|ACK
                7, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // ifinfomsg: AF_BRIDGE, index 9
                12, 0, 12, 0x80,  // IFLA_PROTINFO | NLA_F_NESTED
                5, 0, 4, 0, 1, 0, 0, 0,  // IFLA_BRPORT_MODE 1 (hairpin), padded
            ]
            #expect(bytes == expected)
        #endif
    }

    @Test func aVethRequestPutsThePeerAndItsNamespaceInsideTheLinkInfo() throws {
        let bytes = Netlink.vethRequest("vb0", peer: "eth0", peerNamespacePID: 4242, mtu: 1450).encoded(sequence: 1)
        let message = try #require(NetlinkReply.split(bytes[...])?.first)
        #expect(message.type == NL.newLink && message.sequence == 1 && message.payload.count == bytes.count - 16)
        let top = NetlinkAttributes(message.payload[NL.ifinfoSize...])
        #expect(top.string(IFLA.ifname) == "vb0" && top.uint32(IFLA.mtu) == 1450)
        #expect(top.uint32(IFLA.netNSPID) == nil)  // the host end stays here
        let info = NetlinkAttributes(try #require(top[IFLA.linkinfo]))
        #expect(info.string(IFLA.infoKind) == "veth")
        let data = NetlinkAttributes(try #require(info[IFLA.infoData]))
        let peer = try #require(data[IFLA.vethPeer])
        let peerAttributes = NetlinkAttributes(peer[(peer.startIndex + NL.ifinfoSize)...])
        #expect(peerAttributes.string(IFLA.ifname) == "eth0" && peerAttributes.uint32(IFLA.mtu) == 1450)
        #expect(peerAttributes.uint32(IFLA.netNSPID) == 4242)
    }

    @Test func addressAndRouteRequests() throws {
        let v6 = Netlink.addressRequest(try #require(IPAddress("fd00:89::1")), prefixLength: 64, index: 5)
        let address = try #require(NetlinkReply.split(v6.encoded(sequence: 2)[...])?.first)
        // ifaddrmsg: AF_INET6, /64, IFA_F_NODAD, universe scope, index 5.
        #expect(Array(address.payload[0..<4]) == [10, 64, 2, 0])
        #expect(address.payload[...].netlinkLoad(UInt32.self, at: 4) == 5)
        let attributes = NetlinkAttributes(address.payload[NL.ifaddrSize...])
        #expect(attributes[IFA.local].map(Array.init) == [0xfd, 0, 0, 0x89] + [UInt8](repeating: 0, count: 11) + [1])
        let route = Netlink.defaultRouteRequest(via: try #require(IPAddress("10.90.0.1")), index: 3)
        let reply = try #require(NetlinkReply.split(route.encoded(sequence: 3)[...])?.first)
        // rtmsg: AF_INET, dst len 0, main table, boot protocol, universe scope, unicast.
        #expect(Array(reply.payload[0..<8]) == [2, 0, 0, 0, 254, 3, 0, 1])
        let routeAttributes = NetlinkAttributes(reply.payload[NL.rtmsgSize...])
        #expect(routeAttributes[RTA.gateway].map(Array.init) == [10, 90, 0, 1])
        #expect(routeAttributes.uint32(RTA.oif) == 3)
    }

    @Test func errorAcksAndLinkRepliesAreParsed() throws {
        // NLMSG_ERROR, capped with TLVs: -EEXIST, the request's header, NLMSGERR_ATTR_MSG.
        var ack = NetlinkMessage(type: NL.error, flags: 0x300)
        ack.append(Int32(-EEXIST))
        ack.append([UInt8](repeating: 0, count: 16))
        ack.attribute(NL.extAckMessage, "boom")
        var link = NetlinkMessage(type: NL.newLink, flags: NL.multi)
        link.ifinfo(index: 9, flags: 0x1043)
        link.attribute(IFLA.ifname, "bt0")
        link.attribute(IFLA.mtu, 1400)
        link.attribute(IFLA.master, 0)
        link.nested(IFLA.linkinfo) { $0.attribute(IFLA.infoKind, "bridge") }
        let datagram = link.encoded(sequence: 5) + ack.encoded(sequence: 5)
        let replies = try #require(NetlinkReply.split(datagram[...]))
        #expect(replies.count == 2)
        #expect(replies[0].errorCode == nil)
        let parsed = try #require(Netlink.parseLink(replies[0]))
        #expect(parsed == Netlink.Link(index: 9, name: "bt0", mtu: 1400, up: true, master: nil, kind: "bridge"))
        let error = try #require(replies[1].errorCode)
        #expect(error.code == EEXIST && error.message == "boom")
        // A length running past the datagram is refused, not read.
        var broken = datagram
        broken[0] = 200
        #expect(NetlinkReply.split(broken[...]) == nil)
    }

    // MARK: In the sandbox

    /// `ip -j ARGS` (in another namespace with `nsenter -t PID -n`), parsed.
    static func ip(_ arguments: [String], in pid: pid_t? = nil) throws -> [[String: Any]] {
        let result =
            if let pid {
                try Command.run("/usr/bin/nsenter", ["-t", "\(pid)", "-n", "/usr/sbin/ip", "-j"] + arguments)
            } else {
                try Command.run("/usr/sbin/ip", ["-j"] + arguments)
            }
        try #require(result.status == 0, "ip \(arguments): \(result.err)")
        let json = try JSONSerialization.jsonObject(with: Data(result.out.utf8))
        return try #require(json as? [[String: Any]], "ip \(arguments): \(result.out)")
    }

    static func names(in pid: pid_t? = nil) throws -> Set<String> {
        Set(try ip(["link", "show"], in: pid).compactMap { $0["ifname"] as? String })
    }

    /// A process in a network namespace of its own: `unshare --net sleep 60` (unshare execs
    /// sleep, so the PID is the sleeper's), returned once the namespace is in place.
    final class OtherNamespace {
        let process = Process()
        var pid: pid_t { process.processIdentifier }

        init() throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["--net", "/bin/sleep", "60"]
            try process.run()
            let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")
                if let theirs, theirs != ours { return }
                usleep(10_000)
            }
            kill()
            throw NetworkError("unshare --net did not make a namespace in 10 s")
        }

        func kill() {
            _ = Glibc.kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    @Test(.integration) func aBridgeWithAddressesAndVethPeersMadeInsideAnotherNamespace() throws {
        try Integration.check()
        try PrivateNetwork.run { try aBridgeWithAddressesAndVethPeersMadeInsideAnotherNamespaceHere() }
    }

    /// The body of aBridgeWithAddressesAndVethPeersMadeInsideAnotherNamespace, in a network namespace of its own.
    func aBridgeWithAddressesAndVethPeersMadeInsideAnotherNamespaceHere() throws {
        let netlink = try Netlink()
        for name in ["bt0", "vbt0", "vbt1"] { try netlink.deleteLink(name) }
        let other = try OtherNamespace()
        defer {
            for name in ["vbt0", "vbt1", "bt0"] { try? netlink.deleteLink(name) }
            other.kill()
        }

        try netlink.createBridge("bt0", mtu: 1400)
        let v4 = try #require(IPAddress("10.89.0.1"))
        let v6 = try #require(IPAddress("fd00:89::1"))
        try netlink.addAddress(v4, prefixLength: 24, to: "bt0")
        try netlink.addAddress(v6, prefixLength: 64, to: "bt0")
        try netlink.setUp("bt0")

        let bridge = try #require(try netlink.link(named: "bt0"))
        #expect(bridge.name == "bt0" && bridge.mtu == 1400 && bridge.up && bridge.kind == "bridge")
        #expect(bridge.master == nil)
        #expect(try netlink.links().filter { $0.name == "bt0" } == [bridge])
        #expect(try netlink.links().contains { $0.name == "lo" && $0.kind == nil })
        let addresses = try netlink.addresses(of: "bt0")
        #expect(addresses.contains { $0 == (v4, 24) } && addresses.contains { $0 == (v6, 64) }, "\(addresses)")

        // The same, seen by ip.
        let shown = try #require(try Self.ip(["-d", "link", "show", "bt0"]).first)
        #expect(shown["ifname"] as? String == "bt0" && shown["mtu"] as? Int == 1400)
        #expect(shown["ifindex"] as? Int == Int(bridge.index))
        #expect((shown["flags"] as? [String])?.contains("UP") == true)
        #expect((shown["linkinfo"] as? [String: Any])?["info_kind"] as? String == "bridge")
        let info = try #require(try Self.ip(["addr", "show", "dev", "bt0"]).first?["addr_info"] as? [[String: Any]])
        let seen = Set(info.compactMap { a in (a["local"] as? String).map { "\($0)/\(a["prefixlen"] ?? "")" } })
        #expect(seen.isSuperset(of: ["10.89.0.1/24", "fd00:89::1/64"]), "\(seen)")
        // No duplicate address detection: the gateway address is usable at once, not tentative.
        #expect(info.first { $0["local"] as? String == "fd00:89::1" }?["tentative"] == nil)

        // vbt0: default MTU, its peer eth0. vbt1: MTU 1400, its peer named bt0 like our bridge,
        // which only works because the peer is created over there, never here.
        try netlink.createVethPair("vbt0", peer: "eth0", peerNamespacePID: other.pid, mtu: nil)
        try netlink.createVethPair("vbt1", peer: "bt0", peerNamespacePID: other.pid, mtu: 1400)
        try netlink.setMaster("vbt0", bridge: "bt0")
        try netlink.setUp("vbt0")
        let host = try #require(try netlink.link(named: "vbt0"))
        #expect(host.master == bridge.index && host.up && host.kind == "veth" && host.mtu == 1500)
        #expect(try netlink.link(named: "vbt1")?.mtu == 1400)
        #expect(try Self.ip(["link", "show", "vbt0"]).first?["master"] as? String == "bt0")
        // A 1500-byte port does not raise the bridge's MTU: createBridge pinned it.
        #expect(try netlink.link(named: "bt0")?.mtu == 1400)
        #expect(try netlink.link(named: "bt0")?.kind == "bridge")

        #expect(try netlink.link(named: "eth0") == nil)
        #expect(try !Self.names().contains("eth0"))
        let theirs = try Self.ip(["-d", "link", "show"], in: other.pid)
        let eth0 = try #require(theirs.first { $0["ifname"] as? String == "eth0" })
        #expect((eth0["linkinfo"] as? [String: Any])?["info_kind"] as? String == "veth")
        #expect(eth0["mtu"] as? Int == 1500)
        let peer = try #require(theirs.first { $0["ifname"] as? String == "bt0" })
        #expect((peer["linkinfo"] as? [String: Any])?["info_kind"] as? String == "veth" && peer["mtu"] as? Int == 1400)

        // Deleting the host end takes the peer with it.
        try netlink.deleteLink("vbt0")
        try netlink.deleteLink("vbt1")
        #expect(try netlink.link(named: "vbt0") == nil && netlink.link(named: "vbt1") == nil)
        #expect(try Self.names(in: other.pid) == ["lo"])
        try netlink.deleteLink("bt0")
        #expect(try netlink.link(named: "bt0") == nil)
        #expect(try Command.run("/usr/sbin/ip", ["link", "show", "bt0"]).status != 0)
        #expect(try !netlink.links().contains { ["bt0", "vbt0", "vbt1"].contains($0.name) })
    }

    @Test(.integration) func aBridgeKeepsTheMTUItWasGivenEvenTheDefault() throws {
        try Integration.check()
        try PrivateNetwork.run { try aBridgeKeepsTheMTUItWasGivenEvenTheDefaultHere() }
    }

    /// The body of aBridgeKeepsTheMTUItWasGivenEvenTheDefault, in a network namespace of its own.
    func aBridgeKeepsTheMTUItWasGivenEvenTheDefaultHere() throws {
        let netlink = try Netlink()
        for name in ["bt8", "vp0"] { try netlink.deleteLink(name) }
        defer { for name in ["vp0", "bt8"] { try? netlink.deleteLink(name) } }
        try netlink.createBridge("bt8", mtu: 1500)
        try netlink.createVethPair("vp0", peer: "vp1", peerNamespacePID: nil, mtu: 9000)
        try netlink.setMaster("vp0", bridge: "bt8")
        #expect(try netlink.link(named: "bt8")?.mtu == 1500)
        #expect(try Self.ip(["link", "show", "bt8"]).first?["mtu"] as? Int == 1500)
    }

    @Test(.integration) func renameSetMTUAndMoveToAnotherNamespace() throws {
        try Integration.check()
        try PrivateNetwork.run { try renameSetMTUAndMoveToAnotherNamespaceHere() }
    }

    /// The body of renameSetMTUAndMoveToAnotherNamespace, in a network namespace of its own.
    func renameSetMTUAndMoveToAnotherNamespaceHere() throws {
        let netlink = try Netlink()
        for name in ["vx0", "vx1", "vx2"] { try netlink.deleteLink(name) }
        let other = try OtherNamespace()
        defer {
            for name in ["vx0", "vx1", "vx2"] { try? netlink.deleteLink(name) }
            other.kill()
        }

        try netlink.createVethPair("vx0", peer: "vx1", peerNamespacePID: nil, mtu: 1450)
        #expect(try netlink.link(named: "vx0")?.mtu == 1450 && netlink.link(named: "vx1")?.mtu == 1450)
        try netlink.setMTU("vx0", 1300)
        #expect(try netlink.link(named: "vx0")?.mtu == 1300)
        #expect(try Self.ip(["link", "show", "vx0"]).first?["mtu"] as? Int == 1300)
        let index = try #require(try netlink.link(named: "vx1")?.index)
        try netlink.rename("vx1", to: "vx2")
        #expect(try netlink.link(named: "vx1") == nil && netlink.link(named: "vx2")?.index == index)
        try netlink.moveToNamespace("vx2", pid: other.pid)
        #expect(try netlink.link(named: "vx2") == nil && !Self.names().contains("vx2"))
        #expect(try Self.names(in: other.pid).contains("vx2"))
        try netlink.deleteLink("vx0")
        #expect(try Self.names(in: other.pid) == ["lo"])
    }

    @Test(.integration) func theDefaultRoutesLinkGivesTheMTU() throws {
        try Integration.check()
        try PrivateNetwork.run { try theDefaultRoutesLinkGivesTheMTUHere() }
    }

    /// The body of theDefaultRoutesLinkGivesTheMTU, in a network namespace of its own.
    func theDefaultRoutesLinkGivesTheMTUHere() throws {
        let netlink = try Netlink()
        for name in ["bd0", "bd1"] { try netlink.deleteLink(name) }
        defer { try? netlink.deleteLink("bd0") }
        // The sandbox's namespace is new: no default route yet, unless someone else's test made one.
        let before = try Self.ip(["route", "show", "default"]).isEmpty
        if before { #expect(try netlink.defaultRouteMTU() == nil) }

        // A veth pair stands in for an uplink (this kernel has no dummy driver); both ends up so
        // it has a carrier.
        try netlink.createVethPair("bd0", peer: "bd1", peerNamespacePID: nil, mtu: 1450)
        try netlink.addAddress(try #require(IPAddress("10.90.0.2")), prefixLength: 24, to: "bd0")
        try netlink.setUp("bd0")
        try netlink.setUp("bd1")
        try netlink.addDefaultRoute(via: try #require(IPAddress("10.90.0.1")), link: "bd0")
        let routes = try Self.ip(["route", "show", "default"])
        #expect(routes.contains { $0["gateway"] as? String == "10.90.0.1" && $0["dev"] as? String == "bd0" })
        if before { #expect(try netlink.defaultRouteMTU() == 1450) }
        let duplicate = try #require(throws: NetworkError.self) {
            try netlink.addDefaultRoute(via: try #require(IPAddress("10.90.0.1")), link: "bd0")
        }
        #expect(duplicate.description.contains("File exists"), "\(duplicate)")

        try netlink.deleteLink("bd0")  // and with it bd1 and the route
        #expect(try netlink.link(named: "bd1") == nil)
        if before { #expect(try netlink.defaultRouteMTU() == nil) }
    }

    @Test(.integration) func errorsNameTheLinkAndTheKernelsReason() throws {
        try Integration.check()
        try PrivateNetwork.run { try errorsNameTheLinkAndTheKernelsReasonHere() }
    }

    /// The body of errorsNameTheLinkAndTheKernelsReason, in a network namespace of its own.
    func errorsNameTheLinkAndTheKernelsReasonHere() throws {
        let netlink = try Netlink()
        try netlink.deleteLink("bt9")
        defer { try? netlink.deleteLink("bt9") }

        try netlink.deleteLink("nosuch0")  // missing: fine
        try netlink.createBridge("bt9", mtu: nil)
        let duplicate = try #require(throws: NetworkError.self) { try netlink.createBridge("bt9", mtu: 1400) }
        #expect(duplicate.description.contains("bt9") && duplicate.description.contains("File exists"), "\(duplicate)")
        let missing = try #require(throws: NetworkError.self) { try netlink.setUp("nosuch0") }
        #expect(missing.description.contains("nosuch0") && missing.description.contains("No such device"))
        let master = try #require(throws: NetworkError.self) { try netlink.setMaster("bt9", bridge: "nosuch0") }
        #expect(master.description.contains("nosuch0"), "\(master)")
        let address = try #require(IPAddress("10.91.0.1"))
        try netlink.addAddress(address, prefixLength: 24, to: "bt9")
        let again = try #require(throws: NetworkError.self) {
            try netlink.addAddress(address, prefixLength: 24, to: "bt9")
        }
        #expect(again.description.contains("10.91.0.1/24") && again.description.contains("File exists"))
        #expect(throws: NetworkError.self) { try netlink.addAddress(address, prefixLength: 33, to: "bt9") }
        #expect(throws: NetworkError.self) { try netlink.setMTU("bt9", 10) }
        #expect(try netlink.link(named: "nosuch0") == nil)
    }
}
