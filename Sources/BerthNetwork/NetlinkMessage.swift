// rtnetlink's wire format: messages, family headers and attributes, in host byte order.
// The kernel's constants are C macros, which Swift does not import, so they are spelled out here
// (values from linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/veth.h).

/// Netlink and rtnetlink constants (only those berth uses).
enum NL {
    // Message types.
    static let error: UInt16 = 2  // NLMSG_ERROR
    static let done: UInt16 = 3  // NLMSG_DONE
    static let newLink: UInt16 = 16  // RTM_NEWLINK
    static let delLink: UInt16 = 17  // RTM_DELLINK
    static let getLink: UInt16 = 18  // RTM_GETLINK
    static let setLink: UInt16 = 19  // RTM_SETLINK
    static let newAddr: UInt16 = 20  // RTM_NEWADDR
    static let getAddr: UInt16 = 22  // RTM_GETADDR
    static let newRoute: UInt16 = 24  // RTM_NEWROUTE
    static let getRoute: UInt16 = 26  // RTM_GETROUTE

    // nlmsg_flags.
    static let request: UInt16 = 0x1  // NLM_F_REQUEST
    static let multi: UInt16 = 0x2  // NLM_F_MULTI
    static let dumpInterrupted: UInt16 = 0x10  // NLM_F_DUMP_INTR: the set changed during the dump
    static let ack: UInt16 = 0x4  // NLM_F_ACK
    static let dump: UInt16 = 0x300  // NLM_F_ROOT | NLM_F_MATCH
    static let excl: UInt16 = 0x200  // NLM_F_EXCL (on a new-request)
    static let create: UInt16 = 0x400  // NLM_F_CREATE
    static let ackTLVs: UInt16 = 0x200  // NLM_F_ACK_TLVS (on an NLMSG_ERROR reply)

    // Socket options (SOL_NETLINK).
    static let solNetlink: Int32 = 270
    static let capAck: Int32 = 10  // NETLINK_CAP_ACK: acks do not echo the whole request
    static let extAck: Int32 = 11  // NETLINK_EXT_ACK: acks may carry the kernel's message
    static let protocolRoute: Int32 = 0  // NETLINK_ROUTE
    static let extAckMessage: UInt16 = 1  // NLMSGERR_ATTR_MSG

    static let headerSize = 16  // struct nlmsghdr
    static let ifinfoSize = 16  // struct ifinfomsg
    static let ifaddrSize = 8  // struct ifaddrmsg
    static let rtmsgSize = 12  // struct rtmsg
}

/// IFLA_* (link attributes) and the nested IFLA_INFO_* / VETH_INFO_*.
enum IFLA {
    static let address: UInt16 = 1
    static let ifname: UInt16 = 3
    static let mtu: UInt16 = 4
    static let master: UInt16 = 10
    static let linkinfo: UInt16 = 18
    static let netNSPID: UInt16 = 19
    static let infoKind: UInt16 = 1
    static let infoData: UInt16 = 2
    static let vethPeer: UInt16 = 1
    static let protinfo: UInt16 = 12
    static let brportMode: UInt16 = 4  // IFLA_BRPORT_MODE, inside IFLA_PROTINFO: hairpin
    static let nestedFlag: UInt16 = 0x8000  // NLA_F_NESTED: br_setlink reads PROTINFO as nested only with it
    static let flagUp: UInt32 = 0x1  // IFF_UP
}

/// IFA_* (address attributes) and ifa_flags.
enum IFA {
    static let address: UInt16 = 1
    static let local: UInt16 = 2
    static let flags: UInt16 = 8
    static let noDAD: UInt8 = 0x02  // IFA_F_NODAD
}

/// RTA_* (route attributes) and rtmsg values.
enum RTA {
    static let dst: UInt16 = 1
    static let oif: UInt16 = 4
    static let gateway: UInt16 = 5
    static let priority: UInt16 = 6
    static let multipath: UInt16 = 9
    static let table: UInt16 = 15
    static let tableMain: UInt32 = 254  // RT_TABLE_MAIN
    static let protoBoot: UInt8 = 3  // RTPROT_BOOT, as `ip route add` uses
    static let scopeUniverse: UInt8 = 0
    static let unicast: UInt8 = 1  // RTN_UNICAST
}

/// AF_* values as the one byte the family headers carry.
enum NLFamily {
    static let unspec: UInt8 = 0
    static let inet: UInt8 = 2
    static let inet6: UInt8 = 10
    static let bridge: UInt8 = 7  // AF_BRIDGE
}

/// Builds one netlink message: a header, a family header and attributes, each padded to 4 bytes.
struct NetlinkMessage {
    private(set) var bytes: [UInt8]

    init(type: UInt16, flags: UInt16) {
        bytes = []
        append(UInt32(0))  // nlmsg_len, patched by encoded(sequence:)
        append(type)
        append(flags)
        append(UInt32(0))  // nlmsg_seq
        append(UInt32(0))  // nlmsg_pid: 0, the kernel fills in our port
    }

    /// The message as sent, with its length and sequence number in place.
    func encoded(sequence: UInt32) -> [UInt8] {
        var out = bytes
        Self.store(UInt32(out.count), into: &out, at: 0)
        Self.store(sequence, into: &out, at: 8)
        return out
    }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }

    /// struct ifinfomsg: family, pad, type, index, flags, change.
    mutating func ifinfo(index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0, family: UInt8 = NLFamily.unspec) {
        append(family)
        append(UInt8(0))
        append(UInt16(0))
        append(index)
        append(flags)
        append(change)
    }

    mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        append(UInt16(4 + payload.count))
        append(type)
        append(payload)
        pad()
    }

    mutating func attribute(_ type: UInt16, _ value: UInt32) {
        attribute(type, withUnsafeBytes(of: value) { Array($0) })
    }

    /// A string attribute, NUL-terminated as the kernel's NLA_STRING/NLA_NUL_STRING policies accept.
    mutating func attribute(_ type: UInt16, _ value: String) {
        attribute(type, Array(value.utf8) + [0])
    }

    /// A nested attribute: whatever `body` appends is inside it.
    mutating func nested(_ type: UInt16, _ body: (inout NetlinkMessage) -> Void) {
        let start = bytes.count
        append(UInt16(0))
        append(type)
        body(&self)
        Self.store(UInt16(bytes.count - start), into: &bytes, at: start)
        pad()
    }

    static func store<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: value) { raw in
            for (i, byte) in raw.enumerated() { bytes[offset + i] = byte }
        }
    }
}

/// One message received from the kernel.
struct NetlinkReply {
    var type: UInt16
    var flags: UInt16
    var sequence: UInt32
    /// Everything after the 16-byte header.
    var payload: [UInt8]

    /// Splits one datagram into its messages; nil when a length is malformed.
    static func split(_ datagram: ArraySlice<UInt8>) -> [NetlinkReply]? {
        var replies: [NetlinkReply] = []
        var offset = datagram.startIndex
        while datagram.endIndex - offset >= NL.headerSize {
            let length = Int(datagram.netlinkLoad(UInt32.self, at: offset))
            guard length >= NL.headerSize, length <= datagram.endIndex - offset else { return nil }
            replies.append(
                NetlinkReply(
                    type: datagram.netlinkLoad(UInt16.self, at: offset + 4),
                    flags: datagram.netlinkLoad(UInt16.self, at: offset + 6),
                    sequence: datagram.netlinkLoad(UInt32.self, at: offset + 8),
                    payload: Array(datagram[(offset + NL.headerSize)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
        return replies
    }

    /// For NLMSG_ERROR: the errno (0 for an ack) and the kernel's extended-ack message, if any.
    var errorCode: (code: Int32, message: String?)? {
        guard type == NL.error || type == NL.done, payload.count >= 4 else { return nil }
        let code = -payload[...].netlinkLoad(Int32.self, at: 0)
        guard type == NL.error, flags & NL.ackTLVs != 0 else { return (code, nil) }
        // With NETLINK_CAP_ACK the echoed request is its header alone (a success ack never
        // echoes more than that either), so the TLVs follow error + nlmsghdr.
        let start = 4 + NL.headerSize
        guard payload.count > start else { return (code, nil) }
        let attrs = NetlinkAttributes(payload[start...])
        return (code, attrs[NL.extAckMessage].map { NetlinkAttributes.string($0) })
    }
}

/// The attributes in a payload, by type (the nested and byte-order flags masked off).
struct NetlinkAttributes {
    private var values: [UInt16: ArraySlice<UInt8>] = [:]

    init(_ bytes: ArraySlice<UInt8>) {
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 4 {
            let length = Int(bytes.netlinkLoad(UInt16.self, at: offset))
            let type = bytes.netlinkLoad(UInt16.self, at: offset + 2) & 0x3FFF
            guard length >= 4, length <= bytes.endIndex - offset else { break }
            values[type] = bytes[(offset + 4)..<(offset + length)]
            offset += (length + 3) & ~3
        }
    }

    subscript(type: UInt16) -> ArraySlice<UInt8>? { values[type] }

    func uint32(_ type: UInt16) -> UInt32? {
        guard let value = values[type], value.count >= 4 else { return nil }
        return value.netlinkLoad(UInt32.self, at: value.startIndex)
    }

    func string(_ type: UInt16) -> String? { values[type].map { Self.string($0) } }

    static func string(_ bytes: ArraySlice<UInt8>) -> String {
        String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

extension ArraySlice<UInt8> {
    /// An integer at an absolute index, in host byte order; the caller checked the bounds.
    func netlinkLoad<T: FixedWidthInteger>(_: T.Type, at index: Int) -> T {
        precondition(index >= startIndex && index + MemoryLayout<T>.size <= endIndex)
        return withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index - startIndex, as: T.self) }
    }
}
