import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the CLI asks berthd over its socket (`/run/berth/berthd.sock`): one JSON line, one
/// JSON reply, then the connection closes.
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable { case apply, status, stop, start, restart, remove }
    public var command: Command
    /// `apply`'s names (empty for every spec); the containers (names or IDs) of the others.
    public var names: [String] = []
    public var forceRecreate = false
    public var noRecreate = false
    /// `remove`: a running container too (`rm -f`).
    public var force = false

    public init(command: Command, names: [String] = [], forceRecreate: Bool = false, noRecreate: Bool = false) {
        self.command = command
        self.names = names
        self.forceRecreate = forceRecreate
        self.noRecreate = noRecreate
    }
}

public struct ControlReply: Codable, Sendable, Equatable {
    /// `apply`: what was done for each name acted on, or why not.
    public var outcomes: [Outcome] = []
    /// `status`.
    public var status: [StatusRow] = []
    /// Problems in the spec files, located (file:line:col: path: message).
    public var diagnostics: [String] = []
    public var error: String?
    /// `apply`: how long berthd's pass took (read, observe, plan, dispatch), in microseconds.
    public var passMicroseconds: Int?

    public init(outcomes: [Outcome] = [], status: [StatusRow] = [], diagnostics: [String] = [], error: String? = nil) {
        self.outcomes = outcomes
        self.status = status
        self.diagnostics = diagnostics
        self.error = error
    }
}

public enum ControlSocket {
    public static let defaultRunDirectory = "/run/berth"
    public static func path(runDirectory: String) -> String { runDirectory + "/berthd.sock" }

    /// Sends `request` to berthd and waits for its reply; nil when no berthd listens there (no
    /// socket, or one nobody accepts on: a berthd that was killed).
    public static func send(_ request: ControlRequest, socket path: String) throws -> ControlReply? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = try unixAddress(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            if errno == ENOENT || errno == ECONNREFUSED { return nil }
            throw ControlError("cannot reach berthd at \(path): \(String(cString: strerror(errno)))")
        }
        var line = try JSONEncoder().encode(request)
        line.append(UInt8(ascii: "\n"))
        try writeAll(fd, Array(line))
        shutdown(fd, Int32(SHUT_WR))
        let reply = readAll(fd)
        guard !reply.isEmpty else { throw ControlError("berthd closed the connection without a reply") }
        return try JSONDecoder().decode(ControlReply.self, from: Data(reply))
    }

    static func unixAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw ControlError("the socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return address
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw ControlError("write: \(String(cString: strerror(errno)))") }
            offset += n
        }
    }

    static func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            out += buffer[0..<n]
        }
        return out
    }
}

public struct ControlError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
