import ArgumentParser
import BerthRuntime
import BerthSpec
import Foundation

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop containers: the stop signal, then SIGKILL after the stop timeout (as systemctl stop).")
    @ParentCommand var berth: Berth
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        try forEachContainer(containers, root: berth.global.root) { try Runtime.stop($0) }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal to containers (default SIGKILL).")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "The signal: a name such as SIGHUP or HUP, or a number.") var signal = "SIGKILL"
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        guard let sig = Signal(parsing: signal) else { die(125, "invalid signal \(signal)") }
        try forEachContainer(containers, root: berth.global.root) { try Runtime.kill($0, signal: sig.number) }
    }
}

struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove containers (-f: also running ones, killed first).")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Kill and remove running containers.") var force = false
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        let root = berth.global.root
        try forEachContainer(containers, root: root) { try Runtime.remove(root: root, $0, force: force) }
    }
}

/// Acts on each named container as Docker does: prints each one done, reports each failure,
/// goes on, and exits 1 if any failed.
func forEachContainer(_ references: [String], root: String, _ action: (ContainerInfo) throws -> Void)
    throws
{
    var failed = false
    for reference in references {
        do {
            try action(try ContainerStore.find(root: root, reference))
            print(reference)
        } catch {
            warn("\(error)")
            failed = true
        }
    }
    if failed { throw ExitCode(1) }
}
