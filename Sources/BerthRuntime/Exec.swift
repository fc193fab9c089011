import Foundation

/// `berth exec`: a process in a running container, started by its supervisor (which joins the
/// container's namespaces and applies its capabilities, seccomp filter and limits), so it is
/// in the container's scope like everything else the container runs.
public struct ExecRequest: Sendable {
    public var argv: [String]
    /// KEY=VALUE pairs added to (or replacing in) the container's environment.
    public var env: [String] = []
    /// NAME|UID[:GROUP|GID], resolved against the container's own /etc/passwd and /etc/group.
    public var user: String?
    public var workdir: String?
    public var tty = false
    public var interactive = false
    /// `exec -d`: no stdio at all, so nothing waits on ours.
    public var detach = false
    public var size: TerminalSize?
    /// Without a terminal: the process's stdin, stdout and stderr (a health probe's pipe);
    /// nil: ours.
    public var stdio: [Int32]?

    public init(argv: [String]) { self.argv = argv }
}

extension Runtime {
    /// Asks the container's supervisor to run the request; the reply (pid, then exit, or error;
    /// with a terminal first its master side) comes on the returned connection.
    public static func exec(_ info: ContainerInfo, _ request: ExecRequest) throws(RuntimeError) -> SupervisorConnection
    {
        guard info.isRunning, let pid = info.state?.pid else {
            throw RuntimeError(125, "container \(info.record.name) is not running")
        }
        guard !request.argv.isEmpty else { throw RuntimeError(125, "exec needs a command") }
        var uid = info.record.process?.uid ?? 0
        var gid = info.record.process?.gid ?? 0
        var groups = info.record.process?.groups ?? []
        var home: String?
        if let user = request.user {
            // The running container's own files, links followed inside its root only.
            let root = RootFilesystem.directory("/proc/\(pid)/root")
            do {
                let resolved = try UserDatabase.resolve(
                    user: user, groupAdd: [], passwd: try root.readText("/etc/passwd"),
                    group: try root.readText("/etc/group"))
                (uid, gid, groups, home) = (resolved.uid, resolved.gid, resolved.groups, resolved.home)
            } catch let error as RuntimeError {
                throw error
            } catch {
                throw RuntimeError(125, "\(error)")
            }
        }
        var env = info.record.env
        func set(_ pair: String) {
            let key = pair.prefix { $0 != "=" }
            if let i = env.firstIndex(where: { $0.prefix { $0 != "=" } == key }) {
                env[i] = pair
            } else {
                env.append(pair)
            }
        }
        if let home { set("HOME=" + home) }
        if request.tty && !env.contains(where: { $0.hasPrefix("TERM=") }) { set("TERM=xterm") }
        for pair in request.env { set(pair) }

        var records = request.argv.map { "ARG=" + $0 } + env.map { "ENV=" + $0 }
        records += ["UID=\(uid)", "GID=\(gid)"] + groups.map { "GROUP=\($0)" }
        if let workdir = request.workdir { records.append("CWD=" + workdir) }
        records.append("TTY=" + (request.tty ? "1" : "0"))
        if let size = request.size { records += ["ROWS=\(size.rows)", "COLS=\(size.columns)"] }
        let message = Array("exec\0".utf8) + records.flatMap { Array($0.utf8) + [0] }

        let connection = try SupervisorConnection.connect(info.layout)
        if request.tty {
            try connection.send(message)
        } else {
            // The process gets our stdio itself (stdin only with -i); nothing is relayed.
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            defer { close(null) }
            let fds =
                request.stdio ?? (request.detach ? [null, null, null] : [request.interactive ? 0 : null, 1, 2])
            try connection.send(message, fds: fds)
        }
        return connection
    }
}
