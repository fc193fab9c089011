import BerthRuntime
import Foundation

/// The user's terminal during `run -t`, `attach` and `exec -t`: raw mode while berth relays
/// it, restored on every way out that berth sees (not SIGKILL: `reset` mends that).
enum Terminal {
    nonisolated(unsafe) private static var saved: termios?

    static func size(of fd: Int32 = 1) -> TerminalSize? {
        var ws = winsize()
        guard ioctl(fd, UInt(TIOCGWINSZ), &ws) == 0, ws.ws_row > 0, ws.ws_col > 0 else { return nil }
        return TerminalSize(rows: ws.ws_row, columns: ws.ws_col)
    }

    /// Raw input and output, as Docker's client sets it: every key goes to the container's
    /// terminal, which does its own echo and line editing.
    static func makeRaw() {
        guard isatty(0) == 1 else { return }
        var t = termios()
        guard tcgetattr(0, &t) == 0 else { return }
        saved = t
        cfmakeraw(&t)
        tcsetattr(0, TCSANOW, &t)
        atexit { Terminal.restore() }
    }

    static func restore() {
        guard var t = saved else { return }
        tcsetattr(0, TCSANOW, &t)
        saved = nil
    }
}

/// Signals delivered as bytes on a pipe, so the relay loops see them in poll.
enum SignalPipe {
    nonisolated(unsafe) private static var fds: [Int32] = [-1, -1]

    static var readEnd: Int32 { fds[0] }

    static func install(_ signals: [Int32]) {
        if fds[0] < 0 {
            _ = pipe(&fds)
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            }
        }
        for sig in signals {
            signal(sig) { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(SignalPipe.fds[1], &byte, 1)
            }
        }
    }

    /// The signals that arrived since the last call.
    static func drain() -> [Int32] {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fds[0], &buffer, buffer.count)
        return n > 0 ? buffer[0..<n].map { Int32($0) } : []
    }
}
