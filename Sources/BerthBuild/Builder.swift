import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// What to build, and how: `berth build`'s flags, and what a spec's `build` section says.
public struct BuildOptions: Sendable {
    /// The build context: COPY and ADD read from here.
    public var context: String
    /// The Containerfile; nil: CONTEXT/Containerfile, else CONTEXT/Dockerfile.
    public var file: String?
    /// Names the image gets (normalized: `app` is docker.io/library/app:latest).
    public var tags: [String] = []
    public var buildArgs: [String: String] = [:]
    public var noCache = false
    /// Build up to this stage (a name or a number) instead of the last.
    public var target: String?
    /// RUN's network: host (the default until bridge networks exist) or none.
    public var network: NetworkMode = .host
    /// Where the steps and their output are shown (stdout), and errors (stderr).
    public var output: Int32 = 1
    public var errorOutput: Int32 = 2
    /// Only the image ID on stdout at the end (-q); steps' output still goes to journald.
    public var quiet = false

    public init(context: String) { self.context = context }
}

/// The result of a build: the image (its manifest, and its ID, the config's digest) and what
/// ran, as the test and the user see it.
public struct BuildResult: Sendable {
    public var manifest: Digest
    public var imageID: Digest
    public var stepsRun = 0
    public var stepsCached = 0
}

/// Builds images from Containerfiles. A build holds the store lock shared from start to end, so
/// GC never sweeps a state between its steps.
public struct Builder {
    public let root: String
    public let supervisor: String
    /// Pulls a base image the store lacks (the CLI passes its registry pull).
    public var pull: (String) throws -> ImageEntry?

    public init(root: String, supervisor: String, pull: @escaping (String) throws -> ImageEntry?) {
        self.root = root
        self.supervisor = supervisor
        self.pull = pull
    }

    public func build(_ options: BuildOptions) throws(BuildError) -> BuildResult {
        let path = try Self.containerfile(options)
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw BuildError("cannot read \(path): \(error.localizedDescription)")
        }
        let dockerfile = try Dockerfile.parse(bytes, file: (path as NSString).lastPathComponent)
        let lock: StoreLock
        do { lock = try StoreLock(root: root, .shared) } catch { throw BuildError("\(error)") }
        defer { withExtendedLifetime(lock) {} }
        Runtime.collectBuildSteps(root: root)
        CopyStep.collectWorkDirectories(root: root)
        var run = try BuildRun(builder: self, options: options, dockerfile: dockerfile)
        let last: Int
        if let target = options.target {
            guard let index = dockerfile.stageIndex(target) else {
                throw BuildError("target stage \"\(target)\" could not be found", file: dockerfile.file)
            }
            last = index
        } else {
            last = dockerfile.stages.count - 1
        }
        guard last >= 0 else { throw BuildError("no build stage in \(dockerfile.file)", file: dockerfile.file) }
        let state = try run.stage(last)
        let content = ContentStore(root: root)
        let images = ImageStore(root: root)
        for tag in options.tags {
            guard let name = ImageName.full(tag) else { throw BuildError("invalid tag \(tag)") }
            // Naming again what already has the name would rewrite the index for nothing.
            if (try? images.find(name))??.manifest.digest == state.manifest { continue }
            do { try images.tag(name: name, manifest: state.descriptor(content: content)) } catch {
                throw BuildError("cannot name the image \(name): \(error)")
            }
        }
        return BuildResult(
            manifest: state.manifest, imageID: state.configDescriptor.digest, stepsRun: run.stepsRun,
            stepsCached: run.stepsCached)
    }

    static func containerfile(_ options: BuildOptions) throws(BuildError) -> String {
        if let file = options.file {
            return file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        }
        for name in ["Containerfile", "Dockerfile"] where access(options.context + "/" + name, R_OK) == 0 {
            return options.context + "/" + name
        }
        throw BuildError("no Containerfile or Dockerfile in \(options.context) (give one with -f)")
    }
}
