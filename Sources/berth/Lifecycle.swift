import ArgumentParser
import BerthDaemon
import BerthReconciler
import BerthRuntime
import BerthSpec
import Foundation

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop containers: the stop signal, then SIGKILL after the stop timeout (as systemctl stop).")
    @ParentCommand var berth: Berth
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        var failed = false
        let rest = throughBerthd(.stop, containers, berth: berth, failed: &failed)
        try forEachContainer(rest, root: berth.global.root, failed: failed) { try Runtime.stop($0) }
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
        var failed = false
        let rest = throughBerthd(.remove, containers, berth: berth, force: force, failed: &failed)
        try forEachContainer(rest, root: root, failed: failed) { try Runtime.remove(root: root, $0, force: force) }
    }
}

/// Acts on each named container as Docker does: prints each one done, reports each failure,
/// goes on, and exits 1 if any failed.
func forEachContainer(
    _ references: [String], root: String, failed: Bool = false, _ action: (ContainerInfo) throws -> Void
) throws {
    var failed = failed
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

/// berthd's own containers are stopped, started or removed by berthd when it runs, so its
/// actions and the user's never meet on one container; the others (and all of them when no
/// berthd answers) are left for the caller. Prints what berthd did, warns what failed.
func throughBerthd(
    _ command: ControlRequest.Command, _ references: [String], berth: Berth, force: Bool = false,
    failed: inout Bool
) -> [String] {
    let root = berth.global.root
    let ours = references.filter {
        (try? ContainerStore.find(root: root, $0))?.record.owner == ObservedContainer.berthdOwner
    }
    guard !ours.isEmpty else { return references }
    var request = ControlRequest(command: command, names: ours)
    request.force = force
    let reply: ControlReply?
    do {
        reply = try ControlSocket.send(request, socket: berth.global.controlSocket)
    } catch {
        warn("\(error)")
        failed = true
        return references.filter { !ours.contains($0) }
    }
    guard let reply else { return references }
    for outcome in reply.outcomes {
        for warning in outcome.warnings { warn("\(outcome.name): \(warning)") }
        if let error = outcome.error {
            warn(error)
            failed = true
        } else {
            print(outcome.name)
        }
    }
    return references.filter { !ours.contains($0) }
}
