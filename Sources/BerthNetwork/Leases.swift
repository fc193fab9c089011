import BerthSpec
import Foundation

/// Containers' addresses on the bridge. The bridge and its subnet belong to the network
/// namespace, not to one berth root, so leases live beside them in a host-wide directory
/// (NetworkConfig.stateDirectory, /run/berth/network): DIR/leases/A.B.C.D holds the directory of
/// the container that has it (ROOT/containers/ID), so two roots on one host never share an
/// address and a lease whose container is gone can be told by anyone. A lease is taken with
/// O_EXCL under DIR/lock, so two creates never get one address. /run does not outlive a reboot,
/// nor do containers' namespaces: a container started again takes its recorded address back
/// when it is free (`lease(_:owner:preferred:)`).
public struct Leases: Sendable {
    public let directory: String
    public let config: NetworkConfig

    public init(directory: String, config: NetworkConfig) {
        self.directory = directory
        self.config = config
    }

    var leaseDirectory: String { directory + "/leases" }

    /// The container's address: the one it already has, else `preferred` when it is free and in
    /// the subnet, else the lowest free one. `owner` is the container's directory.
    public func lease(_ id: String, owner: String? = nil, preferred: IPAddress? = nil) throws(NetworkError)
        -> IPAddress
    {
        try withLock { () throws(NetworkError) -> IPAddress in
            if let existing = address(of: id) { return existing }
            var candidates: [IPAddress] = []
            if let preferred, case .v4(let bytes) = preferred, config.hosts.contains(NetworkConfig.number(bytes)) {
                candidates.append(preferred)
            }
            let taken = Set((try? FileManager.default.contentsOfDirectory(atPath: leaseDirectory)) ?? [])
            for address in candidates + config.hosts.lazy.map(NetworkConfig.address) {
                guard !taken.contains(address.description) else { continue }
                let path = leaseDirectory + "/" + address.description
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard fd >= 0 else { continue }
                let bytes = Array((owner ?? id).utf8)
                let written = write(fd, bytes, bytes.count)
                fsync(fd)
                close(fd)
                guard written == bytes.count else {
                    unlink(path)
                    throw NetworkError("cannot record the lease of \(address)", errno: errno)
                }
                return address
            }
            throw NetworkError("no free address left in \(config.subnet)")
        }
    }

    /// Gives the container's address back (nothing when it has none).
    public func release(_ id: String) {
        try? withLock { () throws(NetworkError) in
            if let address = address(of: id) { unlink(leaseDirectory + "/" + address.description) }
        }
    }

    /// Every lease: address → its owner (the container's directory, or its bare id).
    public func all() -> [IPAddress: String] {
        var out: [IPAddress: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: leaseDirectory)) ?? [] {
            guard let address = IPAddress(name),
                let data = FileManager.default.contents(atPath: leaseDirectory + "/" + name)
            else { continue }
            out[address] = String(decoding: data, as: UTF8.self)
        }
        return out
    }

    /// The container id of an owner: the last component of its directory.
    public static func id(ofOwner owner: String) -> String {
        owner.split(separator: "/").last.map(String.init) ?? owner
    }

    func address(of id: String) -> IPAddress? { all().first { Self.id(ofOwner: $0.value) == id }?.key }

    func withLock<T>(_ body: () throws(NetworkError) -> T) throws(NetworkError) -> T {
        do {
            try FileManager.default.createDirectory(atPath: leaseDirectory, withIntermediateDirectories: true)
        } catch {
            throw NetworkError("cannot create \(leaseDirectory): \(error)")
        }
        let fd = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NetworkError("cannot open \(directory)/lock", errno: errno) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw NetworkError("cannot lock \(directory)/lock", errno: errno) }
        return try body()
    }
}
