import ArgumentParser
import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

struct Images: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the images in the store.")
    @ParentCommand var berth: Berth
    @Flag(name: .shortAndLong, help: "Only print image IDs.") var quiet = false
    @Option(help: "Output format: table or json.") var format = "table"

    func run() throws {
        let store = ImageStore(root: berth.global.root)
        let images = store.list().compactMap { entry in (try? store.image(entry)).map { (entry, $0) } }
        if quiet {
            var seen: Set<Digest> = []
            for (_, image) in images where seen.insert(image.configDigest).inserted {
                print(image.configDigest.hex.prefix(12))
            }
            return
        }
        if format == "json" {
            try printJSON(images.map { ImageInspect.document($0.0, $0.1) })
            return
        }
        guard format == "table" else { die(125, "unknown --format \(format): expected table or json") }
        var rows = [["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]]
        for (entry, image) in images {
            let name = ImageName.short(entry.name)
            let (repository, tag) =
                name.contains("@")
                ? (String(name.prefix { $0 != "@" }), "<none>")
                : (
                    String(name[..<(name.lastIndex(of: ":") ?? name.endIndex)]),
                    String(name.split(separator: ":").last ?? "")
                )
            let created = image.config.created.flatMap { ISO8601DateFormatter().date(from: $0) }
            rows.append([
                repository, tag, String(image.configDigest.hex.prefix(12)),
                created.map { humanDuration(Date().timeIntervalSince($0)) + " ago" } ?? "N/A",
                ByteCountFormatter.string(fromByteCount: image.size, countStyle: .decimal),
            ])
        }
        print(table(rows))
    }
}

struct Tag: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Give an image another name: SOURCE TARGET.")
    @ParentCommand var berth: Berth
    @Argument(help: "The image: a name, ID or digest.") var source: String
    @Argument(help: "The new name: NAME[:TAG].") var target: String

    func run() throws {
        let store = ImageStore(root: berth.global.root)
        guard let entry = try store.lookup(source) else { die(1, "no such image: \(source)") }
        guard let name = ImageName.full(target), !name.contains("@") else { die(125, "invalid image name \(target)") }
        try store.tag(
            name: name, manifest: entry.manifest,
            index: entry.index.map {
                Descriptor(mediaType: MediaType.ociIndex, digest: $0, size: 0)
            })
    }
}

struct Rmi: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove image names (the layers go with `berth prune` once nothing uses them).")
    @ParentCommand var berth: Berth
    @Argument(help: "Image names, IDs or digests.") var images: [String]

    func run() throws {
        let store = ImageStore(root: berth.global.root)
        var failed = false
        for reference in images {
            do {
                guard let entry = try store.lookup(reference) else {
                    warn("no such image: \(reference)")
                    failed = true
                    continue
                }
                // By ID: every name of that image, as docker rmi does when they all agree.
                let names =
                    ImageName.full(reference) == entry.name
                    ? [entry.name]
                    : store.list().filter { $0.manifest.digest == entry.manifest.digest }.map(\.name)
                for name in names {
                    try store.untag(name: name)
                    print("Untagged: \(ImageName.short(name))")
                }
            } catch {
                warn("\(error)")
                failed = true
            }
        }
        if failed { throw ExitCode(1) }
    }
}

struct ImageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show an image's details as JSON shaped like docker image inspect.")
    @ParentCommand var image: ImageCommand
    @Option(name: .shortAndLong, help: "Print one field, e.g. {{.Config.Cmd}}.") var format: String?
    @Argument(help: "Image names, IDs or digests.") var images: [String]

    func run() throws {
        let store = ImageStore(root: image.berth.global.root)
        var documents: [[String: Any]] = []
        for reference in images {
            guard let entry = try store.lookup(reference) else { die(1, "no such image: \(reference)") }
            documents.append(Self.document(entry, try store.image(entry)))
        }
        if let format {
            for document in documents { print(Inspect.render(format, document)) }
            return
        }
        try printJSON(documents)
    }

    static func document(_ entry: ImageEntry, _ image: Image) -> [String: Any] {
        let config = image.config.config ?? ImageConfig.Config()
        var configDocument: [String: Any] = [
            "Env": config.env ?? [], "Cmd": config.cmd ?? [], "Entrypoint": config.entrypoint ?? [],
            "WorkingDir": config.workingDir ?? "", "User": config.user ?? "", "Labels": config.labels ?? [:],
            "ExposedPorts": (config.exposedPorts ?? [:]).mapValues { _ in [String: Any]() },
            "Volumes": (config.volumes ?? [:]).mapValues { _ in [String: Any]() },
        ]
        if let stop = config.stopSignal { configDocument["StopSignal"] = stop }
        if let shell = config.shell { configDocument["Shell"] = shell }
        if let onBuild = config.onBuild { configDocument["OnBuild"] = onBuild }
        if let check = config.healthcheck {
            var health: [String: Any] = ["Test": check.test ?? []]
            for (key, value) in [
                ("Interval", check.interval), ("Timeout", check.timeout), ("StartPeriod", check.startPeriod),
                ("StartInterval", check.startInterval),
            ] {
                if let value { health[key] = value }
            }
            if let retries = check.retries { health["Retries"] = retries }
            configDocument["Healthcheck"] = health
        }
        var history: [[String: Any]] = []
        for entry in image.config.history ?? [] {
            var item: [String: Any] = ["CreatedBy": entry.createdBy ?? ""]
            if let created = entry.created { item["Created"] = created }
            if entry.emptyLayer == true { item["EmptyLayer"] = true }
            history.append(item)
        }
        return [
            "Id": image.configDigest.description, "RepoTags": [ImageName.short(entry.name)],
            "RepoDigests": [
                ImageName.short(entry.name).prefix { $0 != ":" && $0 != "@" }
                    + "@\(entry.index ?? entry.manifest.digest)"
            ],
            "Created": image.config.created ?? "", "Architecture": image.config.architecture, "Os": image.config.os,
            "Size": Int(image.size), "Config": configDocument, "Author": image.config.author ?? "",
            "History": history,
            "RootFS": ["Type": "layers", "Layers": image.config.rootfs.diffIDs.map(\.description)] as [String: Any],
        ]
    }
}

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage images.", subcommands: [ImageInspect.self])
    @ParentCommand var berth: Berth
}

struct Prune: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove what no named image, container or build cache entry uses: blobs, unpacked layers, leftovers.")
    @ParentCommand var berth: Berth

    func run() throws {
        let root = berth.global.root
        do {
            let report = try GarbageCollector(root: root).collect(inUse: inUseManifests(root: root))
            print("Deleted \(report.blobsRemoved) blobs and \(report.snapshotsRemoved) unpacked layers")
            print(
                "Total reclaimed space: "
                    + ByteCountFormatter.string(fromByteCount: report.bytesFreed, countStyle: .decimal))
        } catch {
            die(125, "\(error)")
        }
    }
}

struct Load: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load images from an OCI image layout (directory or tar) or a docker save archive.")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "The archive or layout directory.") var input: String

    func run() throws {
        do {
            for name in try ImageArchive(store: ImageStore(root: berth.global.root)).load(path: input) {
                print("Loaded image: \(ImageName.short(name))")
            }
        } catch {
            die(1, "\(error)")
        }
    }
}

struct Save: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Save images to a tar: an OCI image layout (default) or what docker save writes.")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "The tar file to write.") var output: String
    @Option(help: "oci or docker.") var format: String = "oci"
    @Argument(help: "Image names, IDs or digests.") var images: [String]

    func run() throws {
        guard let format = ImageArchive.Format(rawValue: format) else {
            die(125, "unknown --format \(format): expected oci or docker")
        }
        let store = ImageStore(root: berth.global.root)
        var names: [String] = []
        for reference in images {
            guard let entry = try store.lookup(reference) else { die(1, "no such image: \(reference)") }
            names.append(entry.name)
        }
        do {
            try ImageArchive(store: store).save(names: names, to: output, format: format)
        } catch {
            die(1, "\(error)")
        }
    }
}
