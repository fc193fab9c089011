/// A parsed Containerfile/Dockerfile, as moby/buildkit's frontend/dockerfile/parser reads one.
/// Nothing is substituted here: ARG and ENV values are only known while building, so the
/// executor expands the raw arguments kept here with `ShellWords`.
public struct Dockerfile: Sendable, Equatable {
    /// The name used in errors, e.g. "Containerfile".
    public var file: String
    /// "\\" or "`" from the `# escape=` directive.
    public var escape: UInt8
    /// ARG instructions before the first FROM.
    public var globalArgs: [Instruction]
    public var stages: [Stage]

    /// Parses bytes (UTF-8; a BOM is skipped). Errors: BuildError naming file:line and instruction.
    public static func parse(_ bytes: [UInt8], file: String) throws(BuildError) -> Dockerfile {
        var parser = DockerfileParser(file: file)
        return try parser.parse(bytes)
    }

    /// Index of the stage named `name` (case-insensitive as Docker) or given by number.
    public func stageIndex(_ nameOrNumber: String) -> Int? {
        let name = nameOrNumber.lowercased()
        if let index = stages.firstIndex(where: { $0.name == name }) { return index }
        // Stage names cannot start with a digit, so a number is never also a name.
        guard !nameOrNumber.isEmpty, nameOrNumber.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let number = Int(nameOrNumber), number < stages.count
        else { return nil }
        return number
    }
}

public struct Stage: Sendable, Equatable {
    /// FROM's image argument, raw (before ARG substitution).
    public var base: String
    /// From `AS name`, lower-cased.
    public var name: String?
    /// FROM --platform=...
    public var platform: String?
    public var line: Int
    /// Everything after FROM up to the next FROM.
    public var instructions: [Instruction]
}

public struct Instruction: Sendable, Equatable {
    /// Upper-cased: RUN, COPY, ADD, ENV, ARG, WORKDIR, USER, ENTRYPOINT, CMD, EXPOSE, LABEL,
    /// VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, MAINTAINER, ONBUILD (and FROM, inside the parser).
    public var keyword: String
    /// Leading --name=value / --name flags, in order.
    public var flags: [Flag]
    public var arguments: Arguments
    /// Line of the instruction's first line (1-based).
    public var line: Int
    /// The instruction as written, continuation lines joined with the escape+newline removed
    /// (comment lines inside it dropped), for history as Docker's created_by.
    public var text: String

    /// Value of the last flag of that name; "" for a flag written without a value (`--link`).
    public func flag(_ name: String) -> String? {
        flags.last { $0.name == name }.map { $0.value ?? "" }
    }
}

public struct Flag: Sendable, Equatable {
    public var name: String
    /// nil when written without "=" (`--link`).
    public var value: String?
}

/// An instruction's arguments, by keyword:
/// - `exec`: the JSON array form of RUN, CMD, ENTRYPOINT, SHELL (which must use it), COPY, ADD
///   and VOLUME.
/// - `shell`: the rest of the line as one string: RUN, CMD, ENTRYPOINT in shell form; ENV,
///   LABEL and ARG raw (the executor calls `ShellWords.keyValuePairs` / `argDeclarations`);
///   ONBUILD (the trigger instruction as written); MAINTAINER.
/// - `words`: raw, not yet substituted: COPY, ADD, VOLUME (non-JSON) and EXPOSE split at
///   whitespace as Docker does (quotes do not group); USER, WORKDIR and STOPSIGNAL as one word,
///   the whole rest of the line (Docker takes `WORKDIR /a b` as the path "/a b").
/// - `healthcheck`: HEALTHCHECK.
public enum Arguments: Sendable, Equatable {
    case exec([String])
    case shell(String)
    case words([String])
    case healthcheck(HealthcheckArguments)
}

public struct HealthcheckArguments: Sendable, Equatable {
    /// nil for NONE; else ["CMD", ...] or ["CMD-SHELL", "..."].
    public var test: [String]?
    /// The flags as written (Go durations, validated; retries a validated integer).
    public var interval, timeout, startPeriod, startInterval: String?
    public var retries: String?
}

// MARK: - The parser

struct DockerfileParser {
    let file: String
    var escape: Unicode.Scalar = "\\"
    var directivesDone = false
    var directivesSeen: Set<String> = []

    init(file: String) {
        self.file = file
    }

    private enum FlagKind { case bool, string, strings }

    /// The flags each instruction accepts (buildkit's instructions/parse.go); any other is an
    /// error, as in Docker. The executor refuses the ones berth does not implement.
    private static let allowedFlags: [String: [String: FlagKind]] = [
        "FROM": ["platform": .string],
        "RUN": ["mount": .strings, "network": .string, "security": .string],
        "COPY": [
            "from": .string, "chown": .string, "chmod": .string, "link": .bool, "parents": .bool,
            "exclude": .strings,
        ],
        "ADD": [
            "chown": .string, "chmod": .string, "link": .bool, "keep-git-dir": .bool, "checksum": .string,
            "exclude": .strings, "unpack": .bool,
        ],
        "HEALTHCHECK": [
            "interval": .string, "timeout": .string, "start-period": .string, "start-interval": .string,
            "retries": .string,
        ],
    ]

    private static let keywords: Set<String> = [
        "FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "WORKDIR", "USER", "ENTRYPOINT", "CMD", "EXPOSE", "LABEL",
        "VOLUME", "STOPSIGNAL", "SHELL", "HEALTHCHECK", "MAINTAINER", "ONBUILD",
    ]

    mutating func parse(_ bytes: [UInt8]) throws(BuildError) -> Dockerfile {
        let lines = Self.lines(bytes)
        var globalArgs: [Instruction] = []
        var stages: [Stage] = []
        var sawInstruction = false
        var index = 0
        while index < lines.count {
            let start = index + 1
            var first = Self.trimLeft(lines[index])
            index += 1
            try directive(first, line: start)
            if first.unicodeScalars.first == "#" { first = "" }
            var (joined, ended) = continuation(first)
            if ended && joined.isEmpty { continue }
            while !ended && index < lines.count {
                let raw = lines[index]
                index += 1
                // Docker drops comment lines and blank lines inside a continued instruction.
                let trimmed = Self.trimLeft(raw)
                if trimmed.isEmpty || trimmed.unicodeScalars.first == "#" { continue }
                let part: String
                (part, ended) = continuation(raw)
                joined += part
            }
            sawInstruction = true
            let instruction = try instruction(joined, line: start, inOnBuild: false)
            if instruction.keyword == "FROM" {
                stages.append(try stage(instruction, existing: stages))
            } else if stages.isEmpty {
                guard instruction.keyword == "ARG" else {
                    throw error(
                        "no build stage in current context: only ARG may come before the first FROM",
                        line: start, instruction.keyword)
                }
                globalArgs.append(instruction)
            } else {
                stages[stages.count - 1].instructions.append(instruction)
            }
        }
        let last = max(lines.count, 1)
        guard sawInstruction else { throw BuildError("file with no instructions", file: file, line: last) }
        guard !stages.isEmpty else {
            throw BuildError(
                "the file contains no stages to build (no FROM)", file: file, line: last, instruction: "FROM")
        }
        return Dockerfile(file: file, escape: UInt8(escape.value), globalArgs: globalArgs, stages: stages)
    }

    /// Lines as Go's bufio.ScanLines gives them: split at "\n", one trailing "\r" removed, no empty
    /// last line after a final newline. A BOM at the start is dropped.
    private static func lines(_ bytes: [UInt8]) -> [String] {
        var bytes = bytes[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        return lines.map { line in
            String(decoding: line.last == 0x0D ? line.dropLast() : line, as: UTF8.self)
        }
    }

    private static func trimLeft(_ text: String) -> String {
        let scalars = text.unicodeScalars
        return String(scalars[(scalars.firstIndex { !ShellWords.isSpace($0) } ?? scalars.endIndex)...])
    }

    /// A parser directive (`# escape=`, `# syntax=`, `# check=`), recognised only in the leading
    /// comment lines: the first line that is not one ends them.
    private mutating func directive(_ line: String, line number: Int) throws(BuildError) {
        guard !directivesDone else { return }
        guard let (name, value) = Self.directiveParts(line), ["escape", "syntax", "check"].contains(name) else {
            directivesDone = true
            return
        }
        if directivesSeen.contains(name) {
            throw BuildError("only one \(name) parser directive can be used", file: file, line: number)
        }
        directivesSeen.insert(name)
        if name == "escape" {
            guard value == "\\" || value == "`" else {
                throw BuildError(
                    "invalid escape token '\(value)' does not match ` or \\", file: file, line: number)
            }
            escape = value.unicodeScalars.first!
        }
    }

    /// `#\s*name\s*=\s*value\s*` (Docker's regular expression), the name lower-cased.
    private static func directiveParts(_ line: String) -> (String, String)? {
        var rest = Substring(line).unicodeScalars[...]
        func isGoSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\u{0C}" || scalar == "\r"
        }
        func isASCIILetter(_ scalar: Unicode.Scalar) -> Bool {
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
        }
        guard rest.first == "#" else { return nil }
        rest = rest.dropFirst().drop(while: isGoSpace)
        guard let first = rest.first, isASCIILetter(first) else { return nil }
        let name = rest.prefix { isASCIILetter($0) || ($0 >= "0" && $0 <= "9") }
        rest = rest.dropFirst(name.count).drop(while: isGoSpace)
        guard rest.first == "=" else { return nil }
        rest = rest.dropFirst().drop(while: isGoSpace)
        while let last = rest.last, isGoSpace(last) { rest = rest.dropLast() }
        guard !rest.isEmpty else { return nil }
        return (String(String.UnicodeScalarView(name)).lowercased(), String(String.UnicodeScalarView(rest)))
    }

    /// The line without a trailing escape char (blanks after it allowed), and whether the
    /// instruction ends here.
    private func continuation(_ line: String) -> (String, Bool) {
        var scalars = line.unicodeScalars[...]
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        guard scalars.last == escape else { return (line, true) }
        return (String(String.UnicodeScalarView(scalars.dropLast())), false)
    }

    private func error(_ message: String, line: Int, _ keyword: String) -> BuildError {
        BuildError(message, file: file, line: line, instruction: keyword)
    }

    // MARK: Instructions

    private func instruction(_ joined: String, line: Int, inOnBuild: Bool) throws(BuildError) -> Instruction {
        let text = ShellWords.trimSpace(joined)
        let parts = ShellWords.splitOnceAtBlanks(text)
        let keyword = parts[0].uppercased()
        guard Self.keywords.contains(keyword) else {
            throw error("unknown instruction: \(keyword)", line: line, keyword)
        }
        let (rest, flagWords) = Self.extractFlags(parts.count > 1 ? parts[1] : "")
        let args = ShellWords.trimSpace(rest)
        let flags = try self.flags(flagWords, keyword: keyword, line: line)
        var arguments: Arguments
        do throws(ShellWords.Failure) {
            arguments = try self.arguments(keyword, args, line: line, inOnBuild: inOnBuild)
            if case .healthcheck(var check) = arguments {
                try healthcheckFlags(flags, into: &check)
                arguments = .healthcheck(check)
            }
        } catch {
            throw self.error(error.message, line: line, keyword)
        }
        return Instruction(keyword: keyword, flags: flags, arguments: arguments, line: line, text: text)
    }

    private func arguments(_ keyword: String, _ args: String, line: Int, inOnBuild: Bool) throws(ShellWords.Failure)
        -> Arguments
    {
        typealias Failure = ShellWords.Failure
        switch keyword {
        case "RUN", "CMD", "ENTRYPOINT", "SHELL":
            if args.isEmpty { throw Failure("\(keyword) requires at least one argument") }
            if let list = Self.jsonStringArray(args) {
                if list.isEmpty && (keyword == "RUN" || keyword == "SHELL") {
                    throw Failure("\(keyword) requires at least one argument")
                }
                return .exec(list)
            }
            if keyword == "SHELL" { throw Failure("SHELL requires the arguments to be in JSON form") }
            if keyword == "RUN" { try refuseHeredoc(args) }
            return .shell(args)
        case "COPY", "ADD":
            let json = Self.jsonStringArray(args)
            if json == nil { try refuseHeredoc(args) }
            let list = json ?? ShellWords.splitAtBlanks(args)
            if list.isEmpty { throw Failure("\(keyword) requires at least two arguments") }
            if list.count == 1 {
                throw Failure(
                    "\(keyword) requires at least two arguments, but only one was provided. "
                        + "Destination could not be determined.")
            }
            return json == nil ? .words(list) : .exec(list)
        case "VOLUME":
            let json = Self.jsonStringArray(args)
            let list = json ?? ShellWords.splitAtBlanks(args)
            if list.isEmpty { throw Failure("VOLUME requires at least one argument") }
            if list.contains(where: { ShellWords.trimSpace($0).isEmpty }) {
                throw Failure("VOLUME specified can not be an empty string")
            }
            return json.map { .exec($0) } ?? .words(list)
        case "EXPOSE", "FROM":
            let list = ShellWords.splitAtBlanks(args)
            if list.isEmpty && keyword == "EXPOSE" { throw Failure("EXPOSE requires at least one argument") }
            return .words(list)
        case "USER", "WORKDIR", "STOPSIGNAL":
            if args.isEmpty { throw Failure("\(keyword) requires exactly one argument") }
            return .words([args])
        case "MAINTAINER":
            if args.isEmpty { throw Failure("MAINTAINER requires exactly one argument") }
            return .shell(args)
        case "ENV", "LABEL":
            _ = try ShellWords.rawKeyValuePairs(args, keyword: keyword, escape: UInt8(escape.value))
            return .shell(args)
        case "ARG":
            _ = try ShellWords.rawArgDeclarations(args, escape: UInt8(escape.value))
            return .shell(args)
        case "HEALTHCHECK":
            return .healthcheck(try healthcheck(args))
        case "ONBUILD":
            if args.isEmpty { throw Failure("ONBUILD requires at least one argument") }
            let trigger = ShellWords.splitOnceAtBlanks(args)[0].uppercased()
            switch trigger {
            case "ONBUILD": throw Failure("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            case "FROM", "MAINTAINER": throw Failure("\(trigger) isn't allowed as an ONBUILD trigger")
            default: break
            }
            // The trigger runs in a later build, but its syntax is checked now, as Docker does.
            do throws(BuildError) {
                _ = try instruction(args, line: line, inOnBuild: true)
            } catch {
                throw Failure(error.message)
            }
            return .shell(args)
        default:
            throw Failure("unknown instruction: \(keyword)")
        }
    }

    /// Heredocs (`RUN <<EOF`, `COPY <<EOF /x`) would swallow the following lines; refused.
    private func refuseHeredoc(_ args: String) throws(ShellWords.Failure) {
        for word in ShellWords.rawWords(args, escape: UInt8(escape.value)) where Self.isHeredoc(word) {
            throw ShellWords.Failure("heredocs are not supported")
        }
    }

    /// buildkit's `^(\d*)<<(-?)\s*([^<]*)$` with a non-empty name.
    static func isHeredoc(_ word: String) -> Bool {
        var rest = word.unicodeScalars[...].drop { $0 >= "0" && $0 <= "9" }
        guard rest.starts(with: "<<".unicodeScalars) else { return false }
        rest = rest.dropFirst(2)
        if rest.first == "-" { rest = rest.dropFirst() }
        rest = rest.drop(while: ShellWords.isSpace)
        return !rest.isEmpty && !rest.contains("<")
    }

    private func healthcheck(_ args: String) throws(ShellWords.Failure) -> HealthcheckArguments {
        typealias Failure = ShellWords.Failure
        let scalars = args.unicodeScalars
        guard !args.isEmpty else { throw Failure("HEALTHCHECK requires at least one argument") }
        let end = scalars.firstIndex(where: ShellWords.isSpace) ?? scalars.endIndex
        let type = String(String.UnicodeScalarView(scalars[..<end])).uppercased()
        let command = String(String.UnicodeScalarView(scalars[end...].drop(while: ShellWords.isSpace)))
        switch type {
        case "NONE":
            if !command.isEmpty { throw Failure("HEALTHCHECK NONE takes no arguments") }
            return HealthcheckArguments(test: nil)
        case "CMD":
            let test: [String]
            if let list = Self.jsonStringArray(command) {
                test = ["CMD"] + list
            } else {
                test = ["CMD-SHELL", command]
            }
            if command.isEmpty || test.count == 1 { throw Failure("Missing command after HEALTHCHECK CMD") }
            return HealthcheckArguments(test: test)
        default:
            throw Failure("Unknown type \(ShellWords.quoted(type)) in HEALTHCHECK (try CMD)")
        }
    }

    /// Fills in and checks HEALTHCHECK's flags (they are parsed with the other flags).
    private func healthcheckFlags(_ flags: [Flag], into check: inout HealthcheckArguments) throws(ShellWords.Failure) {
        guard check.test != nil else { return }
        for flag in flags {
            let value = flag.value ?? ""
            if flag.name == "retries" {
                guard let retries = Int32(value) else {
                    throw ShellWords.Failure("--retries: invalid number \(ShellWords.quoted(value))")
                }
                if retries < 0 { throw ShellWords.Failure("--retries cannot be negative (\(retries))") }
                check.retries = value
                continue
            }
            // Go's time.ParseDuration; 0 means the default, anything else must be at least 1ms.
            guard let nanoseconds = Self.goDuration(value) else {
                throw ShellWords.Failure("--\(flag.name): time: invalid duration \(ShellWords.quoted(value))")
            }
            if nanoseconds != 0 && nanoseconds < 1_000_000 {
                throw ShellWords.Failure("--\(flag.name)=\(value) cannot be less than 1ms")
            }
            switch flag.name {
            case "interval": check.interval = value
            case "timeout": check.timeout = value
            case "start-period": check.startPeriod = value
            default: check.startInterval = value
            }
        }
    }

    /// Go's time.ParseDuration, in nanoseconds ("1h2m3.5s", "300ms", "-1s"); nil when malformed.
    static func goDuration(_ text: String) -> Double? {
        var rest = text.unicodeScalars[...]
        var negative = false
        if let sign = rest.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            rest = rest.dropFirst()
        }
        if rest.elementsEqual("0".unicodeScalars) { return 0 }
        if rest.isEmpty { return nil }
        let isDigit = { (scalar: Unicode.Scalar) in scalar >= "0" && scalar <= "9" }
        var total = 0.0
        while !rest.isEmpty {
            let whole = rest.prefix(while: isDigit)
            rest = rest.dropFirst(whole.count)
            var fraction = Substring.UnicodeScalarView.SubSequence()
            if rest.first == "." {
                rest = rest.dropFirst()
                fraction = rest.prefix(while: isDigit)
                rest = rest.dropFirst(fraction.count)
            }
            if whole.isEmpty && fraction.isEmpty { return nil }
            let unit = String(String.UnicodeScalarView(rest.prefix { !isDigit($0) && $0 != "." }))
            rest = rest.dropFirst(unit.unicodeScalars.count)
            let scale: Double
            switch unit {
            case "ns": scale = 1
            case "us", "\u{B5}s", "\u{3BC}s": scale = 1e3
            case "ms": scale = 1e6
            case "s": scale = 1e9
            case "m": scale = 60e9
            case "h": scale = 3600e9
            default: return nil
            }
            let digits =
                "0" + String(String.UnicodeScalarView(whole)) + "." + String(String.UnicodeScalarView(fraction))
            total += (Double(digits + "0") ?? 0) * scale
        }
        return negative ? -total : total
    }

    private func stage(_ from: Instruction, existing: [Stage]) throws(BuildError) -> Stage {
        guard case .words(let words) = from.arguments else { throw error("malformed FROM", line: from.line, "FROM") }
        var name: String?
        if words.count == 3 && words[1].lowercased() == "as" {
            let lowered = words[2].lowercased()
            guard Self.isValidStageName(lowered) else {
                throw error(
                    "invalid name for build stage: \(ShellWords.quoted(words[2])), "
                        + "name can't start with a number or contain symbols", line: from.line, "FROM")
            }
            if existing.contains(where: { $0.name == lowered }) {
                throw error("duplicate stage name \(ShellWords.quoted(lowered))", line: from.line, "FROM")
            }
            name = lowered
        } else if words.count != 1 {
            throw error("FROM requires either one or three arguments", line: from.line, "FROM")
        }
        return Stage(base: words[0], name: name, platform: from.flag("platform"), line: from.line, instructions: [])
    }

    /// `^[a-z][a-z0-9-_.]*$`
    private static func isValidStageName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first >= "a" && first <= "z" else { return false }
        return name.unicodeScalars.allSatisfy {
            ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" || $0 == "_" || $0 == "."
        }
    }

    // MARK: Flags

    /// buildkit's extractBuilderFlags: the leading words starting with "--" (quotes and
    /// backslashes processed in them), and the rest of the line. A "--" word ends the flags.
    static func extractFlags(_ line: String) -> (rest: String, flags: [String]) {
        let scalars = Array(line.unicodeScalars)
        enum Phase { case spaces, word, quote }
        var phase = Phase.spaces
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var quote: Unicode.Scalar = "\""
        var blankOK = false
        var pos = -1
        while pos < scalars.count {
            pos += 1
            let atEnd = pos == scalars.count
            if phase == .spaces {
                if atEnd { break }
                if ShellWords.isSpace(scalars[pos]) { continue }
                guard scalars[pos] == "-", pos + 1 < scalars.count, scalars[pos + 1] == "-" else {
                    return (String(String.UnicodeScalarView(scalars[pos...])), words)
                }
                phase = .word
            }
            if atEnd {
                let text = String(word)
                if text != "--" && (blankOK || !text.isEmpty) { words.append(text) }
                break
            }
            var ch = scalars[pos]
            if phase == .word {
                if ShellWords.isSpace(ch) {
                    phase = .spaces
                    let text = String(word)
                    if text == "--" { return (String(String.UnicodeScalarView(scalars[pos...])), words) }
                    if blankOK || !text.isEmpty { words.append(text) }
                    word = String.UnicodeScalarView()
                    blankOK = false
                    continue
                }
                if ch == "'" || ch == "\"" {
                    quote = ch
                    blankOK = true
                    phase = .quote
                    continue
                }
            } else if ch == quote {
                phase = .word
                continue
            }
            if ch == "\\" {
                if pos + 1 == scalars.count {
                    phase = .word
                    continue
                }
                pos += 1
                ch = scalars[pos]
            }
            word.append(ch)
        }
        return ("", words)
    }

    /// buildkit's BFlags.Parse against the instruction's flags.
    private func flags(_ words: [String], keyword: String, line: Int) throws(BuildError) -> [Flag] {
        let allowed = Self.allowedFlags[keyword] ?? [:]
        var flags: [Flag] = []
        for word in words {
            let body = word.dropFirst(2)
            let equals = body.firstIndex(of: "=")
            let name = String(body[..<(equals ?? body.endIndex)])
            let value = equals.map { String(body[body.index(after: $0)...]) }
            guard let kind = allowed[name] else { throw error("unknown flag: \(name)", line: line, keyword) }
            if kind != .strings && flags.contains(where: { $0.name == name }) {
                throw error("duplicate flag specified: \(name)", line: line, keyword)
            }
            switch kind {
            case .bool:
                if let value, !["true", "false"].contains(value.lowercased()) {
                    throw error(
                        value.isEmpty
                            ? "missing a value on flag: \(name)"
                            : "expecting boolean value for flag \(name), not: \(value)", line: line, keyword)
                }
            case .string, .strings:
                if value == nil { throw error("missing a value on flag: \(name)", line: line, keyword) }
            }
            flags.append(Flag(name: name, value: value))
        }
        return flags
    }

    // MARK: JSON

    /// The strings of a JSON array of strings (the whole text, whitespace around allowed), or
    /// nil: anything else is shell form.
    static func jsonStringArray(_ text: String) -> [String]? {
        var reader = JSONReader(bytes: Array(text.utf8))
        return reader.stringArray()
    }
}

/// A strict reader of one JSON array of strings (RFC 8259 strings: escapes, \u with surrogate
/// pairs, no raw control characters).
private struct JSONReader {
    let bytes: [UInt8]
    var pos = 0

    mutating func stringArray() -> [String]? {
        skipWhitespace()
        guard take(0x5B) else { return nil }  // [
        var strings: [String] = []
        skipWhitespace()
        if !take(0x5D) {  // ]
            while true {
                guard let string = string() else { return nil }
                strings.append(string)
                skipWhitespace()
                if take(0x2C) {  // ,
                    skipWhitespace()
                    continue
                }
                guard take(0x5D) else { return nil }
                break
            }
        }
        skipWhitespace()
        return pos == bytes.count ? strings : nil
    }

    private mutating func take(_ byte: UInt8) -> Bool {
        guard pos < bytes.count, bytes[pos] == byte else { return false }
        pos += 1
        return true
    }

    private mutating func skipWhitespace() {
        while pos < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[pos]) { pos += 1 }
    }

    private mutating func string() -> String? {
        guard take(0x22) else { return nil }
        var out: [UInt8] = []
        while pos < bytes.count {
            let byte = bytes[pos]
            pos += 1
            switch byte {
            case 0x22:
                return String(decoding: out, as: UTF8.self)
            case 0x5C:
                guard pos < bytes.count else { return nil }
                let escaped = bytes[pos]
                pos += 1
                switch escaped {
                case 0x22, 0x5C, 0x2F: out.append(escaped)
                case 0x62: out.append(0x08)
                case 0x66: out.append(0x0C)
                case 0x6E: out.append(0x0A)
                case 0x72: out.append(0x0D)
                case 0x74: out.append(0x09)
                case 0x75:
                    guard var code = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(code), bytes[pos...].starts(with: [0x5C, 0x75]) {
                        let saved = pos
                        pos += 2
                        if let low = hex4(), (0xDC00..<0xE000).contains(low) {
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            pos = saved
                        }
                    }
                    // A lone surrogate becomes U+FFFD, as Go's decoder does.
                    out.append(contentsOf: Array(String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8))
                default:
                    return nil
                }
            default:
                if byte < 0x20 { return nil }
                out.append(byte)
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard pos + 4 <= bytes.count, bytes[pos..<pos + 4].allSatisfy({ $0 != 0x2B && $0 != 0x2D }),
            let value = UInt32(String(decoding: bytes[pos..<pos + 4], as: UTF8.self), radix: 16)
        else { return nil }
        pos += 4
        return value
    }
}
