import ArgumentParser
import BerthRuntime
import BerthSpec
import Foundation

struct Volume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage named volumes (ROOT/volumes/NAME), as docker volume does.",
        discussion: """
            A volume is also created when a container first mounts it (-v NAME:/path); while it \
            is empty, it is first filled with what the image has at that path.
            """,
        subcommands: [VolumeCreate.self, VolumeLs.self, VolumeInspect.self, VolumeRm.self, VolumePrune.self])

    /// `docker volume inspect`'s shape.
    static func document(_ record: VolumeRecord) -> [String: Any] {
        [
            "CreatedAt": record.createdAt, "Driver": record.driver, "Labels": record.labels,
            "Mountpoint": record.mountpoint, "Name": record.name, "Options": [String: String](), "Scope": "local",
        ]
    }

    /// Sizes as Docker prints them: four significant digits, powers of 1000 ("0B", "1.234kB").
    static func humanSize(_ bytes: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
        var size = Double(bytes)
        var unit = 0
        while size >= 1000 && unit < units.count - 1 {
            size /= 1000
            unit += 1
        }
        return String(format: "%.4g", size) + units[unit]
    }
}

struct VolumeCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a volume and print its name (a random one when none is given).")
    @ParentCommand var berth: Berth
    @Option(name: .customLong("label"), help: "A label: KEY=VALUE (repeatable).") var labels: [String] = []
    @Argument(help: "The volume's name: letters, digits, '_', '.' and '-', starting with a letter or digit.")
    var name: String?

    func run() throws {
        var parsed: [String: String] = [:]
        for label in labels {
            let parts = label.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard !parts[0].isEmpty else { die(125, "invalid label \"\(label)\": expected KEY=VALUE") }
            parsed[parts[0]] = parts.count == 2 ? parts[1] : ""
        }
        let name = name ?? VolumeStore.randomName()
        guard VolumeStore.isValidName(name) else {
            die(1, "create \(name): invalid volume name: \(VolumeMount.volumeNameRule)")
        }
        do {
            try VolumeStore(root: berth.global.root).create(name, labels: parsed)
        } catch {
            die(1, "create \(name): \(error.description)")
        }
        print(name)
    }
}

struct VolumeLs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List volumes.", aliases: ["list"])
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Only print names.") var quiet = false
    @Option(help: "Output format: table or json.") var format: String = "table"

    func run() throws {
        guard ["table", "json"].contains(format) else { die(125, "invalid --format \(format): expected table or json") }
        let volumes = VolumeStore(root: berth.global.root).list()
        if quiet {
            for volume in volumes { print(volume.name) }
        } else if format == "json" {
            try printJSON(volumes.map(Volume.document))
        } else {
            print(table([["DRIVER", "VOLUME NAME"]] + volumes.map { [$0.driver, $0.name] }))
        }
    }
}

struct VolumeInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show volumes' details as JSON shaped like Docker's.",
        discussion: "--format '{{.Mountpoint}}' prints one field, as with docker volume inspect.")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "Print one field: a Go-template-like path such as {{.Mountpoint}}.")
    var format: String?
    @Argument(help: "Volume names.") var names: [String]

    func run() throws {
        let store = VolumeStore(root: berth.global.root)
        var documents: [[String: Any]] = []
        var missing: [String] = []
        for name in names {
            if let record = store.record(name) {
                documents.append(Volume.document(record))
            } else {
                missing.append(name)
            }
        }
        // As Docker: what was found is printed, each missing name is an error.
        if let format {
            for document in documents { print(Inspect.render(format, document)) }
        } else {
            try printJSON(documents)
        }
        for name in missing { warn("no such volume: \(name)") }
        if !missing.isEmpty { throw ExitCode(1) }
    }
}

struct VolumeRm: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove volumes that no container (running or stopped) uses.",
        discussion: "-f does not remove a volume in use either; it only makes a missing volume no error.",
        aliases: ["remove"])
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Do not fail for volumes that do not exist.") var force = false
    @Argument(help: "Volume names.") var names: [String]

    func run() throws {
        let store = VolumeStore(root: berth.global.root)
        var failed = false
        for name in names {
            do {
                if try store.remove(name) || force {
                    print(name)
                } else {
                    warn("no such volume: \(name)")
                    failed = true
                }
            } catch {
                warn(error.description)
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct VolumePrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Remove every volume that no container (running or stopped) uses.")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Do not ask for confirmation.") var force = false

    func run() throws {
        if !force {
            print("WARNING! This will remove all volumes not used by at least one container.")
            print("Are you sure? [y/N] ", terminator: "")
            fflush(nil)  // the prompt before we wait for the answer
            let answer = (readLine() ?? "").trimmingCharacters(in: .whitespaces).lowercased()
            guard answer == "y" || answer == "yes" else { return }
        }
        let removed: [(name: String, size: UInt64)]
        do {
            removed = try VolumeStore(root: berth.global.root).prune()
        } catch {
            die(1, error.description)
        }
        if !removed.isEmpty {
            print("Deleted Volumes:")
            for volume in removed { print(volume.name) }
            print("")
        }
        print("Total reclaimed space: " + Volume.humanSize(removed.reduce(0) { $0 + $1.size }))
    }
}
