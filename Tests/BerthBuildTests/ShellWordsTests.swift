import Testing

@testable import BerthBuild

@Suite struct ShellWordsTests {
    private static let backslash = UInt8(ascii: "\\")
    private static let backtick = UInt8(ascii: "`")
    private static let env = ["A": "a", "EMPTY": "", "V": "x y", "PATH": "/bin"]

    private func expand(_ word: String, escape: UInt8 = backslash, env: [String: String] = env) throws(ShellWords
        .Failure) -> String
    {
        try ShellWords.expand(word, escape: escape, env: env)
    }

    private func failure(_ word: String, escape: UInt8 = backslash) -> String? {
        do {
            _ = try expand(word, escape: escape)
            return nil
        } catch {
            return error.message
        }
    }

    @Test(arguments: [
        // Plain forms.
        ("$A", "a"), ("${A}", "a"), ("x${A}y", "xay"), ("$A/b", "a/b"), ("$PATH:/usr/bin", "/bin:/usr/bin"),
        ("$UNSET", ""), ("${UNSET}", ""), ("pre$UNSET-post", "pre-post"), ("$A$A", "aa"), ("$A_B", ""),
        // ${VAR:-word}: the word when unset or empty.
        ("${A:-d}", "a"), ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"),
        // ${VAR-word}: the word only when unset.
        ("${A-d}", "a"), ("${UNSET-d}", "d"), ("${EMPTY-d}", ""),
        // ${VAR:+word}: the word when set and not empty.
        ("${A:+w}", "w"), ("${UNSET:+w}", ""), ("${EMPTY:+w}", ""),
        // ${VAR+word}: the word when set, even empty.
        ("${A+w}", "w"), ("${UNSET+w}", ""), ("${EMPTY+w}", "w"),
        // ${VAR?msg} / ${VAR:?msg} when they do not fail.
        ("${A?m}", "a"), ("${EMPTY?m}", ""), ("${A:?m}", "a"),
        // Nesting and quoting inside the word.
        ("${UNSET:-${A}}", "a"), ("${UNSET:-x${UNSET2:-y}z}", "xyz"), ("${UNSET:-$A}", "a"),
        ("${UNSET:-'a b'}", "a b"), ("${UNSET:-\"$A b\"}", "a b"), ("${UNSET:-a\\}b}", "a}b"),
        ("${A:+${V}}", "x y"),
        // $ before a non-name char stays; digits and special parameters are (unset) names.
        ("$", "$"), ("a$", "a$"), ("$/x", "$/x"), ("$.", "$."), ("$ a", "$ a"), ("$1", ""), ("$12x", "x"),
        ("$$", ""), ("$@", ""),
        // Quotes.
        ("'$A'", "$A"), ("'a \"b\" \\c'", "a \"b\" \\c"), ("\"$A\"", "a"), ("\"a b\"", "a b"),
        ("\"a'b\"", "a'b"), ("\"a\\\"b\"", "a\"b"), ("\"a\\\\b\"", "a\\b"), ("\"a\\$A\"", "a$A"),
        ("\"a\\xb\"", "a\\xb"), ("a\"b\"c", "abc"), ("''", ""), ("\"\"", ""), ("\"${A}\"'${A}'", "a${A}"),
        // The escape char outside quotes.
        ("\\$A", "$A"), ("a\\ b", "a b"), ("\\'a", "'a"), ("\\\"a", "\"a"), ("a\\\\b", "a\\b"), ("a\\", "a"),
        ("\\n", "n"),
    ])
    func substitution(_ word: String, _ expected: String) throws {
        #expect(try expand(word) == expected)
    }

    @Test(arguments: [
        ("`$A", "$A"), ("a\\b", "a\\b"), ("C:\\dir\\$A", "C:\\dir\\a"), ("\"a`\"b\"", "a\"b"), ("a` b", "a b"),
        ("\"a\\\"", "a\\"), ("``", "`"),
    ])
    func backtickEscape(_ word: String, _ expected: String) throws {
        #expect(try expand(word, escape: Self.backtick) == expected)
    }

    @Test func failures() {
        #expect(failure("'abc")?.contains("matching single-quote") == true)
        #expect(failure("\"abc")?.contains("matching double-quote") == true)
        #expect(failure("\"abc'")?.contains("matching double-quote") == true)
        #expect(failure("${A")?.contains("missing '}'") == true)
        #expect(failure("${")?.contains("missing '}'") == true)
        #expect(failure("${A:-x")?.contains("missing '}'") == true)
        #expect(failure("${A:-${B}")?.contains("missing '}'") == true)
        #expect(failure("${}")?.contains("bad substitution") == true)
        #expect(failure("${:-x}")?.contains("bad substitution") == true)
        #expect(failure("${A:=x}")?.contains("unsupported modifier (=)") == true)
        #expect(failure("${A x}")?.contains("unsupported modifier") == true)
        #expect(failure("${UNSET:?need UNSET}")?.hasSuffix("UNSET: need UNSET") == true)
        #expect(failure("${UNSET?need it}")?.hasSuffix("UNSET: need it") == true)
        #expect(failure("${UNSET?}")?.hasSuffix("UNSET: is not allowed to be unset") == true)
        #expect(failure("${UNSET:?}")?.hasSuffix("UNSET: is not allowed to be unset") == true)
        #expect(failure("${EMPTY:?}")?.hasSuffix("EMPTY: is not allowed to be empty") == true)
        // The failure names the text it was processing.
        #expect(
            failure("a 'b") == "failed to process \"a 'b\": unexpected end of statement while looking "
                + "for matching single-quote")
    }

    @Test func split() throws {
        func words(_ text: String, escape: UInt8 = Self.backslash) throws -> [String] {
            try ShellWords.split(text, escape: escape, env: Self.env)
        }
        #expect(try words("a b  c") == ["a", "b", "c"])
        #expect(try words("  lead\ttrail  ") == ["lead", "trail"])
        #expect(try words("'a b' c") == ["a b", "c"])
        #expect(try words("\"a $A\" b") == ["a a", "b"])
        #expect(try words("a\\ b c") == ["a b", "c"])
        #expect(try words("x'y z'w") == ["xy zw"])
        // A substituted value is split at its whitespace unless quoted.
        #expect(try words("$V") == ["x", "y"])
        #expect(try words("\"$V\"") == ["x y"])
        #expect(try words("p$V") == ["px", "y"])
        // Empty words are dropped, as Docker does.
        #expect(try words("\"\" a") == ["a"])
        #expect(try words("$UNSET") == [])
        #expect(try words("") == [])
        #expect(try words("a` b", escape: Self.backtick) == ["a b"])
        #expect(throws: ShellWords.Failure.self) { try words("a 'b") }
    }

    @Test func envPairs() throws {
        func pairs(_ raw: String, _ keyword: String = "ENV", env: [String: String] = Self.env) throws -> [String] {
            try ShellWords.keyValuePairs(raw, keyword: keyword, escape: Self.backslash, env: env).map { "\($0)=\($1)" }
        }
        #expect(try pairs("a=1") == ["a=1"])
        #expect(try pairs("a=1 b=\"x y\" c=$A d='$A' e=") == ["a=1", "b=x y", "c=a", "d=$A", "e="])
        #expect(try pairs("a=x\\ y b=\"q\\\"r\"") == ["a=x y", "b=q\"r"])
        #expect(try pairs("k=${UNSET:-def}") == ["k=def"])
        // The keys are substituted too.
        #expect(try pairs("${A}b=1") == ["ab=1"])
        // Every pair sees the environment from before the instruction.
        #expect(try pairs("a=1 b=$a", env: ["a": "0"]) == ["a=1", "b=0"])
        // Legacy: one pair, the value is the rest of the line (then substituted).
        #expect(try pairs("name John Doe") == ["name=John Doe"])
        #expect(try pairs("name   spaced  out") == ["name=spaced  out"])
        #expect(try pairs("A \"x y\" z") == ["A=x y z"])
        #expect(try pairs("P $PATH:/sbin") == ["P=/bin:/sbin"])
        #expect(try pairs("LABEL a=b", "LABEL") == ["LABEL=a=b"])
        #expect(
            try pairs("\"com.example.vendor\"=\"ACME Inc\" version=1.0", "LABEL")
                == ["com.example.vendor=ACME Inc", "version=1.0"])

        func failure(_ raw: String, _ keyword: String = "ENV") -> String? {
            do {
                _ = try ShellWords.keyValuePairs(raw, keyword: keyword, escape: Self.backslash, env: [:])
                return nil
            } catch {
                return error.message
            }
        }
        #expect(failure("a=1 b")?.contains("can't find = in \"b\"") == true)
        #expect(failure("A") == "ENV must have two arguments")
        #expect(failure("") == "ENV requires at least one argument")
        #expect(failure("", "LABEL") == "LABEL requires at least one argument")
        #expect(failure("=x") == "ENV names can not be blank")
        #expect(failure("a='x") != nil)
    }

    @Test func argDeclarations() throws {
        let declarations = try ShellWords.argDeclarations(
            "A B=2 C=$A D= E=\"x y\"", escape: Self.backslash, env: Self.env)
        #expect(declarations.map(\.name) == ["A", "B", "C", "D", "E"])
        #expect(declarations.map(\.value) == [nil, "2", "a", "", "x y"])
        // keyValuePairs with ARG gives "" for a name without a default.
        let pairs = try ShellWords.keyValuePairs("A B=2", keyword: "ARG", escape: Self.backslash, env: [:])
        #expect(pairs.map { "\($0)=\($1)" } == ["A=", "B=2"])
        #expect(throws: ShellWords.Failure.self) {
            try ShellWords.argDeclarations("", escape: Self.backslash, env: [:])
        }
        #expect(throws: ShellWords.Failure.self) {
            try ShellWords.argDeclarations("=x", escape: Self.backslash, env: [:])
        }
    }

    @Test func rawWordsKeepQuotesAndEscapes() {
        #expect(
            ShellWords.rawWords("a \"b c\" d\\ e 'f\\' g'", escape: Self.backslash)
                == ["a", "\"b c\"", "d\\ e", "'f\\'", "g'"])  // nothing escapes inside '...'
        #expect(ShellWords.rawWords("k=\"a\\\"b\" x", escape: Self.backslash) == ["k=\"a\\\"b\"", "x"])
        #expect(ShellWords.rawWords("a` b c\\ d", escape: Self.backtick) == ["a` b", "c\\", "d"])
        #expect(ShellWords.rawWords("\"\" x", escape: Self.backslash) == ["\"\"", "x"])
        #expect(ShellWords.rawWords("   ", escape: Self.backslash) == [])
    }
}
