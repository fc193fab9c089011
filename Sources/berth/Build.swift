import ArgumentParser
import BerthBuild
import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

struct Build: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build an image from a Containerfile or Dockerfile.",
        discussion: """
            Each RUN runs in a container of berth's own runtime, in its own scope \
            (berthbuild-ID.scope in berth-build.slice), with its output here and in journald. \
            Steps whose parent, instruction and copied files are unchanged come from the cache.
            """)
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "Name the image (repeatable).") var tag: [String] = []
    @Option(name: .shortAndLong, help: "The Containerfile (default: CONTEXT/Containerfile, else Dockerfile).")
    var file: String?
    @Option(name: .customLong("build-arg"), help: "A build argument, NAME=VALUE (repeatable).")
    var buildArgs: [String] = []
    @ArgumentParser.Flag(name: .customLong("no-cache"), help: "Run every step again.") var noCache = false
    @Option(help: "Build up to this stage.") var target: String?
    @Option(help: "RUN's network: host or none.") var network = "host"
    @ArgumentParser.Flag(name: .shortAndLong, help: "Print only the image ID.") var quiet = false
    @Argument(help: "The build context.") var context: String

    func run() throws {
        var options = BuildOptions(context: (context as NSString).standardizingPath)
        if !context.hasPrefix("/") {
            options.context = (FileManager.default.currentDirectoryPath + "/" + context as NSString).standardizingPath
        }
        options.file = file
        options.tags = tag
        options.noCache = noCache
        options.target = target
        options.quiet = quiet
        guard let mode = NetworkMode(rawValue: network), mode != .bridge else {
            die(125, "--network \(network): expected host or none (bridge networks come with berth's networking)")
        }
        options.network = mode
        for arg in buildArgs {
            let parts = arg.split(separator: "=", maxSplits: 1).map(String.init)
            // NAME alone takes the value from berth's own environment, as docker build does.
            options.buildArgs[parts[0]] = parts.count == 2 ? parts[1] : ProcessInfo.processInfo.environment[parts[0]]
        }
        let root = berth.global.root
        BuildInterruption.install()
        let builder = BerthBuild.Builder(root: root, supervisor: supervisorPath()) { reference in
            try pullImage(reference, root: root, platform: .current, quiet: quiet)
        }
        do {
            let result = try builder.build(options)
            if quiet {
                print(result.imageID)
            } else {
                for name in tag { print("Successfully tagged \(ImageName.full(name).map(ImageName.short) ?? name)") }
                print(result.imageID.hex)
            }
        } catch {
            die(error.exitCode == 0 ? 1 : error.exitCode, error.description)
        }
    }
}

struct CommitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit",
        abstract: "Make a new image from a container's changes (its writable layer on its image).")
    @ParentCommand var berth: Berth
    @Option(name: .shortAndLong, help: "Author of the new image.") var author: String?
    @Option(name: .shortAndLong, help: "A message for its history.") var message: String?
    @Argument(help: "The container.") var container: String
    @Argument(help: "The new image's name.") var image: String?

    func run() throws {
        let root = berth.global.root
        do {
            let info = try ContainerStore.find(root: root, container)
            let id = try BerthBuild.Commit.commit(
                root: root, container: info, tag: image, author: author, message: message)
            print(id)
        } catch let error as BuildError {
            die(125, error.description)
        } catch {
            die(125, "\(error)")
        }
    }
}

struct BuilderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "builder", abstract: "Manage the build cache.", subcommands: [BuilderPrune.self])
}

struct BuilderPrune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune", abstract: "Forget the build cache, and remove what only it kept.")
    @ParentCommand var berth: Berth

    func run() throws {
        let root = berth.global.root
        let entries = BuildCache(root: root).clear()
        do {
            let report = try GarbageCollector(root: root).collect(inUse: inUseManifests(root: root))
            print(
                "Forgot \(entries) cache entries; deleted \(report.blobsRemoved) blobs and \(report.snapshotsRemoved) unpacked layers"
            )
            print(
                "Total reclaimed space: "
                    + ByteCountFormatter.string(fromByteCount: report.bytesFreed, countStyle: .decimal))
        } catch {
            die(125, "\(error)")
        }
    }
}

/// What GC must keep beside the named images: the images of containers and the build cache.
func inUseManifests(root: String) -> Set<Digest> {
    Set(ContainerStore.list(root: root).compactMap { $0.record.imageManifest.flatMap(Digest.init) })
        .union(BuildCache(root: root).manifests())
}
