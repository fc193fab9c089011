import BerthRuntime
import Foundation

/// The client side of an attached container or an exec: waits for the supervisor's last word,
/// passing on what the user's terminal and signals say meanwhile.
enum ClientSession {
    /// Until the container (or exec) ends, the client detaches, or the supervisor is gone.
    /// `terminal`: the container has a TTY (window sizes are passed on, and signals are not:
    /// the keys reach it as bytes). An exec's terminal comes as its master side, which this
    /// side copies to and from the user's terminal itself (our stdin only with `input`).
    static func wait(_ connection: SupervisorConnection, terminal: Bool, input: Bool = true) -> SupervisorReply {
        SignalPipe.install([SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])
        var relay: Int32?
        var stdinOpen = false
        var finalReply: SupervisorReply?
        while true {
            if let reply = finalReply, relay == nil { return reply }
            var fds = [
                pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: SignalPipe.readEnd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: relay ?? -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stdinOpen ? 0 : -1, events: Int16(POLLIN), revents: 0),
            ]
            // After the exit, only what the terminal still holds: a short drain.
            let timeout: Int32 = finalReply == nil ? -1 : 200
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno == EINTR { continue }
            if ready == 0, finalReply != nil { return finalReply! }
            if fds[2].revents != 0, let master = relay, !copy(from: master, to: 1) {
                close(master)
                relay = nil
            }
            if fds[3].revents != 0, let master = relay, !copy(from: 0, to: master) { stdinOpen = false }
            if fds[1].revents != 0 {
                for sig in SignalPipe.drain() { handle(sig, connection: connection, terminal: terminal, relay: relay) }
            }
            if fds[0].revents != 0, finalReply == nil {
                let reply = SupervisorReply((try? connection.receive()) ?? nil)
                switch reply {
                case .pid: continue
                case .terminal(let master):
                    relay = master
                    stdinOpen = input
                    if let size = Terminal.size() { setSize(master, size) }
                default: finalReply = reply
                }
            }
        }
    }

    private static func handle(_ sig: Int32, connection: SupervisorConnection, terminal: Bool, relay: Int32?) {
        if sig == SIGWINCH {
            guard let size = Terminal.size() else { return }
            if let relay { setSize(relay, size) } else { try? connection.send("winch \(size.rows) \(size.columns)") }
        } else if terminal {
            // A terminal sends ^C as a byte; a signal to berth itself (the user's terminal
            // closed, or a kill) ends the session and leaves the container running.
            Terminal.restore()
            exit(sig == SIGHUP ? 129 : 0)
        } else {
            // As docker's --sig-proxy: the container gets what berth got.
            try? connection.send("signal \(sig)")
        }
    }

    private static func setSize(_ fd: Int32, _ size: TerminalSize) {
        var ws = winsize(ws_row: size.rows, ws_col: size.columns, ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(fd, UInt(TIOCSWINSZ), &ws)
    }

    /// One read and its whole write; false at the end of the input (or an error).
    private static func copy(from source: Int32, to destination: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = read(source, &buffer, buffer.count)
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return true }
        guard n > 0 else { return false }
        var offset = 0
        while offset < n {
            let w = buffer[offset..<n].withUnsafeBytes { write(destination, $0.baseAddress, $0.count) }
            if w < 0 && errno == EINTR { continue }
            guard w > 0 else { return false }
            offset += w
        }
        return true
    }

    /// The exit status berth ends with, as Docker: the container's own, or 125 and a reason.
    static func exitCode(_ reply: SupervisorReply, layout: ContainerLayout) -> Int32 {
        Terminal.restore()
        switch reply {
        case .exit(let code): return code
        case .error(let code, let message):
            warn(message)
            return code
        case .detached: return 0
        case .pid, .terminal, .ok, .closed:
            // The supervisor went away without a word (killed): what it last recorded.
            if let text = try? String(contentsOfFile: layout.stateFile, encoding: .utf8),
                let state = ContainerState(parsing: text), state.status == "exited"
            {
                return state.exitCode
            }
            warn("lost the container's supervisor")
            return 125
        }
    }
}
