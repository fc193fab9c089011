import BerthRuntime
import BerthSpec
import BerthStore
import Foundation

/// One stage's instructions applied in order to its state. Each instruction has a cache key:
/// the key before it, the instruction with its arguments after substitution and, for COPY and
/// ADD, the digest of what they copy. A key found in the cache gives the stored state without
/// running anything.
struct StageBuild {
    let stage: Stage
    let index: Int
    var state: BuildState
    var key: Digest
    /// The ARGs the stage declared, with their values.
    var args: [String: String] = [:]
    /// Whether CMD was set in this stage (an ENTRYPOINT clears an inherited CMD, as Docker's).
    var cmdSetHere = false

    init(run: inout BuildRun, stage: Stage, index: Int) throws(BuildError) {
        self.stage = stage
        self.index = index
        let base: String
        do {
            base = try ShellWords.expand(stage.base, escape: run.dockerfile.escape, env: run.globalArgs)
        } catch {
            throw BuildError("\(error)", file: run.dockerfile.file, line: stage.line, instruction: "FROM")
        }
        state = try run.base(base, before: index, line: stage.line, keyword: "FROM")
        key = Digest(of: Array("FROM \(state.manifest)".utf8))
    }

    /// Runs the stage; `run` is passed in so that COPY --from can build other stages.
    mutating func build(_ run: inout BuildRun) throws(BuildError) -> BuildState {
        let total = stage.instructions.count + 1
        run.log.say("STEP \(1)/\(total): FROM \(stage.base)\(stage.name.map { " AS \($0)" } ?? "")")
        for (n, instruction) in stage.instructions.enumerated() {
            run.log.say("STEP \(n + 2)/\(total): \(instruction.text)")
            do {
                try apply(instruction, &run)
            } catch let error where error.file == nil {
                throw BuildError(
                    error.message, file: run.dockerfile.file, line: instruction.line, instruction: instruction.keyword,
                    exitCode: error.exitCode)
            }
        }
        return state
    }

    /// The variables substitution sees: the ARGs, under the image's ENV (ENV wins, as Docker's).
    var substitutionEnvironment: [String: String] { args.merging(state.environment) { $1 } }

    func expand(_ word: String, _ run: BuildRun) throws(BuildError) -> String {
        do { return try ShellWords.expand(word, escape: run.dockerfile.escape, env: substitutionEnvironment) } catch {
            throw BuildError("\(error)")
        }
    }

    func words(_ instruction: Instruction, _ run: BuildRun) throws(BuildError) -> [String] {
        switch instruction.arguments {
        case .exec(let list): return try list.map { (w) throws(BuildError) in try expand(w, run) }
        case .words(let list): return try list.map { (w) throws(BuildError) in try expand(w, run) }
        case .shell(let text):
            do {
                return try ShellWords.split(text, escape: run.dockerfile.escape, env: substitutionEnvironment)
            } catch { throw BuildError("\(error)") }
        case .healthcheck: return []
        }
    }

    mutating func apply(_ instruction: Instruction, _ run: inout BuildRun) throws(BuildError) {
        switch instruction.keyword {
        case "ARG":
            for (name, value) in try BuildRun.argDeclarations(
                instruction, dockerfile: run.dockerfile, env: substitutionEnvironment)
            {
                args[name] = run.options.buildArgs[name] ?? value ?? run.globalArgs[name] ?? args[name]
                // The value is part of every later step's key: a new --build-arg runs them again.
                key = Digest(of: Array("\(key)\nARG \(name)=\(args[name] ?? "<unset>")".utf8))
            }
        case "RUN":
            let argv = try runArguments(instruction, run)
            let env = args.filter { state.environment[$0.key] == nil }.sorted { $0.key < $1.key }
            let description = "RUN \(argv) \(env.map { "\($0.key)=\($0.value)" })"
            var options = run.options
            switch instruction.flag("network") {
            case nil, "default": break
            case "none": options.network = .none
            case "host": options.network = .host
            case let other?: throw BuildError("--network=\(other): expected default, none or host")
            }
            try step(description, instruction, &run) { (this, run) throws(BuildError) in
                try RunStep(builder: run.builder, options: options, log: run.log).run(
                    argv: argv, env: Dictionary(uniqueKeysWithValues: env), on: this.state, shownAs: instruction.text)
            }
        case "COPY", "ADD":
            let copy = try CopyStep(instruction: instruction, words: words(instruction, run), stage: self, run: &run)
            let description = "\(instruction.keyword) \(copy.description)"
            try step(description, instruction, &run, extra: try copy.sourceDigest()) { (this, run) throws(BuildError) in
                try copy.perform(on: this.state, run: run)
            }
        default:
            var changed = state
            try Metadata.apply(instruction, to: &changed, stage: &self, run: run)
            let description =
                "\(instruction.keyword) \(changed.settings.hashDescription) \(changed.config.author ?? "")"
            try step(description, instruction, &run) { (_, run) throws(BuildError) in
                try Metadata.finish(instruction, changed, run: run)
            }
        }
    }

    /// Runs (or finds in the cache) one step whose result is a new state.
    mutating func step(
        _ description: String, _ instruction: Instruction, _ run: inout BuildRun, extra: String = "",
        _ perform: (StageBuild, BuildRun) throws(BuildError) -> BuildState
    ) throws(BuildError) {
        let next = Digest(of: Array("\(key)\n\(description)\n\(extra)".utf8))
        if !run.options.noCache, let manifest = run.cache.lookup(next), run.content.contains(manifest),
            let cached = try? BuildState.load(manifest, content: run.content)
        {
            run.log.say("--> Using cache \(cached.configDescriptor.digest.hex.prefix(12))")
            run.stepsCached += 1
            state = cached
        } else {
            state = try perform(self, run)
            try run.cache.record(next, state.manifest)
            run.stepsRun += 1
            run.log.say("--> \(state.configDescriptor.digest.hex.prefix(12))")
        }
        key = next
        if instruction.keyword == "CMD" { cmdSetHere = true }
    }

    /// RUN's command: the exec form as written, the shell form through the image's SHELL.
    func runArguments(_ instruction: Instruction, _ run: BuildRun) throws(BuildError) -> [String] {
        for flag in instruction.flags where flag.name != "network" {
            throw BuildError("the flag --\(flag.name) is not supported")
        }
        switch instruction.arguments {
        case .exec(let argv):
            guard !argv.isEmpty else { throw BuildError("RUN needs a command") }
            return argv
        case .shell(let command): return (state.settings.shell ?? ["/bin/sh", "-c"]) + [command]
        default: throw BuildError("RUN needs a command")
        }
    }
}

extension ImageConfig.Config {
    /// The settings as text for a cache key (keys sorted, so equal settings give equal text).
    var hashDescription: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }
}

extension BuildState {
    /// The state with one more history entry (and, when given, one more layer), stored.
    func adding(
        history createdBy: String, layer: WrittenLayer?, content: ContentStore
    ) throws(BuildError) -> BuildState {
        var config = self.config
        var layers = self.layers
        var entry = ImageConfig.History(createdBy: createdBy, emptyLayer: layer == nil ? true : nil)
        entry.created = Timestamp.now()
        config.created = entry.created
        config.history = (config.history ?? []) + [entry]
        if let layer {
            layers.append(layer.descriptor)
            config.rootfs.diffIDs.append(layer.diffID)
        }
        return try BuildState.store(config: config, layers: layers, content: content)
    }
}
