import BerthRuntime
import BerthStore
import Foundation

/// The instructions that change the image's configuration only (and WORKDIR, which also makes
/// its directory when the image lacks it).
enum Metadata {
    static func apply(_ instruction: Instruction, to state: inout BuildState, stage: inout StageBuild, run: BuildRun)
        throws(BuildError)
    {
        var settings = state.settings
        switch instruction.keyword {
        case "ENV", "LABEL":
            guard case .shell(let text) = instruction.arguments else { throw BuildError("needs KEY=VALUE pairs") }
            let pairs: [(String, String)]
            do {
                pairs = try ShellWords.keyValuePairs(
                    text, keyword: instruction.keyword, escape: run.dockerfile.escape,
                    env: stage.substitutionEnvironment)
            } catch { throw BuildError("\(error)") }
            guard !pairs.isEmpty else { throw BuildError("needs at least one KEY=VALUE") }
            for (key, value) in pairs {
                if instruction.keyword == "ENV" {
                    state.settings = settings
                    state.setEnvironment(key, value)
                    settings = state.settings
                } else {
                    var labels = settings.labels ?? [:]
                    labels[key] = value
                    settings.labels = labels
                }
            }
        case "WORKDIR":
            let words = try stage.words(instruction, run)
            guard words.count == 1 else { throw BuildError("needs exactly one path") }
            settings.workingDir = Self.join(settings.workingDir ?? "/", words[0])
        case "USER":
            let words = try stage.words(instruction, run)
            guard words.count == 1, !words[0].isEmpty else { throw BuildError("needs exactly one user") }
            settings.user = words[0]
        case "ENTRYPOINT":
            settings.entrypoint = try command(instruction, settings)
            if !stage.cmdSetHere { settings.cmd = nil }
        case "CMD":
            settings.cmd = try command(instruction, settings)
            stage.cmdSetHere = true
        case "EXPOSE":
            var ports = settings.exposedPorts ?? [:]
            for word in try stage.words(instruction, run) {
                ports[try Self.port(word)] = ImageConfig.Empty()
            }
            settings.exposedPorts = ports
        case "VOLUME":
            var volumes = settings.volumes ?? [:]
            let paths = try stage.words(instruction, run)
            guard !paths.isEmpty, paths.allSatisfy({ !$0.isEmpty }) else { throw BuildError("needs a path") }
            for path in paths { volumes[path] = ImageConfig.Empty() }
            settings.volumes = volumes
        case "STOPSIGNAL":
            let words = try stage.words(instruction, run)
            guard words.count == 1 else { throw BuildError("needs exactly one signal") }
            settings.stopSignal = words[0]
        case "SHELL":
            guard case .exec(let shell) = instruction.arguments, !shell.isEmpty else {
                throw BuildError("needs the JSON form: SHELL [\"executable\", \"parameters\"]")
            }
            settings.shell = shell
        case "HEALTHCHECK":
            guard case .healthcheck(let check) = instruction.arguments else { throw BuildError("malformed") }
            settings.healthcheck = try Self.healthcheck(check)
        case "MAINTAINER":
            guard case .shell(let text) = instruction.arguments else { throw BuildError("needs a name") }
            state.config.author = text
        case "ONBUILD":
            guard case .shell(let text) = instruction.arguments else { throw BuildError("needs an instruction") }
            settings.onBuild = (settings.onBuild ?? []) + [text]
        default:
            throw BuildError("unknown instruction")
        }
        state.settings = settings
    }

    /// Stores the changed state with its history; WORKDIR's directory becomes a layer when the
    /// image does not have it.
    static func finish(_ instruction: Instruction, _ state: BuildState, run: BuildRun) throws(BuildError)
        -> BuildState
    {
        var layer: WrittenLayer?
        if instruction.keyword == "WORKDIR", let path = state.settings.workingDir {
            layer = try CopyStep.makeDirectoryLayer(path, in: state, run: run)
        }
        return try state.adding(history: instruction.text, layer: layer, content: run.content)
    }

    static func command(_ instruction: Instruction, _ settings: ImageConfig.Config) throws(BuildError) -> [String] {
        switch instruction.arguments {
        case .exec(let argv): return argv
        case .shell(let text): return (settings.shell ?? ["/bin/sh", "-c"]) + [text]
        default: throw BuildError("needs a command")
        }
    }

    /// A path against the working directory, cleaned.
    static func join(_ base: String, _ path: String) -> String {
        let full = path.hasPrefix("/") ? path : base + "/" + path
        var parts: [Substring] = []
        for part in full.split(separator: "/") {
            if part == "." { continue }
            if part == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// "80", "53/udp", "8000-8010/tcp": as Docker keeps it, "PORT/PROTO".
    static func port(_ word: String) throws(BuildError) -> String {
        let parts = word.lowercased().split(separator: "/", omittingEmptySubsequences: false)
        let proto = parts.count > 1 ? String(parts[1]) : "tcp"
        let range = parts[0].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count <= 2, ["tcp", "udp", "sctp"].contains(proto), (1...2).contains(range.count),
            range.allSatisfy({ UInt16($0).map { $0 > 0 } ?? false })
        else { throw BuildError("invalid port \(word): expected PORT[/tcp|udp|sctp]") }
        return "\(parts[0])/\(proto)"
    }

    static func healthcheck(_ check: HealthcheckArguments) throws(BuildError) -> ImageConfig.HealthConfig {
        guard let test = check.test else { return ImageConfig.HealthConfig(test: ["NONE"]) }
        var config = ImageConfig.HealthConfig(test: test)
        config.interval = try check.interval.map { (t) throws(BuildError) in try duration(t, "--interval") }
        config.timeout = try check.timeout.map { (t) throws(BuildError) in try duration(t, "--timeout") }
        config.startPeriod = try check.startPeriod.map { (t) throws(BuildError) in try duration(t, "--start-period") }
        config.startInterval = try check.startInterval.map { (t) throws(BuildError) in
            try duration(t, "--start-interval")
        }
        if let retries = check.retries {
            guard let n = Int(retries), n >= 0 else {
                throw BuildError("--retries: expected a count, found \(retries)")
            }
            config.retries = n
        }
        return config
    }

    /// Go's duration syntax ("30s", "1m30s", "500ms", "1.5h") in nanoseconds.
    static func duration(_ text: String, _ flag: String) throws(BuildError) -> Int64 {
        let units: [(String, Double)] = [
            ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
        ]
        var rest = Substring(text)
        var total = 0.0
        guard !rest.isEmpty else { throw BuildError("\(flag): empty duration") }
        if rest == "0" { return 0 }
        while !rest.isEmpty {
            let number = rest.prefix { $0.isNumber || $0 == "." }
            rest = rest.dropFirst(number.count)
            guard let value = Double(number),
                let unit = units.filter({ rest.hasPrefix($0.0) }).max(by: { $0.0.count < $1.0.count })
            else { throw BuildError("\(flag): invalid duration \(text) (expected e.g. 30s, 1m30s, 500ms)") }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        return Int64(total)
    }
}
