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
        var failed = false
        for reference in containers {
            do {
                try Runtime.stop(try ContainerStore.find(root: berth.global.root, reference))
                print(reference)
            } catch {
                warn(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a signal to containers (default SIGKILL).")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "The signal: a name such as SIGHUP or HUP, or a number.") var signal = "SIGKILL"
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        guard let sig = Signal(parsing: signal) else { die(125, "invalid signal \(signal)") }
        var failed = false
        for reference in containers {
            do {
                try Runtime.kill(try ContainerStore.find(root: berth.global.root, reference), signal: sig.number)
                print(reference)
            } catch {
                warn(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove containers (-f: also running ones, killed first).")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Kill and remove running containers.") var force = false
    @Argument(help: "Container names or IDs.") var containers: [String]

    func run() throws {
        var failed = false
        for reference in containers {
            do {
                try Runtime.remove(
                    root: berth.global.root, try ContainerStore.find(root: berth.global.root, reference), force: force)
                print(reference)
            } catch {
                warn(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}
