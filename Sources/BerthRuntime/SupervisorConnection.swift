#if canImport(Glibc)
    import Glibc
#endif

/// A connection to a container's supervisor (Sources/berth-supervisor/message.h): one
/// SOCK_SEQPACKET packet per message, file descriptors passed with SCM_RIGHTS.
public final class SupervisorConnection {
    public let fd: Int32

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Connects to ROOT/containers/ID/attach.sock, through /proc/self/fd so that a long root
    /// never overflows sun_path.
    public static func connect(_ layout: ContainerLayout) throws(RuntimeError) -> SupervisorConnection {
        let dir = open(layout.directory, 0o10000000 | O_DIRECTORY | O_CLOEXEC)  // O_PATH, not imported
        guard dir >= 0 else { throw RuntimeError(125, "cannot open \(layout.directory): \(errnoText())") }
        defer { close(dir) }
        let sock = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard sock >= 0 else { throw RuntimeError(125, "socket: \(errnoText())") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array("/proc/self/fd/\(dir)/attach.sock".utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.enumerated() { raw[i] = byte }
        }
        let r = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard r == 0 else {
            let why = errnoText()
            close(sock)
            throw RuntimeError(125, "cannot reach the container's supervisor: \(why)")
        }
        return SupervisorConnection(fd: sock)
    }

    /// A connected pair: ours, and the end the supervisor gets at spawn (fd 5).
    static func pair() throws(RuntimeError) -> (SupervisorConnection, Int32) {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw RuntimeError(125, "socketpair: \(errnoText())")
        }
        return (SupervisorConnection(fd: fds[0]), fds[1])
    }

    private static let headerSize = MemoryLayout<cmsghdr>.size
    private static func align(_ n: Int) -> Int { (n + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1) }

    public func send(_ bytes: [UInt8], fds: [Int32] = []) throws(RuntimeError) {
        let controlSize = fds.isEmpty ? 0 : Self.headerSize + Self.align(fds.count * 4)
        var control = [UInt8](repeating: 0, count: controlSize)
        var payload = bytes
        let r = payload.withUnsafeMutableBytes { data -> Int in
            control.withUnsafeMutableBytes { controlBytes -> Int in
                if !fds.isEmpty {
                    let header = controlBytes.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                    header.pointee.cmsg_len = Int(Self.headerSize + fds.count * 4)
                    header.pointee.cmsg_level = SOL_SOCKET
                    header.pointee.cmsg_type = Int32(SCM_RIGHTS)
                    for (i, fd) in fds.enumerated() {
                        controlBytes.storeBytes(of: fd, toByteOffset: Self.headerSize + 4 * i, as: Int32.self)
                    }
                }
                var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    if !fds.isEmpty {
                        message.msg_control = controlBytes.baseAddress
                        message.msg_controllen = controlBytes.count
                    }
                    var n: Int
                    repeat { n = sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) } while n < 0 && errno == EINTR
                    return n
                }
            }
        }
        guard r >= 0 else { throw RuntimeError(125, "cannot talk to the container's supervisor: \(errnoText())") }
    }

    public func send(_ text: String) throws(RuntimeError) { try send(Array(text.utf8)) }

    /// The next message and the fds it carried; nil when the supervisor closed the connection.
    public func receive() throws(RuntimeError) -> (text: String, fds: [Int32])? {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let controlSize = Self.headerSize + Self.align(3 * 4)
        var control = [UInt8](repeating: 0, count: controlSize)
        var received: [Int32] = []
        let n = buffer.withUnsafeMutableBytes { data -> Int in
            control.withUnsafeMutableBytes { controlBytes -> Int in
                var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlBytes.baseAddress
                    message.msg_controllen = controlBytes.count
                    var n: Int
                    repeat { n = recvmsg(fd, &message, Int32(MSG_CMSG_CLOEXEC)) } while n < 0 && errno == EINTR
                    if n >= 0 && message.msg_controllen >= Self.headerSize {
                        let header = controlBytes.baseAddress!.assumingMemoryBound(to: cmsghdr.self)
                        if header.pointee.cmsg_level == SOL_SOCKET && header.pointee.cmsg_type == Int32(SCM_RIGHTS) {
                            let count = (Int(header.pointee.cmsg_len) - Self.headerSize) / 4
                            for i in 0..<count {
                                received.append(
                                    controlBytes.load(fromByteOffset: Self.headerSize + 4 * i, as: Int32.self))
                            }
                        }
                    }
                    return n
                }
            }
        }
        guard n >= 0 else { throw RuntimeError(125, "lost the container's supervisor: \(errnoText())") }
        if n == 0 { return nil }
        return (String(decoding: buffer[0..<n], as: UTF8.self), received)
    }

    /// The first message of an attach: which of our stdio follow, and our terminal's size.
    public func attach(stdin: Bool, stdout: Bool, stderr: Bool, stdinOnce: Bool, size: TerminalSize?)
        throws(RuntimeError)
    {
        try attach(
            stdin: stdin ? 0 : nil, stdout: stdout ? 1 : nil, stderr: stderr ? 2 : nil, stdinOnce: stdinOnce, size: size
        )
    }

    /// The same, with the descriptors to pass (nil: that stream is not attached).
    public func attach(stdin: Int32?, stdout: Int32?, stderr: Int32?, stdinOnce: Bool, size: TerminalSize?)
        throws(RuntimeError)
    {
        let fds = [stdin, stdout, stderr].compactMap { $0 }
        let flags = [stdin != nil, stdout != nil, stderr != nil, stdinOnce].map { $0 ? "1" : "0" }
            .joined(separator: " ")
        try send(Array("attach \(flags) \(size?.rows ?? 0) \(size?.columns ?? 0)".utf8), fds: fds)
    }
}

public struct TerminalSize: Sendable, Equatable {
    public var rows: UInt16
    public var columns: UInt16

    public init(rows: UInt16, columns: UInt16) {
        self.rows = rows
        self.columns = columns
    }
}

/// How a supervisor answered: the process ended, could not start, or let the client go.
public enum SupervisorReply: Equatable {
    case pid(Int32)
    case terminal(Int32)
    case exit(Int32)
    case error(Int32, String)
    case detached
    /// A mount or umount request was done.
    case ok
    case closed

    public init(_ message: (text: String, fds: [Int32])?) {
        guard let (text, fds) = message else {
            self = .closed
            return
        }
        let words = text.split(separator: " ", maxSplits: 2).map(String.init)
        switch words.first {
        case "pid": self = .pid(Int32(words.count > 1 ? words[1] : "") ?? 0)
        case "tty" where fds.count == 1: self = .terminal(fds[0])
        case "exit": self = .exit(Int32(words.count > 1 ? words[1] : "") ?? 125)
        case "error":
            self = .error(Int32(words.count > 1 ? words[1] : "") ?? 125, words.count > 2 ? words[2] : "failed")
        case "detached": self = .detached
        case "ok": self = .ok
        default:
            for fd in fds { close(fd) }
            self = .error(125, "unexpected message from the supervisor: \(text)")
        }
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }
