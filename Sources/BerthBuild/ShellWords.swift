/// Docker's shell lexer (buildkit's frontend/dockerfile/shell `Lex`): quote removal, the escape
/// character and variable substitution, for the instructions Docker expands itself (COPY, ADD,
/// ENV, LABEL, ARG, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, FROM). RUN, CMD and ENTRYPOINT in
/// shell form are left to the shell.
public enum ShellWords {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }

        public init(_ message: String) {
            self.message = message
        }
    }

    /// One word: quotes removed ('...' literal, "..." with escapes of \ $ " and the escape char),
    /// the escape char escapes the next char, variables substituted.
    public static func expand(_ word: String, escape: UInt8, env: [String: String]) throws(Failure) -> String {
        var lexer = Lexer(word, escape: escape, env: env)
        return try lexer.process().word
    }

    /// Splits a string into words as Docker's ProcessWords does (whitespace separates unless
    /// quoted/escaped), each expanded. A substituted value is split at its whitespace too, and
    /// empty words (`""`) are dropped, as Docker does.
    public static func split(_ text: String, escape: UInt8, env: [String: String]) throws(Failure) -> [String] {
        var lexer = Lexer(text, escape: escape, env: env)
        return try lexer.process().words
    }

    /// The pairs of an ENV or LABEL instruction's raw arguments, keys and values substituted:
    /// `k=v k2="v 2"` (one pair per word), or the legacy `k v w` (one pair, the value is the rest
    /// of the line). Every pair is substituted with the same `env`, the one from before the
    /// instruction, as Docker does (`ENV a=1 b=$a` gives b the earlier a).
    ///
    /// With keyword "ARG" the ARG syntax applies instead (`NAME` or `NAME=default`, one or more);
    /// a name without a default gets "" here, `argDeclarations` keeps the difference.
    public static func keyValuePairs(
        _ raw: String, keyword: String, escape: UInt8, env: [String: String]
    ) throws(Failure) -> [(String, String)] {
        if keyword.uppercased() == "ARG" {
            return try argDeclarations(raw, escape: escape, env: env).map { ($0.name, $0.value ?? "") }
        }
        var pairs: [(String, String)] = []
        for (key, value) in try rawKeyValuePairs(raw, keyword: keyword, escape: escape) {
            pairs.append((try expand(key, escape: escape, env: env), try expand(value, escape: escape, env: env)))
        }
        return pairs
    }

    /// The declarations of an ARG instruction's raw arguments: `NAME` (value nil) or
    /// `NAME=default`, names and defaults substituted with `env`.
    public static func argDeclarations(
        _ raw: String, escape: UInt8, env: [String: String]
    ) throws(Failure) -> [(name: String, value: String?)] {
        var declarations: [(name: String, value: String?)] = []
        for (name, value) in try rawArgDeclarations(raw, escape: escape) {
            let expanded = try value.map { (value) throws(Failure) in try expand(value, escape: escape, env: env) }
            declarations.append((try expand(name, escape: escape, env: env), expanded))
        }
        return declarations
    }

    // MARK: - The raw forms, before substitution (the parser validates with these)

    /// ENV/LABEL pairs as written (quotes and escapes still in place), Docker's parseNameVal.
    static func rawKeyValuePairs(_ raw: String, keyword: String, escape: UInt8) throws(Failure) -> [(String, String)] {
        let rest = trimSpace(raw)
        let words = rawWords(rest, escape: escape)
        guard let first = words.first else { throw Failure("\(keyword) requires at least one argument") }
        // Docker decides by the first word: no "=" in it is the legacy one-pair form.
        if !first.contains("=") {
            let parts = splitOnceAtBlanks(rest)
            guard parts.count == 2 else { throw Failure("\(keyword) must have two arguments") }
            return [(parts[0], parts[1])]
        }
        var pairs: [(String, String)] = []
        for word in words {
            guard let equals = word.firstIndex(of: "=") else {
                throw Failure(
                    "Syntax error - can't find = in \(quoted(word)). Must be of the form: name=value")
            }
            let key = String(word[..<equals])
            if key.isEmpty { throw Failure("\(keyword) names can not be blank") }
            pairs.append((key, String(word[word.index(after: equals)...])))
        }
        return pairs
    }

    /// ARG declarations as written, Docker's parseNameOrNameVal and parseArg.
    static func rawArgDeclarations(_ raw: String, escape: UInt8) throws(Failure) -> [(String, String?)] {
        let words = rawWords(trimSpace(raw), escape: escape)
        if words.isEmpty { throw Failure("ARG requires at least one argument") }
        return try words.map { (word) throws(Failure) -> (String, String?) in
            guard let equals = word.firstIndex(of: "=") else { return (word, nil) }
            if equals == word.startIndex { throw Failure("ARG names can not be blank") }
            return (String(word[..<equals]), String(word[word.index(after: equals)...]))
        }
    }

    /// Docker's parser parseWords: splits at whitespace outside quotes, keeping the quotes and
    /// escapes in the words (they are removed later, when each word is expanded).
    static func rawWords(_ text: String, escape: UInt8) -> [String] {
        let scalars = Array(text.unicodeScalars)
        let escapeScalar = Unicode.Scalar(escape)
        enum Phase { case spaces, word, quote }
        var words: [String] = []
        var word = String.UnicodeScalarView()
        var phase = Phase.spaces
        var quote: Unicode.Scalar = "\""
        var blankOK = false
        var pos = 0
        while true {
            let atEnd = pos == scalars.count
            if phase == .spaces {
                if atEnd { break }
                if isSpace(scalars[pos]) {
                    pos += 1
                    continue
                }
                phase = .word
            }
            if atEnd {
                if blankOK || !word.isEmpty { words.append(String(word)) }
                break
            }
            let ch = scalars[pos]
            if phase == .word {
                if isSpace(ch) {
                    phase = .spaces
                    if blankOK || !word.isEmpty { words.append(String(word)) }
                    word = String.UnicodeScalarView()
                    blankOK = false
                    pos += 1
                    continue
                }
                if ch == "'" || ch == "\"" {
                    quote = ch
                    blankOK = true
                    phase = .quote
                }
            } else if ch == quote {
                phase = .word
            }
            // An escape keeps itself and the next char (even a quote); nothing escapes in '...'.
            if ch == escapeScalar && !(phase == .quote && quote == "'") {
                if pos + 1 == scalars.count {
                    // An escape at the very end is dropped.
                    if phase == .quote { phase = .word }
                    pos += 1
                    continue
                }
                word.append(ch)
                pos += 1
            }
            word.append(scalars[pos])
            pos += 1
        }
        return words
    }

    // MARK: - Helpers shared with the parser

    /// Go's unicode.IsSpace.
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace
    }

    /// Go's strings.TrimSpace.
    static func trimSpace(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }

    /// The blanks Docker's parser splits at (`[\t\v\f\r ]+`).
    static func isBlank(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\u{0B}" || scalar == "\u{0C}" || scalar == "\r"
    }

    /// Splits at every run of blanks (the text is trimmed first), Docker's
    /// parseStringsWhitespaceDelimited.
    static func splitAtBlanks(_ text: String) -> [String] {
        let trimmed = trimSpace(text)
        if trimmed.isEmpty { return [] }
        return trimmed.unicodeScalars.split(whereSeparator: isBlank).map { String($0) }
    }

    /// Splits at the first run of blanks into at most two parts.
    static func splitOnceAtBlanks(_ text: String) -> [String] {
        let scalars = text.unicodeScalars
        guard let start = scalars.firstIndex(where: isBlank) else { return [text] }
        let end = scalars[start...].firstIndex(where: { !isBlank($0) }) ?? scalars.endIndex
        return [String(scalars[..<start]), String(scalars[end...])]
    }

    /// A Go-style %q of a string, for messages.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\x" + (hex.count < 2 ? "0" + hex : hex)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// One run of buildkit's shellWord: the whole text expanded into one word and also split into
/// words.
private struct Lexer {
    private let scalars: [Unicode.Scalar]
    private let source: String
    private let escape: Unicode.Scalar
    private let env: [String: String]
    private var pos = 0

    init(_ text: String, escape: UInt8, env: [String: String]) {
        self.source = text
        self.scalars = Array(text.unicodeScalars)
        self.escape = Unicode.Scalar(escape)
        self.env = env
    }

    mutating func process() throws(ShellWords.Failure) -> (word: String, words: [String]) {
        do throws(ShellWords.Failure) {
            return try processStop(on: nil)
        } catch {
            throw ShellWords.Failure("failed to process \(ShellWords.quoted(source)): \(error.message)")
        }
    }

    private func peek() -> Unicode.Scalar? {
        pos < scalars.count ? scalars[pos] : nil
    }

    private mutating func next() -> Unicode.Scalar? {
        guard pos < scalars.count else { return nil }
        pos += 1
        return scalars[pos - 1]
    }

    /// Docker's wordsStruct: unquoted whitespace ends a word, quoted or escaped text never does.
    private struct Words {
        var word = ""
        var words: [String] = []
        var inWord = false

        mutating func add(_ scalar: Unicode.Scalar) {
            if ShellWords.isSpace(scalar) {
                if inWord && !word.isEmpty {
                    words.append(word)
                    word = ""
                    inWord = false
                }
            } else {
                addRaw(scalar)
            }
        }

        mutating func addRaw(_ scalar: Unicode.Scalar) {
            word.unicodeScalars.append(scalar)
            inWord = true
        }

        mutating func add(_ text: String) {
            for scalar in text.unicodeScalars { add(scalar) }
        }

        mutating func addRaw(_ text: String) {
            word += text
            inWord = true
        }

        mutating func finish() -> [String] {
            if !word.isEmpty {
                words.append(word)
                word = ""
                inWord = false
            }
            return words
        }
    }

    private mutating func processStop(on stop: Unicode.Scalar?) throws(ShellWords.Failure) -> (
        word: String, words: [String]
    ) {
        var result = ""
        var words = Words()
        scan: while let ch = peek() {
            if let stop, ch == stop {
                pos += 1
                return (result, words.finish())
            }
            switch ch {
            case "'":
                let text = try singleQuoted()
                result += text
                words.addRaw(text)
            case "\"":
                let text = try doubleQuoted()
                result += text
                words.addRaw(text)
            case "$":
                // A substituted value is split into words at its whitespace.
                let text = try dollar()
                result += text
                words.add(text)
            default:
                pos += 1
                var literal = ch
                if ch == escape {
                    // The escape char takes the next char literally; at the very end it is dropped.
                    guard let escaped = next() else { break scan }
                    literal = escaped
                    words.addRaw(literal)
                } else {
                    words.add(literal)
                }
                result.unicodeScalars.append(literal)
            }
        }
        if let stop {
            throw ShellWords.Failure("unexpected end of statement while looking for matching \(stop)")
        }
        return (result, words.finish())
    }

    private mutating func singleQuoted() throws(ShellWords.Failure) -> String {
        pos += 1
        var result = String.UnicodeScalarView()
        while true {
            guard let ch = next() else {
                throw ShellWords.Failure("unexpected end of statement while looking for matching single-quote")
            }
            if ch == "'" { return String(result) }
            result.append(ch)
        }
    }

    private mutating func doubleQuoted() throws(ShellWords.Failure) -> String {
        pos += 1
        var result = ""
        while true {
            guard let ch = peek() else {
                throw ShellWords.Failure("unexpected end of statement while looking for matching double-quote")
            }
            if ch == "\"" {
                pos += 1
                return result
            }
            if ch == "$" {
                result += try dollar()
                continue
            }
            pos += 1
            var literal = ch
            if ch == escape {
                // Only ", $ and the escape char itself can be escaped here; otherwise it stays.
                guard let following = peek() else { continue }
                if following == "\"" || following == "$" || following == escape {
                    literal = following
                    pos += 1
                }
            }
            result.unicodeScalars.append(literal)
        }
    }

    private mutating func dollar() throws(ShellWords.Failure) -> String {
        pos += 1
        if peek() != "{" {
            let name = processName()
            if name.isEmpty { return "$" }
            return env[name] ?? ""
        }
        pos += 1
        switch peek() {
        case nil:
            throw ShellWords.Failure("syntax error: missing '}'")
        case "{", "}", ":":
            throw ShellWords.Failure("syntax error: bad substitution")
        default:
            break
        }
        let name = processName()
        guard let ch = next() else { throw ShellWords.Failure("syntax error: missing '}'") }
        let value = env[name]
        switch ch {
        case "}":
            return value ?? ""
        case "?":
            let word = try wordUntilBrace()
            guard let value else { throw unsetFailure(name, word, "is not allowed to be unset") }
            return value
        case "-":
            let word = try wordUntilBrace()
            return value ?? word
        case "+":
            let word = try wordUntilBrace()
            return value == nil ? "" : word
        case ":":
            guard let modifier = next() else { throw ShellWords.Failure("syntax error: missing '}'") }
            let word = try wordUntilBrace()
            let current = value ?? ""
            switch modifier {
            case "-":
                return current.isEmpty ? word : current
            case "+":
                return current.isEmpty ? "" : word
            case "?":
                if value == nil { throw unsetFailure(name, word, "is not allowed to be unset") }
                if current.isEmpty { throw unsetFailure(name, word, "is not allowed to be empty") }
                return current
            default:
                throw ShellWords.Failure("unsupported modifier (\(modifier)) in substitution")
            }
        default:
            throw ShellWords.Failure("unsupported modifier (\(ch)) in substitution")
        }
    }

    private func unsetFailure(_ name: String, _ word: String, _ fallback: String) -> ShellWords.Failure {
        ShellWords.Failure("\(name): \(word.isEmpty ? fallback : word)")
    }

    /// The word of `${name<op>word}`, itself expanded (quotes, escapes, nested substitutions).
    private mutating func wordUntilBrace() throws(ShellWords.Failure) -> String {
        do throws(ShellWords.Failure) {
            return try processStop(on: "}").word
        } catch {
            if peek() == nil { throw ShellWords.Failure("syntax error: missing '}'") }
            throw error
        }
    }

    /// A variable name: letters, digits and _, or a run of digits, or one of the shell's special
    /// parameters (which Docker never sets, so they become empty).
    private mutating func processName() -> String {
        var name = String.UnicodeScalarView()
        while let ch = peek() {
            if name.isEmpty && isDigit(ch) {
                while let digit = peek(), isDigit(digit) {
                    name.append(digit)
                    pos += 1
                }
                return String(name)
            }
            if name.isEmpty && "@*#?-$!0".unicodeScalars.contains(ch) {
                pos += 1
                return String(ch)
            }
            guard isLetter(ch) || isDigit(ch) || ch == "_" else { break }
            name.append(ch)
            pos += 1
        }
        return String(name)
    }

    private func isDigit(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .decimalNumber
    }

    private func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }
}
