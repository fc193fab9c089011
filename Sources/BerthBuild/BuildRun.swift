import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// One build in progress: its stages, each built once when the target or another stage
/// (FROM, COPY --from) needs it.
struct BuildRun {
    let builder: Builder
    let options: BuildOptions
    let dockerfile: Dockerfile
    let content: ContentStore
    let cache: BuildCache
    let ignore: IgnorePatterns
    /// ARGs before the first FROM: usable in FROM lines, and in a stage that declares them again.
    var globalArgs: [String: String] = [:]
    var built: [Int: BuildState] = [:]
    var stepsRun = 0
    var stepsCached = 0
    var log: BuildLog

    init(builder: Builder, options: BuildOptions, dockerfile: Dockerfile) throws(BuildError) {
        self.builder = builder
        self.options = options
        self.dockerfile = dockerfile
        content = ContentStore(root: builder.root)
        cache = BuildCache(root: builder.root)
        log = BuildLog(fd: options.output, quiet: options.quiet)
        var patterns = ""
        for name in [".containerignore", ".dockerignore"] {
            if let data = FileManager.default.contents(atPath: options.context + "/" + name) {
                patterns = String(decoding: data, as: UTF8.self)
                break
            }
        }
        ignore = IgnorePatterns(fileContents: patterns)
        for instruction in dockerfile.globalArgs {
            for (name, value) in try Self.argDeclarations(instruction, dockerfile: dockerfile, env: globalArgs) {
                globalArgs[name] = options.buildArgs[name] ?? value ?? globalArgs[name]
            }
        }
    }

    /// `ARG A B=default`: each name with its default (substituted), or nil.
    static func argDeclarations(_ instruction: Instruction, dockerfile: Dockerfile, env: [String: String])
        throws(BuildError) -> [(String, String?)]
    {
        guard case .shell(let text) = instruction.arguments else { return [] }
        do {
            return try ShellWords.argDeclarations(text, escape: dockerfile.escape, env: env).map { ($0.name, $0.value) }
        } catch {
            throw BuildError("\(error)", file: dockerfile.file, line: instruction.line, instruction: "ARG")
        }
    }

    /// The state at the end of stage `index`.
    mutating func stage(_ index: Int) throws(BuildError) -> BuildState {
        if let state = built[index] { return state }
        let stage = dockerfile.stages[index]
        // The stages this one reads, first: their steps are shown before its own.
        var dependencies = [stage.base]
        for instruction in stage.instructions where ["COPY", "ADD"].contains(instruction.keyword) {
            if let from = instruction.flag("from") { dependencies.append(from) }
        }
        for name in dependencies {
            if let other = dockerfile.stageIndex(name), other < index { _ = try self.stage(other) }
        }
        var step = try StageBuild(run: &self, stage: stage, index: index)
        let state = try step.build(&self)
        built[index] = state
        return state
    }

    /// The base of a FROM or the source of COPY --from: an earlier stage by name or number, or
    /// an image (pulled when the store lacks it). Returns the state and its cache key's part.
    mutating func base(_ reference: String, before index: Int, line: Int, keyword: String) throws(BuildError)
        -> BuildState
    {
        if reference.lowercased() == "scratch" { return try BuildState.scratch(content: content) }
        if let stage = dockerfile.stageIndex(reference), stage < index { return try self.stage(stage) }
        let images = ImageStore(root: builder.root)
        do {
            var entry: ImageEntry?
            if let name = ImageName.full(reference) { entry = try images.find(name) }
            if entry == nil { entry = try images.find(reference) }
            if entry == nil {
                log.say("Pulling \(reference)")
                entry = try builder.pull(reference)
            }
            guard let entry else { throw BuildError("image \(reference) not found") }
            return try BuildState.load(entry.manifest.digest, content: content)
        } catch let error as BuildError {
            throw BuildError(error.message, file: dockerfile.file, line: line, instruction: keyword)
        } catch {
            throw BuildError("\(error)", file: dockerfile.file, line: line, instruction: keyword)
        }
    }
}

/// What a build tells its user: each step as Docker's classic builder prints it, cached or not.
struct BuildLog {
    let fd: Int32
    let quiet: Bool

    func say(_ line: String) {
        guard !quiet else { return }
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
