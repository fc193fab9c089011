#if canImport(Glibc)
    import Glibc
#endif

/// A child process for tests, spawned with posix_spawn with the signal mask cleared and every
/// signal at its default disposition. Foundation's Process passes on the mask and ignored
/// signals of the spawning thread (under the test runner, SIGTERM and SIGINT may not reach the
/// child), which would make a test of systemd's stop signals meaningless.
public final class ChildProcess {
    public let pid: pid_t
    /// The write end of the child's stdin, or -1.
    public private(set) var stdinFD: Int32
    private var status: Int32?

    public struct SpawnError: Error, CustomStringConvertible {
        public var description: String
    }

    /// With `terminal`, the child's stdin, stdout and stderr are a new pseudo-terminal of the
    /// given size, and `stdinFD` is its master side (read it for the child's output).
    public init(_ argv: [String], stdinPipe: Bool = false, terminal: (rows: UInt16, columns: UInt16)? = nil) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var fds: [Int32] = [-1, -1]
        if let terminal {
            let master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
            var unlock: Int32 = 0
            var number: Int32 = 0
            // TIOCSPTLCK and TIOCGPTN: macros Swift cannot import.
            guard master >= 0, ioctl(master, 0x4004_5431, &unlock) == 0, ioctl(master, 0x8004_5430, &number) == 0
            else {
                throw SpawnError(description: "cannot open a pseudo-terminal: \(errno)")
            }
            let name = "/dev/pts/\(number)"
            var size = winsize(ws_row: terminal.rows, ws_col: terminal.columns, ws_xpixel: 0, ws_ypixel: 0)
            _ = ioctl(master, UInt(TIOCSWINSZ), &size)
            let slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard slave >= 0 else { throw SpawnError(description: "cannot open \(name)") }
            for fd: Int32 in 0...2 { posix_spawn_file_actions_adddup2(&actions, slave, fd) }
            fds = [slave, master]
        } else if stdinPipe {
            guard pipe(&fds) == 0 else { throw SpawnError(description: "pipe: \(errno)") }
            // Only the dup2'd stdin reaches the child; the pipe's own ends close at exec.
            _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        }
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, argv[0], &actions, &attr, &cArgs, environ)
        if stdinPipe || terminal != nil { close(fds[0]) }
        guard r == 0 else {
            if stdinPipe || terminal != nil { close(fds[1]) }
            throw SpawnError(description: "posix_spawn \(argv[0]): \(String(cString: strerror(r)))")
        }
        self.pid = pid
        self.stdinFD = stdinPipe || terminal != nil ? fds[1] : -1
    }

    /// What the child wrote to its terminal (`terminal:`) until `until` matches all of it or
    /// the timeout passes; everything read so far.
    public func readTerminal(timeout: Duration = .seconds(10), until: (String) -> Bool) -> String {
        var text: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline && !until(String(decoding: text, as: UTF8.self)) {
            var p = pollfd(fd: stdinFD, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 50) >= 0 else { break }
            if p.revents & Int16(POLLIN) != 0 {
                let n = read(stdinFD, &buffer, buffer.count)
                if n <= 0 { break }
                text += buffer[0..<n]
            } else if p.revents != 0 {
                break
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            _ = wait()
        }
        if stdinFD >= 0 { close(stdinFD) }
    }

    public func write(_ text: String) {
        _ = text.withCString { Glibc.write(stdinFD, $0, strlen($0)) }
    }

    /// Waits for the child; returns its raw wait status.
    @discardableResult
    public func wait() -> Int32 {
        if let status { return status }
        var s: Int32 = 0
        while waitpid(pid, &s, 0) < 0 && errno == EINTR {}
        status = s
        return s
    }

    /// Whether it still runs: not yet exited (a zombie waiting to be reaped has exited).
    public var isRunning: Bool {
        guard status == nil, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    /// The signal that ended the child, or nil when it exited.
    public var terminatingSignal: Int32? {
        let s = wait()
        return s & 0x7F != 0 && s & 0x7F != 0x7F ? s & 0x7F : nil
    }
}
