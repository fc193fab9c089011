import ArgumentParser
import BerthDaemon
import BerthRuntime
import BerthSpec
import Foundation

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show every spec with its container's state, ID, uptime, restarts, last exit code and last error.",
        discussion: """
            Asks berthd when it runs (restarts and errors are its memory); without it, reads the \
            spec directories and the containers' state, and says berthd is not running.
            """)

    @ParentCommand var berth: Berth
    @Option(help: "Output format: table or json.") var format = "table"

    func run() throws {
        guard ["table", "json"].contains(format) else { die(125, "unknown --format \(format): expected table or json") }
        var reply: ControlReply
        let daemon: Bool
        do {
            if let answer = try ControlSocket.send(ControlRequest(command: .status), socket: berth.global.controlSocket)
            {
                reply = answer
                daemon = true
            } else {
                let set = SpecLoader.load(directories: berth.global.specPath)
                reply = ControlReply(diagnostics: set.diagnostics.map(\.description))
                reply.status = StatusReport.rows(
                    specs: set, containers: Observation.containers(root: berth.global.root), memory: [:])
                daemon = false
            }
        } catch {
            die(125, "\(error)")
        }
        if let error = reply.error { die(125, error) }
        if format == "json" {
            let data = try JSONEncoder().encode(reply.status)
            print(String(decoding: data, as: UTF8.self))
            return
        }
        if !daemon { warn("berthd is not running: the state below is read from disk, without restarts") }
        let now = Date().timeIntervalSince1970
        var rows = [["NAME", "STATE", "CONTAINER ID", "UPTIME", "RESTARTS", "EXIT", "LAST ERROR"]]
        for row in reply.status {
            rows.append([
                row.name, row.health.map { "\(row.state) (\($0))" } ?? row.state, row.id ?? "-",
                row.startedAt.map { humanDuration(now - Double($0) / 1e9) } ?? "-", String(row.restarts),
                row.exitCode.map(String.init) ?? "-", row.lastError ?? "",
            ])
        }
        print(table(rows))
    }
}
