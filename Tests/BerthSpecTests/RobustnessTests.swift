import Foundation
import Testing

@testable import BerthSpec

/// Property-style, one level up from MutationTests: instead of bytes, whole values are replaced in
/// the parsed tree of a valid spec by values built from the pieces the field syntaxes are made of
/// (":", "=", "-", "+", "[::1]", "1e400", "SIGRTMIN", huge and fractional numbers...). Byte
/// mutations mostly break the JSON; these reach every field rule with odd but well-formed input.
@Suite struct ValueMutationTests {
    static let atoms = [
        "", "0", "1", "-1", "+1", "007", "65535", "65536", "8080", "80", ":", "=", ",", "/", "-", "+", ".", "..",
        "[", "]", "[::1]", "::", "0.0.0.0", "@", "sha256:", "udp", "tcp", "ro", "rw", "size", "mode", "m", "s", "ms",
        "h", "k", "M", "G", "i", "b", "SIG", "RTMIN", "RTMAX", "KILL", "CMD", "CMD-SHELL", "NONE", "ALL", "CAP_",
        " ", "\t", "\n", "é", "😀", "\u{0}", "\u{7F}", "x", "A", "default", "unconfined", "on-failure", "always",
        "1e400",
        "9999999999999", "'", "\"", "\\", "berth.", "net.", "kernel.shmmax", "x-", "$schema",
    ]

    static let numbers: [JSONNode.Value] = [
        .integer(0), .integer(1), .integer(-1), .integer(9), .integer(19), .integer(65535), .integer(65536),
        .integer(Int64.max), .integer(Int64.min), .integer(4_294_967_295), .integer(86_401), .double(0.5),
        .double(-0.0), .double(1e300), .double(-1e300), .double(1e-300), .double(9.3e9), .double(1e10),
        .double(999_999_999_999), .double(1e12), .double(1e15), .double(9.3e18), .double(1.5), .double(64),
    ]

    static let keys = [
        "image", "name", "host", "container", "count", "source", "volume", "target", "test", "soft", "hard", "policy",
        "condition", "context", "nofile", "x-a", "", "\u{0}",
    ]

    static func randomString(_ rng: inout SplitMix64) -> String {
        (0..<Int.random(in: 0...4, using: &rng)).map { _ in atoms.randomElement(using: &rng)! }.joined()
    }

    /// The valid value edited: a piece inserted, removed or replaced, so its syntax is nearly right.
    static func edited(_ text: String, _ rng: inout SplitMix64) -> String {
        var scalars = Array(text.unicodeScalars)
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let a = Int.random(in: 0...scalars.count, using: &rng)
            let b = min(scalars.count, a + Int.random(in: 0...3, using: &rng))
            let piece = Bool.random(using: &rng) ? Array(atoms.randomElement(using: &rng)!.unicodeScalars) : []
            scalars.replaceSubrange(a..<b, with: piece)
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars)
        return String(out)
    }

    static func randomValue(_ rng: inout SplitMix64, depth: Int = 0) -> JSONNode.Value {
        switch Int.random(in: 0..<(depth > 1 ? 4 : 6), using: &rng) {
        case 0: return .string(randomString(&rng))
        case 1: return numbers.randomElement(using: &rng)!
        case 2: return Bool.random(using: &rng) ? .bool(Bool.random(using: &rng)) : .null
        case 3: return .string(randomString(&rng) + randomString(&rng))
        case 4:
            return .array(
                (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                    JSONNode(randomValue(&rng, depth: depth + 1), at: here)
                })
        default:
            var members: [JSONNode.Member] = []
            for key in Set((0..<Int.random(in: 0...3, using: &rng)).map { _ in keys.randomElement(using: &rng)! }) {
                members.append(
                    JSONNode.Member(
                        key: key, node: JSONNode(randomValue(&rng, depth: depth + 1), at: here), keyLocation: here))
            }
            return .object(members)
        }
    }

    static let here = SourceLocation(file: "/specs/fuzz.json", line: 3, column: 7)

    /// Every path to a value in `node`.
    static func paths(_ node: JSONNode, _ prefix: [JSONPath.Component] = []) -> [[JSONPath.Component]] {
        switch node.value {
        case .object(let members):
            return members.flatMap { [prefix + [.key($0.key)]] + paths($0.node, prefix + [.key($0.key)]) }
        case .array(let elements):
            return elements.indices.flatMap { [prefix + [.index($0)]] + paths(elements[$0], prefix + [.index($0)]) }
        default:
            return []
        }
    }

    static func value(at path: ArraySlice<JSONPath.Component>, in node: JSONNode) -> JSONNode? {
        guard let first = path.first else { return node }
        switch (node.value, first) {
        case (.object(let members), .key(let key)):
            return members.first { $0.key == key }.flatMap { value(at: path.dropFirst(), in: $0.node) }
        case (.array(let elements), .index(let i)) where elements.indices.contains(i):
            return value(at: path.dropFirst(), in: elements[i])
        default:
            return nil
        }
    }

    static func replacing(_ node: JSONNode, at path: ArraySlice<JSONPath.Component>, with value: JSONNode.Value)
        -> JSONNode
    {
        guard let first = path.first else { return JSONNode(value, at: here) }
        var copy = node
        switch (node.value, first) {
        case (.object(var members), .key(let key)):
            if let i = members.firstIndex(where: { $0.key == key }) {
                members[i].node = replacing(members[i].node, at: path.dropFirst(), with: value)
            }
            copy.value = .object(members)
        case (.array(var elements), .index(let i)) where elements.indices.contains(i):
            elements[i] = replacing(elements[i], at: path.dropFirst(), with: value)
            copy.value = .array(elements)
        default:
            break
        }
        return copy
    }

    @Test func replacedValuesNeverCrashAndAlwaysExplain() throws {
        var rng = SplitMix64(seed: 0x5EED_BE27)
        var invalid = 0
        for (index, sample) in Samples.all.enumerated() {
            guard case .success(let root) = JSONParser.parse(Array(sample.utf8), file: Self.here.file) else {
                Issue.record("sample \(index) does not parse")
                continue
            }
            let paths = Self.paths(root)
            for _ in 0..<2500 {
                var tree = root
                for _ in 0..<Int.random(in: 1...2, using: &rng) {
                    let path = paths.randomElement(using: &rng)!
                    var value = Self.randomValue(&rng)
                    if Bool.random(using: &rng), case .string(let text)? = Self.value(at: path[...], in: tree)?.value {
                        value = .string(Self.edited(text, &rng))
                    }
                    tree = Self.replacing(tree, at: path[...], with: value)
                }
                var decoder = SpecDecoder()
                let spec = decoder.decode(tree, defaultName: "fuzz")
                if spec == nil { invalid += 1 }
                #expect((spec == nil) == decoder.diagnostics.hasErrors)
                for d in decoder.diagnostics {
                    if d.message.isEmpty || d.location.line < 1 || d.location.column < 1
                        || d.location.file != Self.here.file || d.path.description.isEmpty
                    {
                        Issue.record("malformed diagnostic \(d)")
                    }
                }
            }
        }
        #expect(invalid > 5000)
    }
}

/// Inputs that crashed or hung the validator, or got an unclear message, each pinned down.
@Suite struct RobustnessTests {
    @Test func durationsBeyondInt64Nanoseconds() {
        // 10^10 s is more nanoseconds than an Int64 holds; the conversion used to trap.
        let result = validate(
            #"{"image": "busybox", "healthcheck": {"test": "true", "interval": "10000000000s", "startPeriod": 9300000000.5}}"#
        )
        #expect(result.diagnostics.isEmpty)
        #expect(result.spec?.healthcheck?.interval == .seconds(10_000_000_000))
        #expect(result.spec?.healthcheck?.startPeriod == .seconds(9_300_000_000) + .milliseconds(500))
        #expect(Quantity.duration(seconds: 1.25) == .milliseconds(1250))
        #expect(Quantity.duration("999999999999s") == .seconds(999_999_999_999))
        #expect(Quantity.duration("1000000000000s") == nil)
        #expect(
            lines(#"{"image": "busybox", "stopTimeout": 100000000000}"#) == [
                "/specs/web.json:1:37: stopTimeout: a stop timeout of more than a day is not supported"
            ])
        #expect(
            lines(#"{"image": "busybox", "stopTimeout": 1e12}"#) == [
                "/specs/web.json:1:37: stopTimeout: a duration of 1000000000000.0 seconds is too long"
            ])
    }

    @Test func tmpfsOptionThatIsOnlyAnEqualsSign() {
        for text in ["/run:=", "/run:size=1m,=", "/run:=,mode=1777"] {
            #expect(
                lines("{\"image\": \"busybox\", \"tmpfs\": [\"\(text)\"]}") == [
                    "/specs/web.json:1:32: tmpfs[0]: unknown tmpfs option \"=\": expected size=SIZE or mode=OCTAL"
                ], "\(text)")
        }
    }

    /// Each of these used to take from seconds to minutes (quadratic work); now milliseconds.
    static func seconds(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let elapsed = clock.measure(body)
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test func megabyteUnknownKey() {
        let key = String(repeating: "k", count: 1_000_000)
        var found: [String] = []
        let elapsed = Self.seconds { found = lines("{\"image\": \"busybox\", \"\(key)\": 1}") }
        #expect(elapsed < 10, "a 1 MB unknown key took \(elapsed) s")
        // Quoted keys are cut short: the message is one readable line, not two megabytes.
        let short = "[\"" + String(repeating: "k", count: JSONPath.quotedLimit) + "…\"]"
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("/specs/web.json:1:22: \(short): unknown key \"kkk") == true)
        #expect((found.first?.utf8.count ?? 0) < 2000)
    }

    @Test func manyDependencies() {
        let names = (0..<40_000).map { "\"a\($0)\"" }.joined(separator: ", ")
        var result: (spec: ContainerSpec?, diagnostics: [Diagnostic]) = (nil, [])
        let elapsed = Self.seconds { result = validate("{\"image\": \"busybox\", \"dependsOn\": [\(names), \"a7\"]}") }
        #expect(elapsed < 10, "40,000 dependencies took \(elapsed) s")
        #expect(result.diagnostics.map(\.message) == ["\"a7\" is listed twice"])
        #expect(result.diagnostics.first?.path.description == "dependsOn[40000]")
    }

    @Test func tooManyPortMappings() {
        func spec(_ count: Int) -> String {
            let ports = (1...count).map { "\"10.0.\($0 >> 8).\($0 & 255):80:80\"" }.joined(separator: ", ")
            return "{\"image\": \"busybox\", \"ports\": [\(ports)], \"sysctls\": {\"vm.swappiness\": 1}}"
        }
        // At the limit: valid ports (each on its own address), and the fields after ports still checked.
        #expect(
            validate(spec(SpecDecoder.maxPorts)).diagnostics.map(\.path.description) == ["sysctls[\"vm.swappiness\"]"])
        let over = validate(spec(20_000)).diagnostics.map(\.description)
        #expect(over.count == 2)
        #expect(
            over.first
                == "/specs/web.json:1:31: ports: 20000 port mappings are too many: at most 1024 (a range such as \"8000-8100:8000-8100\" counts as one)"
        )
    }

    @Test func invisibleCharactersAreNamed() {
        func error(_ bytes: [UInt8]) -> String? {
            validate(bytes: Array(#"{"image": "busybox","#.utf8) + bytes + Array(#""tty": true}"#.utf8)).diagnostics
                .first?
                .message
        }
        #expect(
            error([0xC2, 0xA0]) == "expected a string key in double quotes, found U+00A0 (a space JSON does not allow)")
        #expect(
            error([0xE2, 0x80, 0x8B]) == "expected a string key in double quotes, found U+200B (an invisible character)"
        )
        #expect(
            error([0xEF, 0xBB, 0xBF]) == "expected a string key in double quotes, found U+FEFF (a byte order mark)")
        #expect(error([0xC3, 0xA9]) == "expected a string key in double quotes, found 'é'")
    }

    @Test func wholeNumbersWrittenAsFloats() {
        // Every integer field takes 1000.0 and 1e3 (JSON Schema calls them integers too).
        let result = validate(
            #"{"image": "busybox", "user": 1000.0, "groupAdd": [1e3], "stopSignal": 15.0, "resources": {"memory": 6.7108864e7, "pids": 1e2}}"#
        )
        #expect(result.diagnostics.map(\.description) == [])
        #expect(result.spec?.user == "1000")
        #expect(result.spec?.groupAdd == ["1000"])
        #expect(result.spec?.stopSignal == Signal(number: 15))
        #expect(result.spec?.resources.memory == 64 << 20)
        #expect(result.spec?.resources.pids == 100)
        // A fraction, or a whole number no integer holds, says so (not "found a number").
        #expect(
            lines(#"{"image": "busybox", "resources": {"memory": 1.5, "pids": 1e300}, "stopSignal": 2.5}"#) == [
                "/specs/web.json:1:46: resources.memory: expected a whole number of bytes, found a fraction",
                "/specs/web.json:1:59: resources.pids: 1e+300 is out of range: must be between 1 and 4194304",
                "/specs/web.json:1:81: stopSignal: expected a whole number, found a fraction",
            ])
        #expect(
            lines(#"{"image": "busybox", "resources": {"shmSize": -1e19}, "groupAdd": [1e19]}"#) == [
                "/specs/web.json:1:47: resources.shmSize: -1e+19 bytes is too small: at least 1 bytes",
                "/specs/web.json:1:68: groupAdd[0]: 1e+19 is out of range: must be between 0 and 4294967294",
            ])
    }

    @Test func binaryUnitNeedsAUnit() {
        #expect(Quantity.bytes("256Mi") == 256 << 20)
        #expect(Quantity.bytes("256MiB") == 256 << 20)
        #expect(Quantity.bytes("1ki") == 1024)
        for bad in ["256i", "256ib", "256iB", "i", "ib"] {
            #expect(Quantity.bytes(bad) == nil, "\(bad)")
        }
    }

    @Test func blankHealthCommands() {
        for test in [#""  ""#, #""\t""#, #"["CMD-SHELL", " "]"#] {
            #expect(
                validate("{\"image\": \"busybox\", \"healthcheck\": {\"test\": \(test)}}").diagnostics.count == 1,
                "\(test)")
        }
        #expect(
            validate(#"{"image": "busybox", "healthcheck": {"test": " true "}}"#).spec?.healthcheck?.test
                == .shell(" true "))
    }

    @Test func portMappingWithoutPorts() {
        for text in ["/udp", "", "[::1]:"] {
            #expect(
                PortShortFormTests.problem(text) == "expected \"[ADDRESS:]HOST:CONTAINER[/udp]\", e.g. \"8080:80\"",
                "\(text)")
        }
    }

    @Test func quotedStringsAreCutShort() {
        let limit = JSONPath.quotedLimit
        #expect(
            JSONPath.quoted(String(repeating: "é", count: limit)) == "\"" + String(repeating: "é", count: limit) + "\"")
        #expect(
            JSONPath.quoted(String(repeating: "é", count: limit + 1)) == "\"" + String(repeating: "é", count: limit)
                + "…\"")
        let long = String(repeating: "a", count: limit + 1)
        #expect(JSONPath.root.appending(long).description == "[\"" + String(repeating: "a", count: limit) + "…\"]")
        #expect(JSONPath.root.appending(String(long.dropLast())).description == String(long.dropLast()))
    }

    @Test func sameFileNamedTwiceIsOneSpec() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let web = try t.write("d/web.json", #"{"image": "busybox", "ports": ["8080:80"]}"#)
        try t.symlink("other/web.json", to: web)
        try t.symlink("other/alias.json", to: web)
        // As `berth validate d d/web.json d/./web.json other/web.json` would name it.
        let files = [web, t.path + "/d/./web.json", t.path + "/other/web.json"].map(SpecFiles.single)
        let set = SpecLoader.load(files: SpecFiles.discover(in: [t.path + "/d"]).files + files)
        #expect(set.diagnostics.map(\.description) == [])
        #expect(set.specs.map(\.spec.name) == ["web"])
        #expect(set.files.count == 1)
        // A different file with the same name still collides; so does a link under another name,
        // which is another container publishing the same port.
        try t.write("e/web.json", #"{"image": "busybox"}"#)
        let two = SpecLoader.load(files: [SpecFiles.single(web), SpecFiles.single(t.path + "/e/web.json")])
        #expect(two.diagnostics.count == 2)
        let alias = SpecLoader.load(files: [SpecFiles.single(web), SpecFiles.single(t.path + "/other/alias.json")])
        #expect(alias.specs.count == 2)
        #expect(
            alias.diagnostics.map(\.message) == [
                "host port 8080/tcp is already published by \"web\" at \(t.path)/d/web.json:1:32 (ports[0]): 8080/tcp"
            ])
    }

    @Test(.timeLimit(.minutes(1)))
    func fifoIsRefusedNotWaitedFor() throws {
        // Opening a named pipe for reading waits for a writer: validation used to hang on one.
        let t = try TempDir()
        defer { t.cleanup() }
        let dir = try t.mkdir("d")
        #expect(mkfifo(dir + "/web.json", 0o644) == 0)
        let set = SpecLoader.load(directories: [dir])
        #expect(set.diagnostics.map(\.description) == ["\(dir)/web.json:1:1: $: is not a regular file"])
    }

    @Test func threeDirectoriesInOrder() throws {
        // /etc over /run over /usr/lib: each name from the first directory that has it.
        let t = try TempDir()
        defer { t.cleanup() }
        let dirs = ["etc", "run", "usr"].map { t.path + "/" + $0 }
        try t.write("usr/a.json", #"{"image": "usr-a"}"#)
        try t.write("usr/b.json", #"{"image": "usr-b"}"#)
        try t.write("usr/c.json", #"{"image": "usr-c"}"#)
        try t.write("run/b.json", #"{"image": "run-b"}"#)
        try t.write("run/c.json", #"{"image": "run-c"}"#)
        try t.write("etc/c.json", #"{"image": "etc-c"}"#)
        try t.symlink("run/a.json", to: "/dev/null")
        try t.write("usr/a.json.d/10.json", #"{"tty": true}"#)
        let set = SpecLoader.load(directories: dirs)
        #expect(set.diagnostics.isEmpty)
        #expect(set.masked == ["a": t.path + "/run/a.json"])
        #expect(set.specs.map { "\($0.spec.name)=\($0.spec.image!)" } == ["b=run-b", "c=etc-c"])
        // Reversed, /usr wins.
        let reversed = SpecLoader.load(directories: dirs.reversed())
        #expect(reversed.specs.map { "\($0.spec.name)=\($0.spec.image!)" } == ["a=usr-a", "b=usr-b", "c=usr-c"])
        #expect(reversed.specs.first?.spec.tty == true)
    }
}
