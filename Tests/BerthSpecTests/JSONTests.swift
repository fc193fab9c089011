import Testing

@testable import BerthSpec

@Suite struct JSONPathTests {
    @Test func rendering() {
        #expect(JSONPath.root.description == "$")
        #expect(JSONPath.root.appending("ports").appending(1).appending("host").description == "ports[1].host")
        #expect(JSONPath.root.appending("labels").appending("com.example.a").description == "labels[\"com.example.a\"]")
        #expect(JSONPath.root.appending("env").appending("A_1").description == "env.A_1")
        #expect(JSONPath.root.appending("1a").description == "[\"1a\"]")
        #expect(JSONPath.root.appending(0).appending(2).description == "[0][2]")
        #expect(JSONPath.root.appending("a\"b\n").description == "[\"a\\\"b\\n\"]")
        #expect(JSONPath.root.appending("x\u{1}").description == "[\"x\\u0001\"]")
        #expect(JSONPath.root.appending("").description == "[\"\"]")
    }

    @Test func pathsInDiagnostics() {
        #expect(
            lines(#"{"image": "busybox", "labels": {"com.example.a": ["x"]}}"#) == [
                #"/specs/web.json:1:50: labels["com.example.a"]: expected a string, number or boolean, found an array"#
            ])
        #expect(
            lines(#"{"image": "busybox", "ports": ["80:80", {"host": "8080", "container": 80}]}"#) == [
                "/specs/web.json:1:50: ports[1].host: expected a whole number, found a string"
            ])
    }
}

@Suite struct PositionTests {
    @Test func columnsCountUnicodeScalars() {
        // é is 2 bytes, € 3, 😀 4: the column still counts one per character.
        let text = "{\"labels\": {\"é\": \"€😀\"}, \"image\": \"busybox\", \"tty\": 1}"
        #expect(lines(text) == ["/specs/web.json:1:52: tty: expected true or false, found a number"])
        let second = "{\n  \"x-note\": \"😀😀😀\", \"tty\": \"no\",\n  \"image\": \"busybox\"\n}"
        #expect(lines(second) == ["/specs/web.json:2:27: tty: expected true or false, found a string"])
    }

    @Test func crlfLineEnds() {
        let text = "{\r\n  \"image\": \"busybox\",\r\n\r\n  \"tty\": \"no\"\r\n}\r\n"
        #expect(lines(text) == ["/specs/web.json:4:10: tty: expected true or false, found a string"])
    }

    @Test func byteOrderMarkTolerated() {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let valid = validate(bytes: bom + Array(#"{"image": "busybox"}"#.utf8))
        #expect(valid.diagnostics.isEmpty)
        #expect(valid.spec?.image?.description == "busybox")
        // Columns after a BOM start at 1 as an editor shows them.
        let invalid = validate(bytes: bom + Array(#"{"image": 1}"#.utf8))
        #expect(
            invalid.diagnostics.map(\.description) == ["/specs/web.json:1:11: image: expected a string, found a number"]
        )
        // A BOM anywhere else is not whitespace.
        let late = validate(bytes: Array(#"{"image": "busybox"}"#.utf8) + bom)
        #expect(late.diagnostics.count == 1)
    }

    @Test func keyLocationsForUnknownKeys() {
        #expect(
            lines("{\n  \"image\": \"busybox\",\n    \"imag\": 1\n}") == [
                "/specs/web.json:3:5: imag: unknown key \"imag\"; did you mean \"image\"?"
            ])
    }

    @Test func escapedKeysAreDecodedBeforeComparison() {
        // "\u0061" is "a": a duplicate, though written differently.
        #expect(
            lines(#"{"image": "busybox", "env": {"a": "1", "\u0061": "2"}}"#) == [
                "/specs/web.json:1:40: env.a: duplicate key \"a\" (first at line 1, column 30)"
            ])
    }

    @Test func valuesSurviveJSONC() {
        let result = validate(
            #"{"image": "busybox", "env": {"E": "a\"b\\c\/d\u00e9\ud83d\ude00", "N": -0, "F": 1.5e3, "B": true}}"#)
        #expect(result.diagnostics.isEmpty)
        #expect(result.spec?.env == ["E": "a\"b\\c/dé😀", "N": "0", "F": "1500", "B": "true"])
    }
}

/// RFC 7396, appendix A, and the locations merged values keep.
@Suite struct MergePatchTests {
    static func node(_ text: String, _ file: String) -> JSONNode {
        guard case .success(let node) = JSONParser.parse(Array(text.utf8), file: file) else {
            fatalError("test JSON does not parse: \(text)")
        }
        return node
    }

    static func canonical(_ node: JSONNode) -> String {
        switch node.value {
        case .null: "null"
        case .bool(let b): "\(b)"
        case .integer(let i): "\(i)"
        case .double(let d): "\(d)"
        case .string(let s): JSONPath.quoted(s)
        case .array(let a): "[" + a.map(canonical).joined(separator: ",") + "]"
        case .object(let m):
            "{"
                + m.sorted { $0.key < $1.key }.map { JSONPath.quoted($0.key) + ":" + canonical($0.node) }
                .joined(separator: ",") + "}"
        }
    }

    static let appendixA: [(String, String, String)] = [
        (#"{"a":"b"}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"b"}"#, #"{"b":"c"}"#, #"{"a":"b","b":"c"}"#),
        (#"{"a":"b"}"#, #"{"a":null}"#, #"{}"#),
        (#"{"a":"b","b":"c"}"#, #"{"a":null}"#, #"{"b":"c"}"#),
        (#"{"a":["b"]}"#, #"{"a":"c"}"#, #"{"a":"c"}"#),
        (#"{"a":"c"}"#, #"{"a":["b"]}"#, #"{"a":["b"]}"#),
        (#"{"a":{"b":"c"}}"#, #"{"a":{"b":"d","c":null}}"#, #"{"a":{"b":"d"}}"#),
        (#"{"a":[{"b":"c"}]}"#, #"{"a":[1]}"#, #"{"a":[1]}"#),
        (#"["a","b"]"#, #"["c","d"]"#, #"["c","d"]"#),
        (#"{"a":"b"}"#, #"["c"]"#, #"["c"]"#),
        (#"{"a":"foo"}"#, #"null"#, #"null"#),
        (#"{"a":"foo"}"#, #""bar""#, #""bar""#),
        (#"{"e":null}"#, #"{"a":1}"#, #"{"a":1,"e":null}"#),
        (#"[1,2]"#, #"{"a":"b","c":null}"#, #"{"a":"b"}"#),
        (#"{}"#, #"{"a":{"bb":{"ccc":null}}}"#, #"{"a":{"bb":{}}}"#),
    ]

    @Test(arguments: appendixA.indices)
    func rfc7396AppendixA(_ i: Int) {
        let (target, patch, result) = Self.appendixA[i]
        let merged = MergePatch.apply(Self.node(patch, "p.json"), to: Self.node(target, "t.json"))
        #expect(Self.canonical(merged) == Self.canonical(Self.node(result, "r.json")))
    }

    @Test func mergedValuesKeepTheirFile() {
        let base = Self.node("{\n  \"image\": \"busybox\",\n  \"env\": {\"A\": \"1\", \"B\": \"2\"}\n}", "base.json")
        let patch = Self.node("{\"env\": {\"B\": \"3\"}}", "drop.json")
        let merged = MergePatch.apply(patch, to: base)
        #expect(merged.location.file == "base.json")
        #expect(merged["image"]?.location == SourceLocation(file: "base.json", line: 2, column: 12))
        #expect(merged["env"]?.location.file == "base.json")
        #expect(merged["env"]?["A"]?.location == SourceLocation(file: "base.json", line: 3, column: 16))
        #expect(merged["env"]?["B"]?.location == SourceLocation(file: "drop.json", line: 1, column: 15))
    }
}
