import Testing

@testable import BerthBuild

@Suite struct DockerfileTests {
    private func parse(_ text: String) throws(BuildError) -> Dockerfile {
        try Dockerfile.parse(Array(text.utf8), file: "Containerfile")
    }

    /// The instructions of the only stage.
    private func instructions(_ text: String) throws -> [Instruction] {
        let dockerfile = try parse(text)
        try #require(dockerfile.stages.count == 1)
        return dockerfile.stages[0].instructions
    }

    /// The one instruction after `FROM a`.
    private func instruction(_ line: String) throws -> Instruction {
        let all = try instructions("FROM a\n" + line + "\n")
        try #require(all.count == 1)
        return all[0]
    }

    /// The error's description ("Containerfile:2: RUN: ...").
    private func failure(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "no error"
        } catch {
            return error.description
        }
    }

    @Test func minimal() throws {
        let dockerfile = try parse("FROM alpine:3.20\nRUN echo hi\n")
        #expect(dockerfile.file == "Containerfile")
        #expect(dockerfile.escape == UInt8(ascii: "\\"))
        #expect(dockerfile.globalArgs.isEmpty)
        #expect(dockerfile.stages.count == 1)
        let stage = dockerfile.stages[0]
        #expect(stage.base == "alpine:3.20")
        #expect(stage.name == nil)
        #expect(stage.platform == nil)
        #expect(stage.line == 1)
        #expect(
            stage.instructions == [
                Instruction(keyword: "RUN", flags: [], arguments: .shell("echo hi"), line: 2, text: "RUN echo hi")
            ])
    }

    @Test func continuationLines() throws {
        let run = try instruction("RUN echo a \\\n  && echo b")
        #expect(run.arguments == .shell("echo a   && echo b"))
        #expect(run.text == "RUN echo a   && echo b")
        #expect(run.line == 2)
        // Blanks after the escape char are allowed.
        #expect(try instruction("RUN a \\  \t\nb").arguments == .shell("a b"))
        // A doubled escape at the end still continues (Docker only looks at the last one).
        #expect(try instruction("RUN a\\\\\nb").arguments == .shell("a\\b"))
        // An escape in the middle of a line is not a continuation.
        #expect(try instruction("RUN a \\ b").arguments == .shell("a \\ b"))
        // A file ending inside a continuation.
        #expect(try instruction("RUN a \\").arguments == .shell("a"))
        // Line numbers count the continuation lines.
        let all = try instructions("FROM a\nRUN a \\\n b \\\n c\nRUN d\n")
        #expect(all.map(\.line) == [2, 5])
        // Windows line ends.
        #expect(
            try instructions("FROM a\r\nRUN a \\\r\n b\r\nUSER x\r\n").map(\.arguments) == [
                .shell("a  b"), .words(["x"]),
            ])
    }

    @Test func commentsAndBlankLinesInsideContinuations() throws {
        let all = try instructions("FROM a\nRUN a \\\n# comment\n   # indented comment\n\n  \t\n  b\nUSER u\n")
        #expect(all.count == 2)
        #expect(all[0].arguments == .shell("a   b"))
        #expect(all[0].text == "RUN a   b")
        #expect(all[1].line == 8)
        // A "#" that is not first on its line is no comment.
        #expect(try instruction("RUN echo a # b").arguments == .shell("echo a # b"))
    }

    @Test func commentsBlankLinesAndLeadingWhitespace() throws {
        let dockerfile = try parse("\n# x\n  FROM a\n\n  # y\n\t RUN b\n")
        #expect(dockerfile.stages[0].line == 3)
        #expect(dockerfile.stages[0].instructions[0].line == 6)
        #expect(dockerfile.stages[0].instructions[0].text == "RUN b")
    }

    @Test func backtickEscape() throws {
        let dockerfile = try parse("# escape=`\nFROM a\nRUN echo c:\\ `\n  done\nUSER x\n")
        #expect(dockerfile.escape == UInt8(ascii: "`"))
        let all = dockerfile.stages[0].instructions
        #expect(all.map(\.arguments) == [.shell("echo c:\\   done"), .words(["x"])])
        #expect(all.map(\.line) == [3, 5])
        // The backslash is no continuation with the backtick escape.
        let windows = try parse("# escape=`\nFROM a\nCOPY a\\ b\\\n")
        #expect(windows.stages[0].instructions[0].arguments == .words(["a\\", "b\\"]))
    }

    @Test func directives() throws {
        #expect(try parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a").escape == UInt8(ascii: "`"))
        #expect(try parse("#ESCAPE = `\nFROM a").escape == UInt8(ascii: "`"))
        #expect(try parse("  # escape=`  \nFROM a").escape == UInt8(ascii: "`"))
        #expect(try parse(Array([0xEF, 0xBB, 0xBF] + Array("# escape=`\nFROM a".utf8))).escape == UInt8(ascii: "`"))
        // Only at the very top: after a comment, a blank line or an instruction it is a comment.
        let afterComment = try parse("# hello\n# escape=`\nFROM a\nRUN a `\nRUN b\n")
        #expect(afterComment.escape == UInt8(ascii: "\\"))
        #expect(afterComment.stages[0].instructions.count == 2)
        #expect(try parse("\n# escape=`\nFROM a").escape == UInt8(ascii: "\\"))
        #expect(try parse("FROM a\n# escape=`\n").escape == UInt8(ascii: "\\"))
        // An unknown directive ends the directives.
        #expect(try parse("# foo=bar\n# escape=`\nFROM a").escape == UInt8(ascii: "\\"))
        #expect(failure("# escape=x\nFROM a").contains("Containerfile:1: invalid escape token 'x'"))
        #expect(failure("# escape=`\n# escape=\\\nFROM a").contains("Containerfile:2: only one escape parser"))
    }

    @Test func bom() throws {
        let dockerfile = try parse(Array([0xEF, 0xBB, 0xBF] + Array("FROM a\n".utf8)))
        #expect(dockerfile.stages[0].base == "a")
    }

    private func parse(_ bytes: [UInt8]) throws(BuildError) -> Dockerfile {
        try Dockerfile.parse(bytes, file: "Containerfile")
    }

    @Test func keywordsAreCaseInsensitive() throws {
        let dockerfile = try parse("from a As Build\nrun b\nCoPy x y\n")
        #expect(dockerfile.stages[0].name == "build")
        #expect(dockerfile.stages[0].instructions.map(\.keyword) == ["RUN", "COPY"])
    }

    @Test func jsonOrShellForm() throws {
        #expect(try instruction("CMD [\"a\", \"b\"]").arguments == .exec(["a", "b"]))
        #expect(try instruction("CMD [ \"a\" ,\t\"b\" ]").arguments == .exec(["a", "b"]))
        #expect(try instruction("CMD []").arguments == .exec([]))
        #expect(try instruction("ENTRYPOINT [\"x\"]   ").arguments == .exec(["x"]))
        #expect(
            try instruction(#"RUN ["sh", "-c", "echo \"q\" \\ \/ \u00e9 \ud83d\ude00"]"#).arguments
                == .exec(["sh", "-c", "echo \"q\" \\ / \u{E9} \u{1F600}"]))
        // Anything but a JSON array of strings is shell form.
        #expect(try instruction("CMD [\"a\", 1]").arguments == .shell("[\"a\", 1]"))
        #expect(try instruction("CMD [a]").arguments == .shell("[a]"))
        #expect(try instruction("CMD ['a']").arguments == .shell("['a']"))
        #expect(try instruction("CMD [\"a\"] x").arguments == .shell("[\"a\"] x"))
        #expect(try instruction("CMD [\"a\",]").arguments == .shell("[\"a\",]"))
        #expect(try instruction("CMD [\"a\\q\"]").arguments == .shell("[\"a\\q\"]"))
        #expect(try instruction("CMD [\"a\"").arguments == .shell("[\"a\""))
        #expect(try instruction("CMD echo [\"a\"]").arguments == .shell("echo [\"a\"]"))
        #expect(try instruction("ENTRYPOINT exec top -b").arguments == .shell("exec top -b"))
        #expect(try instruction("COPY [\"a b\", \"/c d/\"]").arguments == .exec(["a b", "/c d/"]))
        #expect(try instruction("ADD [\"a\", \"b\", 1]").arguments == .words(["[\"a\",", "\"b\",", "1]"]))
        #expect(try instruction("VOLUME [\"/a\", \"/b\"]").arguments == .exec(["/a", "/b"]))
        #expect(try instruction("VOLUME /a /b").arguments == .words(["/a", "/b"]))
    }

    @Test func shellMustBeJSON() throws {
        #expect(try instruction("SHELL [\"/bin/bash\", \"-c\"]").arguments == .exec(["/bin/bash", "-c"]))
        #expect(
            failure("FROM a\nSHELL /bin/bash -c")
                == "Containerfile:2: SHELL: SHELL requires the arguments to be in JSON form")
        #expect(failure("FROM a\nSHELL []").contains("SHELL requires at least one argument"))
    }

    @Test func flags() throws {
        let copy = try instruction("COPY --from=build --chown=a:b --chmod=755 --link src dst")
        #expect(
            copy.flags == [
                Flag(name: "from", value: "build"), Flag(name: "chown", value: "a:b"),
                Flag(name: "chmod", value: "755"), Flag(name: "link", value: nil),
            ])
        #expect(copy.arguments == .words(["src", "dst"]))
        #expect(copy.flag("from") == "build")
        #expect(copy.flag("link") == "")
        #expect(copy.flag("parents") == nil)
        #expect(copy.text == "COPY --from=build --chown=a:b --chmod=755 --link src dst")
        // Only leading words are flags.
        let late = try instruction("COPY src --from=x dst")
        #expect(late.flags.isEmpty)
        #expect(late.arguments == .words(["src", "--from=x", "dst"]))
        // "--" ends the flags.
        let dashes = try instruction("COPY --link -- --weird dst")
        #expect(dashes.flags == [Flag(name: "link", value: nil)])
        #expect(dashes.arguments == .words(["--weird", "dst"]))
        // Quotes in a flag's value.
        #expect(try instruction("COPY --chown=\"a b\" x y").flag("chown") == "a b")
        #expect(
            try instruction("ADD --link=false --checksum=sha256:00 x y").flags == [
                Flag(name: "link", value: "false"), Flag(name: "checksum", value: "sha256:00"),
            ])
        // RUN keeps --mount (repeatable) and --network for the executor to judge.
        let run = try instruction("RUN --mount=type=cache,target=/c --mount=type=tmpfs,target=/t --network=none make")
        #expect(run.flags.map(\.name) == ["mount", "mount", "network"])
        #expect(run.flag("mount") == "type=tmpfs,target=/t")
        #expect(run.arguments == .shell("make"))
        #expect(try instruction("RUN --network=host [\"make\"]").arguments == .exec(["make"]))
        let from = try parse("FROM --platform=linux/arm64 a AS b\n").stages[0]
        #expect(from.platform == "linux/arm64")
        #expect(from.base == "a")
    }

    @Test func flagErrors() {
        #expect(failure("FROM a\nCOPY --foo=x a b") == "Containerfile:2: COPY: unknown flag: foo")
        #expect(failure("FROM a\nCOPY --chown a b").contains("missing a value on flag: chown"))
        #expect(failure("FROM a\nCOPY --link=maybe a b").contains("expecting boolean value for flag link, not: maybe"))
        #expect(failure("FROM a\nCOPY --link= a b").contains("missing a value on flag: link"))
        #expect(failure("FROM a\nCOPY --from=a --from=b x y").contains("duplicate flag specified: from"))
        #expect(failure("FROM a\nENV --x=1 a=b").contains("ENV: unknown flag: x"))
        #expect(failure("FROM a\nCMD --help").contains("CMD: unknown flag: help"))
        #expect(failure("FROM --foo a").contains("Containerfile:1: FROM: unknown flag: foo"))
    }

    @Test func multiStage() throws {
        let dockerfile = try parse(
            """
            ARG GO=1.22
            FROM golang:${GO} AS Build
            RUN go build
            FROM --platform=linux/amd64 alpine as final
            COPY --from=build /x /y
            FROM scratch
            """)
        #expect(dockerfile.stages.map(\.name) == ["build", "final", nil])
        #expect(dockerfile.stages.map(\.base) == ["golang:${GO}", "alpine", "scratch"])
        #expect(dockerfile.stages.map(\.line) == [2, 4, 6])
        #expect(dockerfile.stages.map(\.instructions.count) == [1, 1, 0])
        #expect(dockerfile.stageIndex("build") == 0)
        #expect(dockerfile.stageIndex("BUILD") == 0)
        #expect(dockerfile.stageIndex("final") == 1)
        #expect(dockerfile.stageIndex("0") == 0)
        #expect(dockerfile.stageIndex("2") == 2)
        #expect(dockerfile.stageIndex("3") == nil)
        #expect(dockerfile.stageIndex("-1") == nil)
        #expect(dockerfile.stageIndex("+1") == nil)
        #expect(dockerfile.stageIndex("") == nil)
        #expect(dockerfile.stageIndex("nope") == nil)
    }

    @Test func globalArgs() throws {
        let dockerfile = try parse("ARG V=1\n# c\nARG B\nFROM img:$V\nARG V\n")
        #expect(dockerfile.globalArgs.map(\.arguments) == [.shell("V=1"), .shell("B")])
        #expect(dockerfile.globalArgs.map(\.line) == [1, 3])
        #expect(dockerfile.stages[0].base == "img:$V")
        #expect(dockerfile.stages[0].instructions.map(\.arguments) == [.shell("V")])
    }

    @Test func fromErrors() {
        #expect(failure("FROM") == "Containerfile:1: FROM: FROM requires either one or three arguments")
        #expect(failure("FROM a AS").contains("FROM requires either one or three arguments"))
        #expect(failure("FROM a b c").contains("FROM requires either one or three arguments"))
        #expect(failure("FROM a AS b c").contains("FROM requires either one or three arguments"))
        #expect(failure("FROM a AS 1x").contains("invalid name for build stage: \"1x\""))
        #expect(failure("FROM a AS b$c").contains("invalid name for build stage"))
        #expect(failure("FROM a AS x\nFROM b AS X") == "Containerfile:2: FROM: duplicate stage name \"x\"")
        #expect(throws: Never.self) { try parse("FROM a AS my-stage_1.0") }
    }

    @Test func instructionBeforeFrom() {
        let message = failure("# c\nRUN x\nFROM a")
        #expect(message.hasPrefix("Containerfile:2: RUN: "))
        #expect(message.contains("only ARG may come before the first FROM"))
        #expect(failure("ENV a=b\nFROM a").hasPrefix("Containerfile:1: ENV: "))
    }

    @Test func unknownInstruction() {
        #expect(failure("FROM a\nFOO bar") == "Containerfile:2: FOO: unknown instruction: FOO")
        #expect(failure("FROM a\n\nrunn x").hasPrefix("Containerfile:3: RUNN: unknown instruction: RUNN"))
    }

    @Test func emptyFiles() {
        #expect(failure("") == "Containerfile:1: file with no instructions")
        #expect(failure("# only\n\n# comments\n") == "Containerfile:3: file with no instructions")
        #expect(failure("ARG A\n").contains("no stages to build"))
    }

    @Test(arguments: [
        ("RUN", "RUN requires at least one argument"), ("RUN []", "RUN requires at least one argument"),
        ("RUN    \\", "RUN requires at least one argument"), ("CMD", "CMD requires at least one argument"),
        ("ENTRYPOINT", "ENTRYPOINT requires at least one argument"),
        ("SHELL", "SHELL requires at least one argument"), ("COPY", "COPY requires at least two arguments"),
        ("COPY a", "COPY requires at least two arguments, but only one was provided"),
        ("ADD [\"a\"]", "ADD requires at least two arguments, but only one was provided"),
        ("COPY --from=x", "COPY requires at least two arguments"),
        ("EXPOSE", "EXPOSE requires at least one argument"), ("VOLUME", "VOLUME requires at least one argument"),
        ("VOLUME []", "VOLUME requires at least one argument"),
        ("VOLUME [\"/a\", \" \"]", "VOLUME specified can not be an empty string"),
        ("WORKDIR", "WORKDIR requires exactly one argument"), ("USER", "USER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("ENV", "ENV requires at least one argument"), ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"), ("ONBUILD", "ONBUILD requires at least one argument"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("ENV A", "ENV must have two arguments"), ("ENV a=1 b", "can't find = in \"b\""),
        ("LABEL a=\"x y\" z", "can't find = in \"z\""), ("ENV =x", "ENV names can not be blank"),
        ("ARG =x", "ARG names can not be blank"),
    ])
    func missingArguments(_ line: String, _ message: String) {
        let keyword = String(line.prefix { $0 != " " })
        let description = failure("FROM a\n" + line + "\n")
        #expect(description.hasPrefix("Containerfile:2: \(keyword): "), "\(description)")
        #expect(description.contains(message), "\(description)")
    }

    @Test func heredocsAreRefused() {
        #expect(failure("FROM a\nRUN <<EOF\necho hi\nEOF\n") == "Containerfile:2: RUN: heredocs are not supported")
        #expect(failure("FROM a\nCOPY <<EOF /x\nhi\nEOF\n").hasPrefix("Containerfile:2: COPY: heredocs"))
        #expect(failure("FROM a\nADD <<EOF /x\nhi\nEOF\n").contains("heredocs are not supported"))
        #expect(failure("FROM a\nRUN cat <<-EOT > /x\nEOT\n").contains("heredocs are not supported"))
        #expect(failure("FROM a\nRUN python3 <<\"PY\"\nPY\n").contains("heredocs are not supported"))
        #expect(failure("FROM a\nRUN cat 0<<EOF\nEOF\n").contains("heredocs are not supported"))
    }

    @Test func notHeredocs() throws {
        #expect(try instruction("RUN echo \"<<EOF\"").arguments == .shell("echo \"<<EOF\""))
        #expect(try instruction("RUN cat <<< \"here string\"").arguments == .shell("cat <<< \"here string\""))
        #expect(try instruction("RUN echo a<<b").arguments == .shell("echo a<<b"))
        #expect(try instruction("RUN echo << x").arguments == .shell("echo << x"))
        #expect(try instruction("RUN [\"cat\", \"<<EOF\"]").arguments == .exec(["cat", "<<EOF"]))
    }

    @Test func everyInstruction() throws {
        let all = try instructions(
            """
            FROM base
            MAINTAINER Jane Doe <jane@example.com>
            RUN apt-get update
            CMD ["nginx", "-g", "daemon off;"]
            ENTRYPOINT /entry.sh --flag
            ENV PATH=/x:$PATH LANG="C.UTF-8"
            ENV LEGACY some value
            LABEL "com.example.vendor"="ACME" version=1.0
            ARG A B=2
            ADD https://example.com/a.tgz /opt/
            COPY --chmod=644 a* b/ /dst/
            EXPOSE 80/tcp 443
            VOLUME /data /logs
            VOLUME ["/json"]
            USER app:app
            WORKDIR /app dir
            STOPSIGNAL SIGTERM
            SHELL ["/bin/bash", "-o", "pipefail", "-c"]
            HEALTHCHECK NONE
            ONBUILD COPY --from=x a b
            """)
        #expect(
            all.map(\.keyword) == [
                "MAINTAINER", "RUN", "CMD", "ENTRYPOINT", "ENV", "ENV", "LABEL", "ARG", "ADD", "COPY", "EXPOSE",
                "VOLUME", "VOLUME", "USER", "WORKDIR", "STOPSIGNAL", "SHELL", "HEALTHCHECK", "ONBUILD",
            ])
        #expect(
            all.map(\.arguments) == [
                .shell("Jane Doe <jane@example.com>"),
                .shell("apt-get update"),
                .exec(["nginx", "-g", "daemon off;"]),
                .shell("/entry.sh --flag"),
                .shell("PATH=/x:$PATH LANG=\"C.UTF-8\""),
                .shell("LEGACY some value"),
                .shell("\"com.example.vendor\"=\"ACME\" version=1.0"),
                .shell("A B=2"),
                .words(["https://example.com/a.tgz", "/opt/"]),
                .words(["a*", "b/", "/dst/"]),
                .words(["80/tcp", "443"]),
                .words(["/data", "/logs"]),
                .exec(["/json"]),
                .words(["app:app"]),
                .words(["/app dir"]),
                .words(["SIGTERM"]),
                .exec(["/bin/bash", "-o", "pipefail", "-c"]),
                .healthcheck(HealthcheckArguments(test: nil)),
                .shell("COPY --from=x a b"),
            ])
        #expect(all.map(\.line) == Array(2...20))
        #expect(all[9].flag("chmod") == "644")
        #expect(all[18].flags.isEmpty)
    }

    @Test func onbuild() throws {
        #expect(try instruction("onbuild run echo hi").arguments == .shell("run echo hi"))
        #expect(
            failure("FROM a\nONBUILD ONBUILD RUN x").contains("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"))
        #expect(failure("FROM a\nONBUILD FROM x").contains("FROM isn't allowed as an ONBUILD trigger"))
        #expect(failure("FROM a\nONBUILD MAINTAINER x").contains("MAINTAINER isn't allowed as an ONBUILD trigger"))
        #expect(failure("FROM a\nONBUILD FOO x") == "Containerfile:2: ONBUILD: unknown instruction: FOO")
        #expect(failure("FROM a\nONBUILD RUN") == "Containerfile:2: ONBUILD: RUN requires at least one argument")
        #expect(failure("FROM a\nONBUILD COPY --bad=1 a b").contains("unknown flag: bad"))
    }

    @Test func healthcheck() throws {
        let shell = try instruction(
            "HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=2s --retries=3 \\\n"
                + "  CMD curl -f http://localhost/ || exit 1")
        #expect(
            shell.arguments
                == .healthcheck(
                    HealthcheckArguments(
                        test: ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], interval: "30s", timeout: "3s",
                        startPeriod: "1m", startInterval: "2s", retries: "3")))
        #expect(shell.flag("interval") == "30s")
        #expect(
            try instruction("HEALTHCHECK cmd [\"curl\", \"-f\", \"x\"]").arguments
                == .healthcheck(HealthcheckArguments(test: ["CMD", "curl", "-f", "x"])))
        #expect(
            try instruction("HEALTHCHECK CMD [\"a\", 1]").arguments
                == .healthcheck(HealthcheckArguments(test: ["CMD-SHELL", "[\"a\", 1]"])))
        #expect(try instruction("healthcheck none").arguments == .healthcheck(HealthcheckArguments(test: nil)))
        #expect(
            try instruction("HEALTHCHECK --interval=1h2m3.5s --timeout=0 --retries=0 CMD true").arguments
                == .healthcheck(
                    HealthcheckArguments(test: ["CMD-SHELL", "true"], interval: "1h2m3.5s", timeout: "0", retries: "0"))
        )
        #expect(try instruction("HEALTHCHECK --timeout=1500us CMD true").flag("timeout") == "1500us")
    }

    @Test(arguments: [
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK FOO x", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK --interval=5x CMD true", "invalid duration \"5x\""),
        ("HEALTHCHECK --interval=5 CMD true", "invalid duration \"5\""),
        ("HEALTHCHECK --interval=.s CMD true", "invalid duration"),
        ("HEALTHCHECK --timeout=100us CMD true", "cannot be less than 1ms"),
        ("HEALTHCHECK --start-period=-1s CMD true", "cannot be less than 1ms"),
        ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
        ("HEALTHCHECK --retries=x CMD true", "invalid number \"x\""),
        ("HEALTHCHECK --interval CMD true", "missing a value on flag: interval"),
        ("HEALTHCHECK --every=1s CMD true", "unknown flag: every"),
    ])
    func healthcheckErrors(_ line: String, _ message: String) {
        let description = failure("FROM a\n" + line)
        #expect(description.hasPrefix("Containerfile:2: HEALTHCHECK: "), "\(description)")
        #expect(description.contains(message), "\(description)")
    }

    @Test func goDurations() {
        #expect(DockerfileParser.goDuration("0") == 0)
        #expect(DockerfileParser.goDuration("1.5s") == 1.5e9)
        #expect(DockerfileParser.goDuration("2h45m") == 9900e9)
        #expect(DockerfileParser.goDuration("300ms") == 300e6)
        #expect(DockerfileParser.goDuration("1\u{B5}s") == 1e3)
        #expect(DockerfileParser.goDuration("-1.5h") == -5400e9)
        #expect(DockerfileParser.goDuration(".5s") == 0.5e9)
        #expect(DockerfileParser.goDuration("5.s") == 5e9)
        #expect(DockerfileParser.goDuration("") == nil)
        #expect(DockerfileParser.goDuration("s") == nil)
        #expect(DockerfileParser.goDuration("1d") == nil)
        #expect(DockerfileParser.goDuration("1s2") == nil)
    }

    @Test func argumentsStayRaw() throws {
        // Nothing is substituted or unquoted by the parser.
        #expect(try instruction("COPY \"$SRC\" ${DST:-/x}").arguments == .words(["\"$SRC\"", "${DST:-/x}"]))
        #expect(try instruction("WORKDIR $HOME/app").arguments == .words(["$HOME/app"]))
        #expect(try instruction("EXPOSE $PORT").arguments == .words(["$PORT"]))
    }
}
