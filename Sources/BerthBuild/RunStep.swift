import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// A RUN instruction: a container of the state so far, through berth's own runtime (the same
/// isolation, capabilities and seccomp filter as any container), in its own build scope. What
/// it changed, its overlay upper directory, becomes the next layer, and that directory is
/// adopted as the layer's snapshot instead of being unpacked again.
struct RunStep {
    let builder: Builder
    let options: BuildOptions
    let log: BuildLog

    func run(argv: [String], env: [String: String], on state: BuildState, shownAs text: String)
        throws(BuildError) -> BuildState
    {
        guard !state.layers.isEmpty else {
            throw BuildError("there is nothing to run in an empty image (FROM scratch)")
        }
        let snapshots = Snapshotter(root: builder.root)
        let content = ContentStore(root: builder.root)
        let lowerDirs: [String]
        let image: BuildFiles
        do {
            lowerDirs = try snapshots.prepare(state.image, content: content)
            image = try BuildFiles(lowerDirs: lowerDirs)
        } catch {
            throw BuildError("\(error)")
        }
        var spec = ContainerSpec(name: "build")
        spec.entrypoint = []
        spec.command = argv
        spec.env = env
        spec.network = options.network == .none ? .none : .host
        // An interrupted step is killed at once, as Docker cancels one: there is nothing to save.
        spec.stopTimeout = .zero
        let rootfs = RootFilesystem.image(
            RootFilesystem.ImageRoot(name: "build", manifest: nil, config: state.config, lowerDirs: lowerDirs))
        var runtime = Runtime(root: builder.root, supervisor: builder.supervisor)
        let quietOutput = options.quiet ? open("/dev/null", O_WRONLY | O_CLOEXEC) : -1
        defer { if quietOutput >= 0 { close(quietOutput) } }
        let result: BuildStepResult
        do {
            result = try runtime.runBuildStep(
                spec: spec, rootfs: rootfs, output: options.quiet ? quietOutput : options.output,
                errorOutput: options.quiet ? quietOutput : options.errorOutput,
                started: { BuildInterruption.active.set($0) })
            BuildInterruption.active.set(nil)
        } catch {
            BuildInterruption.active.set(nil)
            if BuildInterruption.active.wasInterrupted { throw BuildError("interrupted", exitCode: 130) }
            throw BuildError("\(error.description)", exitCode: error.exitCode)
        }
        defer { Runtime.removeBuildStep(result.layout) }
        for warning in runtime.warnings { log.say("warning: \(warning)") }
        if BuildInterruption.active.wasInterrupted { throw BuildError("interrupted", exitCode: 130) }
        guard result.exitCode == 0 else {
            throw BuildError("the command \(argv) returned a non-zero code: \(result.exitCode)")
        }
        MountStubs.remove(MountStubs.leftovers(upper: result.upper, image: image), from: result.upper)
        return try CopyStep.commit(directory: result.upper, onto: state, history: text, root: builder.root)
    }
}

/// The mount points the runtime makes (creating them when the image lacks them): they are not
/// a step's work and stay out of its layer, as BuildKit leaves them out.
enum MountStubs {
    static let files = ["etc/hostname", "etc/hosts", "etc/resolv.conf"]
    static let directories = ["proc", "sys", "dev"]

    /// What in `upper` only the mount points made, deepest first: the stubs the image lacks,
    /// and /etc when it holds nothing else and is the image's own (made there only as their
    /// parent, or copied up when they were created in it).
    static func leftovers(upper: String, image: BuildFiles?) -> [String] {
        func inImage(_ path: String) -> BuildFiles.Item? { image.flatMap { try? $0.item("/" + path) } }
        var out: [String] = []
        for path in files + directories where inImage(path) == nil {
            var st = stat()
            guard lstat(upper + "/" + path, &st) == 0 else { continue }
            let kind = st.st_mode & S_IFMT
            if (kind == S_IFREG && st.st_size == 0) || (kind == S_IFDIR && names(upper + "/" + path) == []) {
                out.append(path)
            }
        }
        var st = stat()
        if lstat(upper + "/etc", &st) == 0, st.st_mode & S_IFMT == S_IFDIR,
            Set(names(upper + "/etc") ?? ["?"]).isSubset(of: Set(out.map { ($0 as NSString).lastPathComponent })),
            !BuildFiles.isOpaque(upper + "/etc")
        {
            if let item = inImage("etc") {
                if item.kind == .directory && item.mode == st.st_mode & 0o7777 && item.uid == st.st_uid
                    && item.gid == st.st_gid
                {
                    out.append("etc")
                }
            } else {
                out.append("etc")
            }
        }
        return out
    }

    /// Removes them from a step's upper directory (a build's: never a running container's).
    static func remove(_ leftovers: [String], from upper: String) {
        for path in leftovers {
            let full = upper + "/" + path
            if rmdir(full) != 0 { unlink(full) }
        }
    }

    private static func names(_ path: String) -> [String]? {
        try? FileManager.default.contentsOfDirectory(atPath: path)
    }
}
