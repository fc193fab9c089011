#if canImport(Glibc)
    import Glibc
#endif

/// A berth-supervisor process between its spawn and the start of its container: it waits on
/// fd 3 until berth has put it in its scope, and reports the container's PID (or why it could
/// not start) on fd 4; fd 5 is an attached client's connection. See
/// Sources/berth-supervisor/main.c.
struct SupervisorProcess {
    let pid: pid_t
    private let goFD: Int32
    private let reportFD: Int32

    /// posix_spawn, never fork, with the signal mask cleared and every signal at its default, so
    /// nothing berth ignores or blocks leaks into a container.
    static func spawn(executable: String, config: String, client: Int32?) throws(RuntimeError)
        -> SupervisorProcess
    {
        var goPipe: [Int32] = [-1, -1]
        var reportPipe: [Int32] = [-1, -1]
        guard pipe(&goPipe) == 0, pipe(&reportPipe) == 0 else {
            throw RuntimeError(125, "pipe: \(String(cString: strerror(errno)))")
        }
        // Above every fd the child is given, so the dup2s below cannot overwrite one another.
        func high(_ fd: Int32) -> Int32 {
            let moved = fcntl(fd, F_DUPFD_CLOEXEC, 64)
            close(fd)
            return moved
        }
        let goRead = high(goPipe[0])
        let goWrite = high(goPipe[1])
        let reportRead = high(reportPipe[0])
        let reportWrite = high(reportPipe[1])
        defer {
            close(goRead)
            close(reportWrite)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, goRead, 3)
        posix_spawn_file_actions_adddup2(&actions, reportWrite, 4)
        // Moved high too: the socket may be fd 3 or 4 itself.
        let clientHigh = client.map { fcntl($0, F_DUPFD_CLOEXEC, 64) }
        defer { if let clientHigh { close(clientHigh) } }
        if let clientHigh { posix_spawn_file_actions_adddup2(&actions, clientHigh, 5) }
        // The supervisor outlives berth: it must not hold berth's stdio (a caller reading berth's
        // output to its end would wait for the container). An attached client's stdio reach it
        // over the client connection, and it lets them go when the client does.
        for fd: Int32 in 0...2 {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = [executable, config]
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { for a in cArgs { free(a) } }
        let env = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        var cEnv = env.map { strdup($0) } + [nil]
        defer { for e in cEnv { free(e) } }
        var pid: pid_t = 0
        let r = posix_spawn(&pid, executable, &actions, &attributes, &cArgs, &cEnv)
        guard r == 0 else {
            close(goWrite)
            close(reportRead)
            throw RuntimeError(125, "cannot start the supervisor \(executable): \(String(cString: strerror(r)))")
        }
        return SupervisorProcess(pid: pid, goFD: goWrite, reportFD: reportRead)
    }

    /// The scope could not be made: closing fd 3 without a byte tells the supervisor to give up.
    func abandon() {
        close(goFD)
        close(reportFD)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// The container's process, cloned and setting up its root while berth makes the scope.
    func child() throws(RuntimeError) -> pid_t {
        let line = readLine()
        if line.hasPrefix("child "), let pid = pid_t(line.dropFirst(6)) { return pid }
        return try fail(Self.error(line))
    }

    /// Lets the container run its command (both are in the scope now); returns its PID.
    func go() throws(RuntimeError) -> pid_t {
        var byte: UInt8 = 0x67
        _ = write(goFD, &byte, 1)
        close(goFD)
        let line = readLine()
        close(reportFD)
        if line.hasPrefix("pid "), let pid = pid_t(line.dropFirst(4)) { return pid }
        return try fail(Self.error(line))
    }

    private static func error(_ line: String) -> RuntimeError {
        guard line.hasPrefix("error ") else {
            return RuntimeError(125, "the supervisor exited without starting the container")
        }
        let rest = line.dropFirst(6)
        return RuntimeError(Int32(rest.prefix { $0 != " " }) ?? 125, String(rest.drop { $0 != " " }.dropFirst()))
    }

    /// One line from fd 4, a byte at a time (never past it, and never to end of file, which a
    /// leaked descriptor could hold off forever).
    private func readLine() -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(reportFD, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 || byte == UInt8(ascii: "\n") { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    private func fail(_ error: RuntimeError) throws(RuntimeError) -> pid_t {
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        throw error
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String { hasSuffix(suffix) ? String(dropLast(suffix.count)) : self }
}
