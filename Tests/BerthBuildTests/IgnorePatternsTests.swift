import Testing

@testable import BerthBuild

@Suite struct IgnorePatternsTests {
    @Test func simplePatternsAndParentDirectories() {
        let ignore = IgnorePatterns(patterns: ["*.log", "build", "docs/*.md"])
        #expect(ignore.excludes("a.log"))
        // * does not cross "/": only top-level logs.
        #expect(!ignore.excludes("dir/a.log"))
        #expect(ignore.excludes("build"))
        // Everything under a matched directory is excluded too.
        #expect(ignore.excludes("build/x/y.o"))
        #expect(!ignore.excludes("builds"))
        #expect(!ignore.excludes("src/build"))
        #expect(ignore.excludes("docs/a.md"))
        #expect(!ignore.excludes("docs/sub/a.md"))
        #expect(!ignore.excludes("main.swift"))
    }

    @Test func doubleStar() {
        let logs = IgnorePatterns(patterns: ["**/*.log"])
        #expect(logs.excludes("a.log"))
        #expect(logs.excludes("x/y/a.log"))
        #expect(!logs.excludes("x/a.txt"))

        let everything = IgnorePatterns(patterns: ["**"])
        #expect(everything.excludes("a"))
        #expect(everything.excludes("a/b/c"))

        let under = IgnorePatterns(patterns: ["a/**"])
        #expect(under.excludes("a/b"))
        #expect(under.excludes("a/b/c"))
        #expect(!under.excludes("a"))
        #expect(!under.excludes("ab"))

        let middle = IgnorePatterns(patterns: ["a/**/b"])
        #expect(middle.excludes("a/b"))
        #expect(middle.excludes("a/x/y/b"))
        #expect(middle.excludes("a/x/b/c"))
        #expect(!middle.excludes("a/xb"))

        // A leading "**" with plain text after it is a suffix test, as in Docker.
        let suffix = IgnorePatterns(patterns: ["**.log", "**/foo"])
        #expect(suffix.excludes("x.log"))
        #expect(suffix.excludes("a/b/x.log"))
        #expect(suffix.excludes("foo"))
        #expect(suffix.excludes("a/foo"))
        #expect(!suffix.excludes("xfoo"))

        let named = IgnorePatterns(patterns: ["**/node_modules"])
        #expect(named.excludes("node_modules"))
        #expect(named.excludes("web/node_modules/x/index.js"))
        #expect(!named.excludes("web/my_node_modules"))
    }

    @Test func exceptionsAndLastMatchWins() {
        let ignore = IgnorePatterns(patterns: ["*.md", "!README.md"])
        #expect(ignore.excludes("CHANGES.md"))
        #expect(!ignore.excludes("README.md"))

        let reversed = IgnorePatterns(patterns: ["!README.md", "*.md"])
        #expect(reversed.excludes("README.md"))

        let again = IgnorePatterns(patterns: ["*.md", "!README*.md", "README-secret.md"])
        #expect(!again.excludes("README.md"))
        #expect(again.excludes("README-secret.md"))

        // An exception below an excluded directory.
        let docs = IgnorePatterns(patterns: ["docs", "!docs/keep.txt"])
        #expect(docs.excludes("docs"))
        #expect(docs.excludes("docs/a.txt"))
        #expect(!docs.excludes("docs/keep.txt"))
        #expect(docs.mayReinclude(under: "docs"))
        #expect(docs.mayReinclude(under: "docs/"))
        #expect(!docs.mayReinclude(under: "src"))
        #expect(!docs.mayReinclude(under: "docs/sub"))

        // An exception re-includes a whole directory (parent-dir matching for exceptions too).
        let tree = IgnorePatterns(patterns: ["*", "!src"])
        #expect(tree.excludes("Makefile"))
        #expect(!tree.excludes("src"))
        #expect(!tree.excludes("src/a/b.c"))
        #expect(tree.mayReinclude(under: "src/a"))
    }

    @Test func mayReincludeWithWildcards() {
        let ignore = IgnorePatterns(patterns: ["*", "!src/**/*.go", "!*/keep"])
        #expect(ignore.mayReinclude(under: "src"))
        #expect(ignore.mayReinclude(under: "src/x/y"))
        #expect(ignore.mayReinclude(under: "other"))  // "*/keep" could be other/keep
        #expect(!ignore.mayReinclude(under: "other/deeper"))
        #expect(!IgnorePatterns(patterns: ["*"]).mayReinclude(under: "src"))
        #expect(!ignore.excludes("src/a/main.go"))
        #expect(ignore.excludes("src/a/main.c"))
        #expect(!ignore.excludes("other/keep"))
    }

    @Test func fileContents() {
        let contents = """
            \u{FEFF}# a comment
            *.tmp

               \t
            #*.swift
            /root-only
            ./dot/
            a/../b
              spaced  \r
            !  /keep.tmp
             # not a comment: a leading blank makes it a pattern
            """
        let ignore = IgnorePatterns(fileContents: contents)
        #expect(ignore.excludes("x.tmp"))
        #expect(!ignore.excludes("keep.tmp"))
        #expect(!ignore.excludes("main.swift"))
        #expect(ignore.excludes("root-only"))
        #expect(ignore.excludes("dot/x"))
        #expect(ignore.excludes("b"))
        #expect(!ignore.excludes("a"))
        #expect(ignore.excludes("spaced"))
        #expect(ignore.excludes("# not a comment: a leading blank makes it a pattern"))
        #expect(ignore.malformedPatterns.isEmpty)
    }

    @Test func malformedPatternsNeverMatch() {
        let ignore = IgnorePatterns(patterns: ["[", "!", "a[", "ok"])
        #expect(ignore.malformedPatterns == ["[", "!", "a["])
        #expect(!ignore.excludes("["))
        #expect(!ignore.excludes("a["))
        #expect(ignore.excludes("ok"))
    }

    @Test func globSyntax() {
        let ignore = IgnorePatterns(patterns: ["?.txt", "[a-c].bin", "[^x]y", "\\*.lit", "dir/*/z"])
        #expect(ignore.excludes("a.txt"))
        #expect(!ignore.excludes("ab.txt"))
        #expect(ignore.excludes("b.bin"))
        #expect(!ignore.excludes("d.bin"))
        #expect(ignore.excludes("ay"))
        #expect(!ignore.excludes("xy"))
        #expect(ignore.excludes("*.lit"))
        #expect(!ignore.excludes("a.lit"))
        #expect(ignore.excludes("dir/q/z"))
        #expect(!ignore.excludes("dir/q/r/z"))
    }

    @Test func clean() {
        #expect(IgnorePatterns.clean("") == ".")
        #expect(IgnorePatterns.clean("./a/") == "a")
        #expect(IgnorePatterns.clean("a//b/./c/..") == "a/b")
        #expect(IgnorePatterns.clean("../a") == "../a")
        #expect(IgnorePatterns.clean("/../a") == "/a")
        #expect(IgnorePatterns.clean("a/..") == ".")
    }

    // Go's filepath.Match behaviour (its own test table, in part).
    @Test(arguments: [
        ("abc", "abc", true), ("*", "abc", true), ("*c", "abc", true), ("a*", "a", true), ("a*", "abc", true),
        ("a*", "ab/c", false), ("a*/b", "abc/b", true), ("a*/b", "a/c/b", false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true), ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false), ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true), ("a*b?c*x", "abxbbxdbxebxczzy", false),
        ("ab[c]", "abc", true), ("ab[b-d]", "abc", true), ("ab[e-g]", "abc", false), ("ab[^c]", "abc", false),
        ("ab[^b-d]", "abc", false), ("ab[^e-g]", "abc", true), ("a\\*b", "a*b", true), ("a\\*b", "ab", false),
        ("a?b", "a\u{263A}b", true), ("a[^a]b", "a\u{263A}b", true), ("a???b", "a\u{263A}b", false),
        ("[a-\u{3B6}]*", "\u{3B1}", true), ("*[a-\u{3B6}]", "A", false), ("a?b", "a/b", false),
        ("a*b", "a/b", false), ("[\\]a]", "]", true), ("[\\-]", "-", true), ("[x\\-]", "-", true),
        ("[x\\-]", "z", false), ("*x", "xxx", true), ("[!a]", "!", true), ("*", "", true), ("", "", true),
        ("", "a", false), ("a/*", "a/", true),
    ])
    func goMatch(_ pattern: String, _ name: String, _ expected: Bool) throws {
        #expect(try PathPattern.match(pattern, name) == expected)
    }

    @Test(arguments: [
        ("[]a]", "]"), ("[-]", "-"), ("[x-]", "x"), ("[-x]", "x"), ("\\", "a"), ("[a-b-c]", "a"), ("[", "a"),
        ("[^", "a"), ("[^bc", "a"), ("a[", "a"), ("a[", "ab"), ("a[", "x"), ("a/b[", "x"), ("*[", "x"),
        ("x*[", "y"),
    ])
    func goMatchMalformed(_ pattern: String, _ name: String) {
        #expect(throws: ShellWords.Failure.self) { try PathPattern.match(pattern, name) }
    }

    @Test func hasMeta() {
        #expect(!PathPattern.hasMeta("a/b.txt"))
        #expect(PathPattern.hasMeta("*.txt"))
        #expect(PathPattern.hasMeta("a?"))
        #expect(PathPattern.hasMeta("[ab]"))
        #expect(PathPattern.hasMeta("a\\b"))
        #expect(!PathPattern.hasMeta("{a,b}"))
    }
}
