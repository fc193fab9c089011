import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Small blocking TCP servers for the tests, each connection on its own thread (never on the
/// cooperative pool): an HTTP server that answers from a closure, and a proxy in front of the
/// registry that can cut, corrupt, redirect or rewrite what passes.
struct TestHTTPRequest: Sendable {
    var method: String
    var target: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The query parameters of the target, percent-decoded (repeated names kept in order).
    var query: [(name: String, value: String)] {
        guard let q = target.firstIndex(of: "?") else { return [] }
        return target[target.index(after: q)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            let decode = { (s: String) in s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? s }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    var path: String { String(target.split(separator: "?", maxSplits: 1).first ?? "") }
}

struct TestHTTPResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)] = []
    var body: [UInt8] = []

    func serialized() -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(status < 400 ? "OK" : "Error")\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// One accepted or connected socket, with a read buffer; used by one thread at a time.
final class Socket: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(fd: Int32) {
        self.fd = fd
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    static func connect(host: String = "127.0.0.1", port: UInt16) -> Socket? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard r == 0 else {
            close(fd)
            return nil
        }
        return Socket(fd: fd)
    }

    /// Reads more into the buffer; false at EOF or on an error.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return false }
        buffer += chunk[0..<n]
        return true
    }

    /// The head of a request or response (up to the blank line), split into its first line and headers.
    func readHead() -> (line: String, headers: [(name: String, value: String)])? {
        let end: [UInt8] = [13, 10, 13, 10]
        while true {
            if let range = buffer.firstRange(of: end) {
                let text = String(decoding: buffer[..<range.lowerBound], as: UTF8.self)
                buffer.removeSubrange(..<range.upperBound)
                var lines = text.components(separatedBy: "\r\n")
                let first = lines.removeFirst()
                let headers = lines.compactMap { line -> (name: String, value: String)? in
                    guard let colon = line.firstIndex(of: ":") else { return nil }
                    return (
                        String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    )
                }
                return (first, headers)
            }
            guard fill() else { return nil }
        }
    }

    func readExactly(_ count: Int) -> [UInt8]? {
        while buffer.count < count {
            guard fill() else { return nil }
        }
        let out = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return out
    }

    /// Whatever is buffered, else the next read; nil at EOF.
    func readSome() -> [UInt8]? {
        if buffer.isEmpty && !fill() { return nil }
        defer { buffer.removeAll() }
        return buffer
    }

    func readRequest() -> TestHTTPRequest? {
        guard let head = readHead() else { return nil }
        let parts = head.line.split(separator: " ")
        guard parts.count >= 2 else { return nil }
        var request = TestHTTPRequest(
            method: String(parts[0]), target: String(parts[1]), headers: head.headers, body: [])
        if let length = request.header("Content-Length").flatMap({ Int($0) }), length > 0 {
            guard let body = readExactly(length) else { return nil }
            request.body = body
        }
        return request
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}

/// Listens on HOST:0 and hands each connection to `handler` on a thread of its own.
final class TCPListener: @unchecked Sendable {
    let host: String
    let port: UInt16
    private let fd: Int32

    init(host: String = "127.0.0.1", handler: @escaping @Sendable (Socket) -> Void) throws {
        self.host = host
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, host, &addr.sin_addr)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard ok else {
            let error = String(cString: strerror(errno))
            close(fd)
            throw TestServerError(description: "cannot listen on \(host): \(error)")
        }
        self.fd = fd
        port = UInt16(bigEndian: addr.sin_port)
        let listening = fd
        let thread = Thread {
            while true {
                let client = accept(listening, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    break
                }
                let socket = Socket(fd: client)
                let worker = Thread { handler(socket) }
                worker.start()
            }
            close(listening)
        }
        thread.start()
    }

    var authority: String { "\(host):\(port)" }

    /// Stops accepting (connections under way finish on their threads).
    func stop() { shutdown(fd, Int32(SHUT_RDWR)) }

    deinit { stop() }
}

struct TestServerError: Error, CustomStringConvertible {
    var description: String
}

/// An HTTP server: one request per connection, answered by `handler`.
final class TestHTTPServer: Sendable {
    let listener: TCPListener

    init(host: String = "127.0.0.1", handler: @escaping @Sendable (TestHTTPRequest) -> TestHTTPResponse) throws {
        listener = try TCPListener(host: host) { socket in
            guard let request = socket.readRequest() else { return }
            socket.write(handler(request).serialized())
        }
    }

    var authority: String { listener.authority }
    func stop() { listener.stop() }
}

/// A proxy in front of an HTTP server on 127.0.0.1:`upstream`: each request is forwarded with
/// `Connection: close` (so each connection carries one), unless `decide` says otherwise. It keeps
/// every request it saw.
final class TestProxy: Sendable {
    enum Action: Sendable {
        case forward
        /// Forward without the Range header (a server that ignores Range).
        case forwardWithoutRange
        /// Forward, but close the connection after this many bytes of the response body.
        case cutAfter(Int)
        /// Forward, with the body's byte at this offset flipped.
        case corrupt(at: Int)
        /// Forward this many bytes of the body, then send nothing more until the client goes away.
        case stallAfter(Int)
        case respond(TestHTTPResponse)
    }

    let listener: TCPListener
    let log: RequestLog
    /// Requests whose whole response body went out.
    let completed: RequestLog

    /// `delay`: each forwarded blob request waits this long first (so concurrent ones overlap).
    init(
        upstream: UInt16, delay: Duration = .zero,
        decide: @escaping @Sendable (TestHTTPRequest) -> Action = { _ in .forward }
    ) throws {
        let seen = RequestLog()
        log = seen
        let done = RequestLog()
        completed = done
        let gauge = Gauge()
        blobsInFlight = gauge
        listener = try TCPListener { socket in
            guard let request = socket.readRequest() else { return }
            seen.append(request)
            let isBlob = request.path.contains("/blobs/sha256:")
            // A blob request counts from its arrival until just before the last byte of its body
            // goes out (after that the client may start the next one).
            var counted = isBlob
            if isBlob { gauge.enter() }
            defer { if counted { gauge.leave() } }
            if isBlob && delay > .zero {
                usleep(UInt32(delay.components.attoseconds / 1_000_000_000_000 + delay.components.seconds * 1_000_000))
            }
            let action = decide(request)
            if case .respond(let response) = action {
                socket.write(response.serialized())
                return
            }
            guard let upstreamSocket = Socket.connect(port: upstream) else {
                socket.write(TestHTTPResponse(status: 502).serialized())
                return
            }
            var head = "\(request.method) \(request.target) HTTP/1.1\r\n"
            for (name, value) in request.headers {
                let lower = name.lowercased()
                if lower == "connection"
                    || (lower == "range" && { if case .forwardWithoutRange = action { true } else { false } }())
                {
                    continue
                }
                head += "\(name): \(value)\r\n"
            }
            head += "Connection: close\r\n\r\n"
            guard upstreamSocket.write(Array(head.utf8) + request.body), let response = upstreamSocket.readHead() else {
                return
            }
            var out = response.line + "\r\n"
            for (name, value) in response.headers { out += "\(name): \(value)\r\n" }
            out += "\r\n"
            guard socket.write(Array(out.utf8)) else { return }
            var sent = 0
            let length = response.headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) }
            while var chunk = upstreamSocket.readSome() {
                if counted, let length, sent + chunk.count >= length {
                    counted = false
                    gauge.leave()
                }
                switch action {
                case .cutAfter(let limit):
                    if sent + chunk.count >= limit {
                        socket.write(Array(chunk[..<(limit - sent)]))
                        return  // the socket closes: the connection drops mid-body
                    }
                case .corrupt(let offset):
                    if offset >= sent && offset < sent + chunk.count { chunk[offset - sent] ^= 0xFF }
                case .stallAfter(let limit):
                    if sent + chunk.count >= limit {
                        socket.write(Array(chunk[..<(limit - sent)]))
                        seen.noteStalled(request)
                        while socket.readSome() != nil {}  // until the client closes (or 30 s pass)
                        return
                    }
                default: break
                }
                guard socket.write(chunk) else { return }
                sent += chunk.count
            }
            if let length, sent >= length { done.append(request) }
        }
    }

    /// How many blob requests it was serving at once, at most.
    let blobsInFlight: Gauge

    var requests: [TestHTTPRequest] { log.all }
    var authority: String { listener.authority }
    func stop() { listener.stop() }
}

/// Requests seen by a test server, from its threads.
final class RequestLog: Sendable {
    private let requests = Mutex<[TestHTTPRequest]>([])

    private let stalled = Mutex<[TestHTTPRequest]>([])

    func append(_ request: TestHTTPRequest) { requests.withLock { $0.append(request) } }
    var all: [TestHTTPRequest] { requests.withLock { $0 } }
    func noteStalled(_ request: TestHTTPRequest) { stalled.withLock { $0.append(request) } }
    /// Requests a proxy is holding after part of their response (`stallAfter`).
    var stalledRequests: [TestHTTPRequest] { stalled.withLock { $0 } }
}

/// A count of things under way, and the highest it reached.
final class Gauge: Sendable {
    private let state = Mutex<(now: Int, highest: Int)>((0, 0))

    func enter() {
        state.withLock {
            $0.now += 1
            $0.highest = max($0.highest, $0.now)
        }
    }

    func leave() { state.withLock { $0.now -= 1 } }
    var highest: Int { state.withLock { $0.highest } }
}
