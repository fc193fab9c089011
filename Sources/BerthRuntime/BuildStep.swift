import BerthSpec
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What a build's RUN step left: its exit status, and its writable layer (overlay upper form)
/// for the builder to turn into an image layer.
public struct BuildStepResult: Sendable {
    public var exitCode: Int32
    public var layout: ContainerLayout
    public var upper: String { layout.upper }
}

extension Runtime {
    /// A build's RUN step: a container like any other (the same isolation, seccomp filter and
    /// capabilities), but with no name, its state in ROOT/builds/ID, and its own scope
    /// (`berthbuild-ID.scope` in berth-build.slice), so it can never take or shadow a
    /// container's. Its output goes to `output` and `errorOutput` and to journald; this returns
    /// when it has ended. The caller takes its upper directory, then calls `removeBuildStep`.
    /// `started` is told the step's layout once its supervisor runs (to stop it on Ctrl-C).
    public mutating func runBuildStep(
        spec: ContainerSpec, rootfs: RootFilesystem, output: Int32 = 1, errorOutput: Int32 = 2,
        started onStart: ((ContainerLayout) -> Void)? = nil
    ) throws(RuntimeError) -> BuildStepResult {
        let layout = ContainerLayout(root: root, id: Self.newID(), group: "builds")
        try Files.makeDirectories([layout.containers], mode: 0o700)
        try Files.makeDirectories([layout.upper, layout.work, layout.merged])
        let info: ContainerInfo
        do {
            let record = try prepare(
                spec: spec, layout: layout, rootfs: rootfs, options: CreateOptions(), buildStep: true)
            info = ContainerInfo(record: record, state: nil, supervisorAlive: false, layout: layout)
        } catch {
            Files.removeTree(layout.directory)
            throw error
        }
        let started: StartedContainer
        do {
            started = try start(
                info,
                attach: AttachOptions(
                    stdin: false, stdinOnce: false, size: nil, output: output, errorOutput: errorOutput))
        } catch {
            Files.removeTree(layout.directory)
            throw error
        }
        onStart?(layout)
        let code = try Self.waitForExit(started)
        try? Self.waitForSupervisor(layout)
        return BuildStepResult(exitCode: code, layout: layout)
    }

    /// Stops a step that is still running (the build was interrupted) and removes its state.
    public static func removeBuildStep(_ layout: ContainerLayout) {
        if ContainerStore.supervisorHoldsLock(layout) {
            try? stopScope(ContainerLayout.buildStepUnitName(layout.id))
            try? waitForSupervisor(layout)
        }
        Files.removeTree(layout.directory)
    }

    /// What interrupted builds left in ROOT/builds: steps whose supervisor is gone, once they are
    /// a minute old (a step being set up has no supervisor yet).
    public static func collectBuildSteps(root: String, minimumAge: TimeInterval = 60) {
        let dir = root + "/builds"
        for id in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where id.count == 64 {
            let layout = ContainerLayout(root: root, id: id, group: "builds")
            guard !ContainerStore.supervisorHoldsLock(layout),
                let modified = (try? FileManager.default.attributesOfItem(atPath: layout.directory))?[.modificationDate]
                    as? Date, Date().timeIntervalSince(modified) >= minimumAge
            else { continue }
            Files.removeTree(layout.directory)
        }
    }

    /// The exit status the supervisor reports to the attached connection.
    static func waitForExit(_ started: StartedContainer) throws(RuntimeError) -> Int32 {
        guard let connection = started.connection else { throw RuntimeError(125, "the step was not attached") }
        while true {
            switch SupervisorReply(try connection.receive()) {
            case .exit(let code): return code
            case .error(let code, let message): throw RuntimeError(code, message)
            case .pid, .detached, .ok: continue
            case .terminal(let fd):
                close(fd)
                continue
            case .closed:
                if let text = Files.readText(started.layout.stateFile), let state = ContainerState(parsing: text),
                    state.status == "exited"
                {
                    return state.exitCode
                }
                throw RuntimeError(125, "lost the build step's supervisor")
            }
        }
    }
}
