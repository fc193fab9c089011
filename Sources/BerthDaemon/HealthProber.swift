import BerthRuntime
import BerthStore
import CLinux
import Foundation

/// One health probe: the check's command exec'd in the container by its supervisor (the
/// container's namespaces, scope, capabilities and filter, as `berth exec`), its output on a
/// pipe, killed when the timeout passes. Runs on a probe worker; nothing else is started.
enum HealthProber {
    static let outputTail = 4096

    static func probe(_ info: ContainerInfo, _ settings: HealthSettings) -> HealthProbe {
        let start = Timestamp.nanoseconds()
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe_blocking(&ends) == 0 else {
            return HealthProbe(
                start: Timestamp.rfc3339(start), end: Timestamp.rfc3339(Timestamp.nanoseconds()), exitCode: -1,
                output: "pipe: \(String(cString: strerror(errno)))")
        }
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        var request = ExecRequest(argv: settings.argv)
        request.stdio = [null, ends[1], ends[1]]
        let connection: SupervisorConnection
        do {
            connection = try Runtime.exec(info, request)
        } catch {
            close(null)
            close(ends[0])
            close(ends[1])
            return HealthProbe(
                start: Timestamp.rfc3339(start), end: Timestamp.rfc3339(Timestamp.nanoseconds()), exitCode: -1,
                output: error.description)
        }
        close(null)
        close(ends[1])
        defer { close(ends[0]) }

        let deadline = start + settings.timeout
        var output: [UInt8] = []
        var pid: Int32 = 0
        var exitCode: Int32?
        var message: String?
        var outputOpen = true
        var buffer = [UInt8](repeating: 0, count: 4096)
        while exitCode == nil || outputOpen {
            let now = Timestamp.nanoseconds()
            if now >= deadline {
                if pid > 0 { kill(pid, SIGKILL) }
                exitCode = -1
                message = "Health check exceeded timeout (\(Duration.nanoseconds(Int64(settings.timeout))))"
                break
            }
            var fds = [
                pollfd(fd: connection.fd, events: Int16(exitCode == nil ? POLLIN : 0), revents: 0),
                pollfd(fd: outputOpen ? ends[0] : -1, events: Int16(POLLIN), revents: 0),
            ]
            // Once the process exited, what is left in the pipe is read without waiting long:
            // a child it left behind may hold the pipe open.
            let wait = exitCode == nil ? Int32(clamping: (deadline - now) / 1_000_000 + 1) : 10
            let n = poll(&fds, 2, wait)
            if n < 0 && errno == EINTR { continue }
            if n == 0 && exitCode != nil { break }
            if fds[1].revents != 0 {
                let got = read(ends[0], &buffer, buffer.count)
                if got > 0 {
                    output += buffer[0..<got]
                    if output.count > 2 * outputTail { output = Array(output.suffix(outputTail)) }
                } else if got == 0 || errno != EINTR {
                    outputOpen = false
                }
            }
            if fds[0].revents != 0 {
                switch SupervisorReply((try? connection.receive()) ?? nil) {
                case .pid(let p): pid = p
                case .exit(let code): exitCode = code
                case .error(let code, let text):
                    exitCode = code
                    message = text
                case .closed:
                    exitCode = -1
                    message = "the container's supervisor went away"
                default: break
                }
            }
        }
        var text = String(decoding: output.suffix(outputTail), as: UTF8.self)
        if let message { text += (text.isEmpty || text.hasSuffix("\n") ? "" : "\n") + message }
        return HealthProbe(
            start: Timestamp.rfc3339(start), end: Timestamp.rfc3339(Timestamp.nanoseconds()), exitCode: exitCode ?? -1,
            output: text)
    }
}
