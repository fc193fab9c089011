import BerthSpec

/// berth's bridge network: the bridge's name, its IPv4 subnet and the gateway (the bridge's own
/// address, the subnet's first). The subnet is 10.77.0.0/16 unless BERTH_BRIDGE_SUBNET says
/// otherwise ("10.123.0.0/24"): not Docker's 172.17/16 nor Podman's 10.88/16 and 10.89.x/24, so
/// berth can live beside either on one host.
public struct NetworkConfig: Sendable, Equatable {
    public var bridge = "berth0"
    /// The network address, in host byte order, and the prefix length.
    public var network: UInt32
    public var prefixLength: UInt8
    /// Host-wide network state (leases): BERTH_NETWORK_STATE, else /run/berth/network.
    public var stateDirectory = "/run/berth/network"

    public static let defaultSubnet = "10.77.0.0/16"

    public init(subnet: String = NetworkConfig.defaultSubnet) throws(NetworkError) {
        let parts = subnet.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let address = IPAddress(parts[0]), case .v4(let bytes) = address,
            let length = UInt8(parts[1]), (8...30).contains(length)
        else { throw NetworkError("invalid bridge subnet \(subnet): expected an IPv4 A.B.C.D/LEN, LEN 8 to 30") }
        prefixLength = length
        network = Self.number(bytes) & Self.mask(length)
    }

    public init(environment: [String: String]) throws(NetworkError) {
        try self.init(
            subnet: environment["BERTH_BRIDGE_SUBNET"].flatMap { $0.isEmpty ? nil : $0 } ?? Self.defaultSubnet)
        if let state = environment["BERTH_NETWORK_STATE"], !state.isEmpty { stateDirectory = state }
    }

    public var gateway: IPAddress { Self.address(network + 1) }
    public var subnet: String { "\(Self.address(network))/\(prefixLength)" }
    /// Addresses containers may lease: after the gateway, before the broadcast address.
    var hosts: ClosedRange<UInt32> { (network + 2)...(network | ~Self.mask(prefixLength)) - 1 }

    static func mask(_ length: UInt8) -> UInt32 { length == 0 ? 0 : ~UInt32(0) << (32 - UInt32(length)) }
    static func number(_ b: [UInt8]) -> UInt32 {
        UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }
    static func address(_ n: UInt32) -> IPAddress {
        .v4([UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)])
    }
}
