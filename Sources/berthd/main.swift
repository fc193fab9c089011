import ArgumentParser
import BerthDaemon
import BerthRegistry
import BerthSpec
import Foundation

// Before anything can start a thread: the signals berthd waits for on a signalfd are blocked in
// every thread, and a client gone before its reply is no reason to die.
Daemon.blockSignals()
signal(SIGPIPE, SIG_IGN)

struct Berthd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "berthd",
        abstract: "berth's daemon: keeps the containers the spec directories declare running as they say.",
        discussion: """
            Run it as the systemd service berthd.service (Type=notify; systemctl reload berthd \
            reconciles at once). Stopping it leaves the containers running; the next berthd \
            adopts them.
            """)

    @Option(
        name: .customLong("spec-dir"),
        help: ArgumentHelp(
            "A spec directory, highest precedence first (default: BERTH_SPEC_PATH, else the system directories).",
            valueName: "dir"))
    var specDirectories: [String] = []
    @Option(help: ArgumentHelp("berth's state directory (default: BERTH_ROOT, else /var/lib/berth).", valueName: "dir"))
    var root: String?
    @Option(
        name: .customLong("run-dir"),
        help: ArgumentHelp("Where the control socket goes (default: BERTH_RUN_DIR, else /run/berth).", valueName: "dir")
    )
    var runDirectory: String?
    @Option(help: "How many actions run at once.") var workers = 8

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var config = Daemon.Configuration(
            root: root ?? environment["BERTH_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/var/lib/berth",
            specDirectories: SpecFiles.searchPath(cliDirectories: specDirectories, environment: environment),
            runDirectory: runDirectory ?? environment["BERTH_RUN_DIR"].flatMap { $0.isEmpty ? nil : $0 }
                ?? ControlSocket.defaultRunDirectory,
            supervisor: Bundle.main.executableURL!.deletingLastPathComponent().appendingPathComponent(
                "berth-supervisor"
            ).path)
        config.workers = workers
        config.insecureRegistries = insecureRegistries(environment)
        let daemon: Daemon
        do {
            daemon = try Daemon(config)
        } catch {
            FileHandle.standardError.write(Data("berthd: \(error)\n".utf8))
            throw ExitCode(1)
        }
        daemon.run()
    }
}

Berthd.main()
