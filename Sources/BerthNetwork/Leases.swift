import BerthSpec
import Foundation

/// Containers' addresses on the bridge, persisted so that they survive berth and a restart of
/// the container: ROOT/network/leases/A.B.C.D holds the id of the container that has it. A
/// lease is taken with O_EXCL under ROOT/network/lock, so two creates never get one address.
public struct Leases: Sendable {
    public let root: String
    public let config: NetworkConfig

    public init(root: String, config: NetworkConfig) {
        self.root = root
        self.config = config
    }

    var directory: String { root + "/network/leases" }

    /// The container's address: the one it already has, else the lowest free one.
    public func lease(_ id: String) throws(NetworkError) -> IPAddress {
        try withLock { () throws(NetworkError) -> IPAddress in
            if let existing = address(of: id) { return existing }
            let taken = Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            for n in config.hosts {
                let address = NetworkConfig.address(n)
                guard !taken.contains(address.description) else { continue }
                let fd = open(directory + "/" + address.description, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                guard fd >= 0 else { continue }
                let bytes = Array(id.utf8)
                let written = write(fd, bytes, bytes.count)
                fsync(fd)
                close(fd)
                guard written == bytes.count else {
                    unlink(directory + "/" + address.description)
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
            if let address = address(of: id) { unlink(directory + "/" + address.description) }
        }
    }

    /// Every lease: address → container id.
    public func all() -> [IPAddress: String] {
        var out: [IPAddress: String] = [:]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let address = IPAddress(name),
                let data = FileManager.default.contents(atPath: directory + "/" + name)
            else { continue }
            out[address] = String(decoding: data, as: UTF8.self)
        }
        return out
    }

    func address(of id: String) -> IPAddress? { all().first { $0.value == id }?.key }

    private func withLock<T>(_ body: () throws(NetworkError) -> T) throws(NetworkError) -> T {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw NetworkError("cannot create \(directory): \(error)")
        }
        let fd = open(root + "/network/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NetworkError("cannot open \(root)/network/lock", errno: errno) }
        defer { close(fd) }
        guard flock(fd, LOCK_EX) == 0 else { throw NetworkError("cannot lock \(root)/network/lock", errno: errno) }
        return try body()
    }
}
