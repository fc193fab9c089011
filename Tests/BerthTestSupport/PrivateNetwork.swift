import Foundation

/// A network namespace of its own for one test, so that tests which replace berth's nftables
/// table, set net sysctls or make links do not disturb the containers other suites run at the
/// same time in the sandbox's namespace. Network namespaces belong to threads: `run` moves the
/// calling thread into a new one (loopback up), runs `body` there (a synchronous body stays on
/// its thread; sockets it opens and processes it spawns belong to the new namespace), and moves
/// the thread back.
public enum PrivateNetwork {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static func run<T>(_ body: () throws -> T) throws -> T {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw Failure(description: "cannot open this thread's network namespace") }
        defer { close(original) }
        let newNet: Int32 = 0x4000_0000  // CLONE_NEWNET
        guard let unshare = libc("unshare", as: UnshareFunction.self),
            let setns = libc("setns", as: SetnsFunction.self)
        else { throw Failure(description: "unshare and setns are not in this libc") }
        guard unshare(newNet) == 0 else {
            throw Failure(description: "unshare(CLONE_NEWNET): \(String(cString: strerror(errno)))")
        }
        defer {
            // A thread left in the test's namespace would put later tests there: stop here instead.
            precondition(setns(original, newNet) == 0, "cannot return to the original network namespace")
        }
        try loopbackUp()
        return try body()
    }

    typealias UnshareFunction = @convention(c) (Int32) -> Int32
    typealias SetnsFunction = @convention(c) (Int32, Int32) -> Int32

    /// Glibc declares unshare and setns only under _GNU_SOURCE, which Swift's Glibc module lacks.
    static func libc<F>(_ name: String, as type: F.Type) -> F? {
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }

    /// SIOCGIFFLAGS then SIOCSIFFLAGS with IFF_UP, on "lo", through a struct ifreq as raw bytes
    /// (name[16], then the union whose first member here is short ifr_flags).
    static func loopbackUp() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var request = [UInt8](repeating: 0, count: 40)
        for (i, byte) in "lo".utf8.enumerated() { request[i] = byte }
        let ok = request.withUnsafeMutableBytes { raw -> Bool in
            guard ioctl(fd, 0x8913, raw.baseAddress!) == 0 else { return false }
            let flags = raw.load(fromByteOffset: 16, as: UInt16.self) | UInt16(IFF_UP)
            raw.storeBytes(of: flags, toByteOffset: 16, as: UInt16.self)
            return ioctl(fd, 0x8914, raw.baseAddress!) == 0
        }
        guard ok else { throw Failure(description: "cannot set lo up: \(String(cString: strerror(errno)))") }
    }
}
