import BerthSpec
import CConntrack

#if canImport(Glibc)
    import Glibc
#endif

/// Conntrack entries of the caller's network namespace, through libnetfilter_conntrack.
public enum Conntrack {
    // IANA protocol numbers: Glibc's IPPROTO_* do not import with one type everywhere.
    static let ipprotoTCP: UInt8 = 6
    static let ipprotoUDP: UInt8 = 17

    /// Deletes the IPv4 entries whose original destination port is in
    /// `destinationPort ..< destinationPort + count` (the host side of a map; an entry keeps its
    /// NAT for as long as it lives, so a removed or changed map leaves such entries sending to the
    /// old container port, udp above all), and whose original destination address is
    /// `originalDestination` when given (nil or 0.0.0.0: any). Returns how many were deleted;
    /// entries that ended between the dump and the delete are not counted.
    public static func deleteEntries(
        proto: TransportProtocol, destinationPort: UInt16, count: UInt16, originalDestination: IPAddress?
    ) throws(NetworkError) -> Int {
        guard count >= 1, Int(destinationPort) + Int(count) - 1 <= 65535 else {
            throw NetworkError("conntrack: port range \(destinationPort) x\(count) is out of bounds")
        }
        let collector = Collector(
            proto: proto == .tcp ? ipprotoTCP : ipprotoUDP, ports: destinationPort...(destinationPort + (count - 1)))
        if let address = originalDestination, !address.isUnspecified {
            guard case .v4(let bytes) = address else {
                throw NetworkError("conntrack: IPv6 entries are left out for now")
            }
            // As the library returns it: network byte order, i.e. the bytes in memory order.
            collector.address = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
        }

        guard let handle = nfct_open(UInt8(CONNTRACK), 0) else {
            throw NetworkError("conntrack: nfct_open", errno: errno)
        }
        defer { nfct_close(handle) }

        let data = Unmanaged.passUnretained(collector).toOpaque()
        guard nfct_callback_register(handle, NFCT_T_ALL, collect, data) == 0 else {
            throw NetworkError("conntrack: nfct_callback_register", errno: errno)
        }
        var family = UInt32(AF_INET)
        let dumped = withExtendedLifetime(collector) { nfct_query(handle, NFCT_Q_DUMP, &family) }
        let dumpErrno = errno
        nfct_callback_unregister(handle)
        defer { for entry in collector.matches { nfct_destroy(entry) } }
        guard dumped == 0 else { throw NetworkError("conntrack: dump", errno: dumpErrno) }

        var deleted = 0
        var failure: Int32 = 0
        for entry in collector.matches {
            if nfct_query(handle, NFCT_Q_DESTROY, UnsafeRawPointer(entry)) == 0 {
                deleted += 1
            } else if errno != ENOENT {
                failure = errno
            }
        }
        if failure != 0 { throw NetworkError("conntrack: delete (\(deleted) deleted)", errno: failure) }
        return deleted
    }

    /// What the dump callback matches, and the copies of the entries it kept.
    private final class Collector {
        let proto: UInt8
        let ports: ClosedRange<UInt16>
        var address: UInt32?
        var matches: [OpaquePointer] = []

        init(proto: UInt8, ports: ClosedRange<UInt16>) {
            self.proto = proto
            self.ports = ports
        }
    }

    /// Called for every entry of the dump; the library frees `ct` after it returns, so a match is
    /// cloned.
    private static let collect:
        @convention(c) (nf_conntrack_msg_type, OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = {
            _, ct, data in
            guard let ct, let data else { return Int32(NFCT_CB_CONTINUE) }
            let collector = Unmanaged<Collector>.fromOpaque(data).takeUnretainedValue()
            guard nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO) == UInt8(AF_INET),
                nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) == collector.proto,
                collector.ports.contains(UInt16(bigEndian: nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)))
            else { return Int32(NFCT_CB_CONTINUE) }
            if let address = collector.address, nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST) != address {
                return Int32(NFCT_CB_CONTINUE)
            }
            if let copy = nfct_clone(ct) { collector.matches.append(copy) }
            return Int32(NFCT_CB_CONTINUE)
        }
}
