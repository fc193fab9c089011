import Foundation

/// Plain IPv4 sockets for the network tests, with timeouts so a broken path fails a test instead
/// of hanging it.
public enum TestSockets {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        init(_ what: String) { description = "\(what): \(String(cString: strerror(errno)))" }
    }

    public static func address(_ ip: String, _ port: UInt16) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        inet_pton(AF_INET, ip, &a.sin_addr)
        return a
    }

    public static func withSockaddr<T>(_ a: sockaddr_in, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var a = a
        return withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    public static func setTimeout(_ fd: Int32, seconds: Int) {
        var t = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &t, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Whatever arrives within the timeout (one read), or nil.
    public static func receive(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
    }
}

/// A TCP connection kept open across the test's steps.
public final class TCPConnection {
    public let fd: Int32

    public init(_ ip: String, _ port: UInt16, timeout: Int = 2) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSockets.Failure("socket") }
        TestSockets.setTimeout(fd, seconds: timeout)
        let connected = TestSockets.withSockaddr(TestSockets.address(ip, port)) { connect(fd, $0, $1) }
        guard connected == 0 else {
            let failure = TestSockets.Failure("connect \(ip):\(port)")
            close(fd)
            throw failure
        }
    }

    deinit { close(fd) }

    /// Sends `text` and returns what comes back within the timeout.
    public func exchange(_ text: String) -> String? {
        let bytes = Array(text.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { return nil }
        return TestSockets.receive(fd)
    }
}

/// A UDP socket on one source port, so every datagram it sends belongs to the same conntrack
/// entry: the case where a stale entry would keep the old path.
public final class UDPSocket {
    public let fd: Int32

    public init(timeout: Int = 1) throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSockets.Failure("socket") }
        TestSockets.setTimeout(fd, seconds: timeout)
    }

    deinit { close(fd) }

    /// One datagram to ip:port and the first reply, or nil when none comes within the timeout.
    public func exchange(_ text: String, _ ip: String, _ port: UInt16) -> String? {
        let bytes = Array(text.utf8)
        let sent = TestSockets.withSockaddr(TestSockets.address(ip, port)) { sendto(fd, bytes, bytes.count, 0, $0, $1) }
        guard sent == bytes.count else { return nil }
        return TestSockets.receive(fd)
    }
}

/// A TCP listener on the host (the sandbox) that never accepts: `wasReached` tells whether a
/// connection completed its handshake with it.
public final class TCPListener {
    public let fd: Int32

    public init(_ ip: String, _ port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSockets.Failure("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = TestSockets.withSockaddr(TestSockets.address(ip, port)) { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 8) == 0 else {
            let failure = TestSockets.Failure("listen on \(ip):\(port)")
            close(fd)
            throw failure
        }
    }

    deinit { close(fd) }

    public var wasReached: Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, 0) == 1
    }
}
