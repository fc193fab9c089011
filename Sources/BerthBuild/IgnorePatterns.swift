/// The patterns of a .dockerignore / .containerignore, matched as Docker does (moby/patternmatcher
/// and its ignorefile reader).
public struct IgnorePatterns: Sendable {
    fileprivate struct Pattern: Sendable {
        var text: String  // cleaned, without the "!"
        var exclusion: Bool
        var tokens: [Token]
        var components: [String]
        /// patternmatcher's shortcut for "**" followed by plain text: a suffix test ("**foo"
        /// matches "xfoo", which its regular expression would not).
        var suffix: [Unicode.Scalar]?
    }

    private var patterns: [Pattern] = []
    /// Patterns Docker would refuse (a lone "!", a malformed `[`): they never match. A caller that
    /// wants Docker's hard failure checks this is empty.
    public private(set) var malformedPatterns: [String] = []

    /// Lines of a .dockerignore: comments (#), blank lines skipped; each pattern cleaned
    /// (filepath.Clean, leading / removed); `!` exceptions; `**` matching any number of
    /// directories; Go filepath.Match syntax (* ? [a-z] [^a] and \ escapes).
    public init(fileContents: String) {
        var text = Substring(fileContents)
        if text.unicodeScalars.first == "\u{FEFF}" { text = Substring(text.unicodeScalars.dropFirst()) }
        // Docker's comments are lines starting with "#" in the first column, checked before trimming.
        // Split at "\n" scalars: "\r\n" is a single Character.
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        self.init(patterns: lines.filter { $0.first != "#" }.map { String(String.UnicodeScalarView($0)) })
    }

    public init(patterns: [String]) {
        for raw in patterns {
            var text = ShellWords.trimSpace(raw)
            if text.isEmpty { continue }
            let exclusion = text.hasPrefix("!")
            if exclusion { text = ShellWords.trimSpace(String(text.dropFirst())) }
            if !text.isEmpty {
                text = Self.clean(text)
                if text.count > 1 && text.hasPrefix("/") { text.removeFirst() }
            }
            guard !(exclusion && text.isEmpty), let tokens = Self.compile(text),
                (try? PathPattern.match(text, ".")) != nil
            else {
                malformedPatterns.append(raw)
                continue
            }
            let components = text.split(separator: "/", omittingEmptySubsequences: false).map { String($0) }
            var suffix: [Unicode.Scalar]?
            let scalars = Array(text.unicodeScalars)
            if scalars.starts(with: ["*", "*"]),
                !scalars.dropFirst(2).contains(where: { "*?[]\\".unicodeScalars.contains($0) })
            {
                suffix = Array(scalars.dropFirst(2))
            }
            self.patterns.append(
                Pattern(text: text, exclusion: exclusion, tokens: tokens, components: components, suffix: suffix))
        }
    }

    /// Whether a context-relative path (no leading "./" or "/", "/"-separated) is excluded. As
    /// Docker: the last matching pattern wins; a pattern also excludes everything under a
    /// directory it matches (parent-dir matching).
    public func excludes(_ path: String) -> Bool {
        let path = Array(path.unicodeScalars)
        // The path's ancestors, "a" and "a/b" for "a/b/c".
        var parents: [ArraySlice<Unicode.Scalar>] = []
        for (index, scalar) in path.enumerated() where scalar == "/" && index > 0 {
            parents.append(path[..<index])
        }
        var excluded = false
        for pattern in patterns {
            // Only a pattern that could change the verdict is looked at (Docker's order of evaluation).
            if pattern.exclusion != excluded { continue }
            var matched = pattern.matches(path[...])
            if !matched {
                matched = parents.contains { pattern.matches($0) }
            }
            if matched { excluded = !pattern.exclusion }
        }
        return excluded
    }

    /// Whether a directory's contents could contain a re-included path (an exception pattern
    /// below it): the walker may then not skip the whole directory.
    public func mayReinclude(under directory: String) -> Bool {
        var directory = Substring(directory)
        while directory.hasSuffix("/") { directory = directory.dropLast() }
        let components = directory.split(separator: "/").map { String($0) }
        return patterns.contains { pattern in
            guard pattern.exclusion else { return false }
            // Compared component by component: an exception naming the directory, an ancestor
            // (it re-includes everything under it) or something deeper may re-include.
            for (index, component) in components.enumerated() {
                guard index < pattern.components.count else { return true }
                let patternComponent = pattern.components[index]
                if patternComponent.contains("**") { return true }
                if (try? PathPattern.match(patternComponent, component)) != true { return false }
            }
            return true
        }
    }

    // MARK: - Matching (patternmatcher's regular expression, as tokens)

    fileprivate enum Token: Sendable {
        case literal(Unicode.Scalar)
        /// `*`: anything but "/".
        case star
        /// `?`: one character but "/".
        case one
        /// `**/` or `**` inside a pattern: any number of whole directories, "(.*/)?".
        case directories
        /// `**` at the end (it is only ever the last token): anything at all.
        case rest
        case set(CharacterSet)
    }

    fileprivate struct CharacterSet: Sendable {
        var negated: Bool
        var ranges: [(low: Unicode.Scalar, high: Unicode.Scalar)]

        // Go accepts a reversed range, which matches nothing.
        func contains(_ scalar: Unicode.Scalar) -> Bool {
            ranges.contains { $0.low <= scalar && scalar <= $0.high } != negated
        }
    }

    private static func compile(_ pattern: String) -> [Token]? {
        let scalars = Array(pattern.unicodeScalars)
        var tokens: [Token] = []
        var index = 0
        while index < scalars.count {
            let ch = scalars[index]
            index += 1
            switch ch {
            case "*":
                if index < scalars.count && scalars[index] == "*" {
                    index += 1
                    // "**/" is "**": the slash belongs to it.
                    if index < scalars.count && scalars[index] == "/" { index += 1 }
                    tokens.append(index == scalars.count ? .rest : .directories)
                } else {
                    tokens.append(.star)
                }
            case "?":
                tokens.append(.one)
            case "\\":
                // A trailing backslash stands for itself.
                if index < scalars.count {
                    tokens.append(.literal(scalars[index]))
                    index += 1
                } else {
                    tokens.append(.literal("\\"))
                }
            case "[":
                var rest = scalars[index...]
                guard let set = try? PathPattern.characterSet(&rest) else { return nil }
                tokens.append(.set(set))
                index = rest.startIndex
            default:
                tokens.append(.literal(ch))
            }
        }
        return tokens
    }

    fileprivate static func match(_ tokens: ArraySlice<Token>, _ path: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let token = tokens.first else { return path.isEmpty }
        let following = tokens.dropFirst()
        switch token {
        case .literal(let scalar):
            return path.first == scalar && match(following, path.dropFirst())
        case .one:
            guard let first = path.first, first != "/" else { return false }
            return match(following, path.dropFirst())
        case .set(let set):
            guard let first = path.first, set.contains(first) else { return false }
            return match(following, path.dropFirst())
        case .star:
            var rest = path
            while true {
                if match(following, rest) { return true }
                guard let first = rest.first, first != "/" else { return false }
                rest = rest.dropFirst()
            }
        case .directories:
            if match(following, path) { return true }
            for index in path.indices where path[index] == "/" {
                if match(following, path[(index + 1)...]) { return true }
            }
            return false
        case .rest:
            return true
        }
    }

    /// Go's filepath.Clean for "/"-separated paths.
    static func clean(_ path: String) -> String {
        if path.isEmpty { return "." }
        let rooted = path.hasPrefix("/")
        var parts: [Substring] = []
        for component in path.split(separator: "/") {
            if component == "." { continue }
            if component == ".." {
                if let last = parts.last, last != ".." {
                    parts.removeLast()
                } else if !rooted {
                    parts.append(component)
                }
                continue
            }
            parts.append(component)
        }
        let cleaned = (rooted ? "/" : "") + parts.joined(separator: "/")
        return cleaned.isEmpty ? "." : cleaned
    }
}

extension IgnorePatterns.Pattern {
    func matches(_ path: ArraySlice<Unicode.Scalar>) -> Bool {
        guard let suffix else { return IgnorePatterns.match(tokens[...], path) }
        // "**/foo" also matches "foo" itself.
        return path.reversed().starts(with: suffix.reversed())
            || (suffix.first == "/" && path.elementsEqual(suffix.dropFirst()))
    }
}

/// Go's path/filepath.Match on "/"-separated paths.
public enum PathPattern {
    private static let badPattern = ShellWords.Failure("syntax error in pattern")

    /// Go's filepath.Match on "/"-separated paths (* does not cross "/"). Throws Failure for a
    /// malformed pattern.
    public static func match(_ pattern: String, _ name: String) throws(ShellWords.Failure) -> Bool {
        var pattern = Array(pattern.unicodeScalars)[...]
        var name = Array(name.unicodeScalars)[...]
        chunks: while !pattern.isEmpty {
            let (star, chunk) = scanChunk(&pattern)
            // A trailing * matches the rest of the name unless it has a /.
            if star && chunk.isEmpty { return !name.contains("/") }
            if let rest = try matchChunk(chunk, name), rest.isEmpty || !pattern.isEmpty {
                name = rest
                continue
            }
            if star {
                // Try the chunk after skipping more of the name, but never a /.
                var index = name.startIndex
                while index < name.endIndex && name[index] != "/" {
                    if let rest = try matchChunk(chunk, name[(index + 1)...]) {
                        // The last chunk must use up the name.
                        if pattern.isEmpty && !rest.isEmpty {
                            index += 1
                            continue
                        }
                        name = rest
                        continue chunks
                    }
                    index += 1
                }
            }
            // No match; the rest of the pattern must still be well-formed.
            while !pattern.isEmpty {
                let (_, chunk) = scanChunk(&pattern)
                _ = try matchChunk(chunk, [][...])
            }
            return false
        }
        return name.isEmpty
    }

    /// Whether `pattern` has any glob metacharacters.
    public static func hasMeta(_ pattern: String) -> Bool {
        pattern.unicodeScalars.contains { $0 == "*" || $0 == "?" || $0 == "[" || $0 == "\\" }
    }

    /// Splits off the leading stars and the chunk up to the next star outside a class.
    private static func scanChunk(_ pattern: inout ArraySlice<Unicode.Scalar>) -> (
        star: Bool, chunk: ArraySlice<Unicode.Scalar>
    ) {
        var star = false
        while pattern.first == "*" {
            pattern = pattern.dropFirst()
            star = true
        }
        var inRange = false
        var index = pattern.startIndex
        scan: while index < pattern.endIndex {
            switch pattern[index] {
            case "\\":
                if index + 1 < pattern.endIndex { index += 1 }
            case "[":
                inRange = true
            case "]":
                inRange = false
            case "*":
                if !inRange { break scan }
            default:
                break
            }
            index += 1
        }
        let chunk = pattern[..<index]
        pattern = pattern[index...]
        return (star, chunk)
    }

    /// The rest of `name` after the chunk, or nil when it does not match. The whole chunk is
    /// checked for syntax even after a mismatch.
    private static func matchChunk(
        _ chunk: ArraySlice<Unicode.Scalar>, _ name: ArraySlice<Unicode.Scalar>
    ) throws(ShellWords.Failure) -> ArraySlice<Unicode.Scalar>? {
        var chunk = chunk
        var name = name
        var failed = false
        while let ch = chunk.first {
            if !failed && name.isEmpty { failed = true }
            switch ch {
            case "[":
                let scalar = failed ? nil : name.first
                if !failed { name = name.dropFirst() }
                chunk = chunk.dropFirst()
                let set = try characterSet(&chunk)
                if scalar.map(set.contains) != true { failed = true }
            case "?":
                if !failed {
                    if name.first == "/" { failed = true }
                    name = name.dropFirst()
                }
                chunk = chunk.dropFirst()
            default:
                var literal = ch
                if ch == "\\" {
                    chunk = chunk.dropFirst()
                    guard let escaped = chunk.first else { throw badPattern }
                    literal = escaped
                }
                if !failed {
                    if name.first != literal { failed = true }
                    name = name.dropFirst()
                }
                chunk = chunk.dropFirst()
            }
        }
        return failed ? nil : name
    }

    /// A class after its `[`: `^` negation, ranges, \ escapes, up to and including the `]`.
    fileprivate static func characterSet(
        _ chunk: inout ArraySlice<Unicode.Scalar>
    ) throws(ShellWords.Failure) -> IgnorePatterns.CharacterSet {
        var negated = false
        if chunk.first == "^" {
            negated = true
            chunk = chunk.dropFirst()
        }
        var ranges: [(low: Unicode.Scalar, high: Unicode.Scalar)] = []
        while true {
            if chunk.first == "]" && !ranges.isEmpty {
                chunk = chunk.dropFirst()
                break
            }
            let low = try classCharacter(&chunk)
            var high = low
            if chunk.first == "-" {
                chunk = chunk.dropFirst()
                high = try classCharacter(&chunk)
            }
            ranges.append((low, high))
        }
        return IgnorePatterns.CharacterSet(negated: negated, ranges: ranges)
    }

    /// Go's getEsc: one (possibly escaped) character of a class, which must not end the pattern.
    private static func classCharacter(_ chunk: inout ArraySlice<Unicode.Scalar>) throws(ShellWords.Failure)
        -> Unicode.Scalar
    {
        guard let first = chunk.first, first != "-", first != "]" else { throw badPattern }
        if first == "\\" {
            chunk = chunk.dropFirst()
            if chunk.isEmpty { throw badPattern }
        }
        let scalar = chunk.first!
        chunk = chunk.dropFirst()
        if chunk.isEmpty { throw badPattern }
        return scalar
    }
}
