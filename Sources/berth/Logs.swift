import ArgumentParser
import BerthRuntime
import BerthSpec
import BerthSystemd
import Foundation

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a container's output, read from journald (stderr lines go to stderr).")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Follow the output until the container stops.") var follow = false
    @Option(name: [.customShort("n"), .customLong("tail")], help: "Only the last N lines.") var tail: Int?
    @Option(help: "Only lines newer than this: a duration such as 10m, or a Unix time.") var since: String?
    @Argument(help: "The container's name or ID.") var container: String

    func run() throws {
        let info: ContainerInfo
        do { info = try ContainerStore.find(root: berth.global.root, container) } catch { die(1, error.description) }
        let journal = try Journal()
        // By the full ID: a name can be reused by a later container.
        try journal.addMatch("CONTAINER_ID_FULL", info.record.id)
        if let since {
            let now = Date().timeIntervalSince1970
            let start: Double
            if let seconds = Double(since) {
                start = seconds
            } else if let ago = Quantity.duration(since) {
                start = now - Double(ago.components.seconds)
            } else {
                die(125, "invalid --since \(since): a duration such as 10m, or a Unix time")
            }
            try journal.seek(realtime: UInt64(max(0, start) * 1e6))
        } else if let tail {
            // The last N entries, newest first from the end, printed oldest first; then on from the end.
            try journal.seekTail()
            var last: [Journal.Entry] = []
            while last.count < tail, let entry = try journal.previous() { last.append(entry) }
            for entry in last.reversed() { Self.write(entry) }
            // Go on after the newest line printed (after seek_tail, next() would give it again).
            if let newest = last.first {
                try journal.seek(cursor: newest.cursor)
                _ = try journal.next()
            }
        } else {
            try journal.seekHead()
        }
        while true {
            while let entry = try journal.next() { Self.write(entry) }
            guard follow else { return }
            let current = ContainerStore.load(root: berth.global.root, id: info.record.id)
            if current?.supervisorAlive != true {
                // One last look for lines that arrived as it stopped.
                while let entry = try journal.next() { Self.write(entry) }
                return
            }
            try journal.wait(timeout: .milliseconds(500))
        }
    }

    /// A line as the container wrote it, bytes untouched; stderr's lines to stderr.
    static func write(_ entry: Journal.Entry) {
        guard let message = entry["MESSAGE"] else { return }
        let handle = entry.string("PRIORITY") == "3" ? FileHandle.standardError : FileHandle.standardOutput
        handle.write(Data(message + [0x0A]))
    }
}
