import Foundation
import Testing

@testable import BerthSpec

/// The malformed corpus: each `CASE.json` in Corpus/ has a sibling `CASE.expected` with the exact
/// diagnostics (`FILE:LINE:COL: PATH: message`, FILE as the base name). One precise error per problem.
@Suite struct CorpusTests {
    static let corpus: String = Bundle.module.url(forResource: "Corpus", withExtension: nil)!.path

    static let cases: [String] = {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: corpus)) ?? []
        return entries.filter { $0.hasSuffix(".json") }.map { String($0.dropLast(5)) }.sorted()
    }()

    @Test func corpusIsComplete() throws {
        #expect(Self.cases.count >= 60)
        for name in Self.cases {
            #expect(
                FileManager.default.fileExists(atPath: "\(Self.corpus)/\(name).expected"),
                "\(name).json has no \(name).expected")
        }
    }

    @Test(arguments: cases)
    func corpusCase(_ name: String) throws {
        let path = "\(Self.corpus)/\(name).json"
        let expected = try String(contentsOfFile: "\(Self.corpus)/\(name).expected", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let actual: [String]
        switch SpecLoader.load(SpecFile(stem: name, path: path)) {
        case .success: actual = []
        case .failure(let problems):
            actual = problems.diagnostics.sorted(by: Diagnostic.ordered).map {
                "\($0)".replacingOccurrences(of: path, with: "\(name).json")
            }
        }
        #expect(actual == expected)
        // The same bytes through the in-memory path (no file system) give the same answer.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let inMemory = validate(bytes: bytes, file: "\(name).json").diagnostics.map(\.description)
        if name.hasPrefix("root-") {
            #expect(inMemory.count == 1)
        } else {
            #expect(inMemory == expected)
        }
    }

    // MARK: generated big cases (not committed)

    @Test func nesting10000LevelsDeep() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let path = try dir.write("deep.json", "{\"image\":\"busybox\",\"labels\":\(deep)}")
        let result = SpecLoader.load(SpecFile(stem: "deep", path: path))
        guard case .failure(let problems) = result else {
            Issue.record("a 10,000-deep document validated")
            return
        }
        let innerPath = "labels" + String(repeating: "[0]", count: 63)
        #expect(
            problems.diagnostics.map(\.description) == ["\(path):1:92: \(innerPath): nesting is deeper than 64 levels"])

        // Objects and an unterminated array, too.
        let objects = String(repeating: "{\"a\":", count: 10_000) + "1" + String(repeating: "}", count: 10_000)
        let objectLines = validate(objects, file: "o.json").diagnostics.map(\.description)
        #expect(objectLines.count == 1)
        #expect(objectLines.first?.hasSuffix(": nesting is deeper than 64 levels") == true)
        #expect(objectLines.first?.hasPrefix("o.json:1:321: a.a.a.") == true)
        let open = validate(String(repeating: "[", count: 10_000), file: "open.json").diagnostics.map(\.description)
        #expect(open == ["open.json:1:65: \(String(repeating: "[0]", count: 64)): nesting is deeper than 64 levels"])
        // 64 levels are fine.
        let ok =
            "{\"image\":\"busybox\",\"x-deep\":" + String(repeating: "[", count: 63)
            + String(repeating: "]", count: 63) + "}"
        #expect(validate(ok).diagnostics.isEmpty)
    }

    @Test func fiveMegabyteString() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let big = String(repeating: "a", count: 5_000_000)
        let path = try dir.write("big.json", "{\"image\":\"\(big)\"}\n")
        guard case .failure(let problems) = SpecLoader.load(SpecFile(stem: "big", path: path)) else {
            Issue.record("a 5 MB image name validated")
            return
        }
        #expect(
            problems.diagnostics.map(\.description) == [
                "\(path):1:10: image: is 5000000 bytes long; at most 512 are allowed"
            ])
        // Where no limit applies (an x- extension), the same string is accepted.
        #expect(validate("{\"image\":\"busybox\",\"x-pad\":\"\(big)\"}").diagnostics.isEmpty)
        // And as a label value it is refused with the label's limit.
        #expect(
            lines("{\"image\":\"busybox\",\"labels\":{\"a\":\"\(big)\"}}")
                == ["/specs/web.json:1:34: labels.a: is 5000000 bytes long; at most 4096 are allowed"])
    }

    @Test func fileOverTheSizeLimit() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let size = JSONParser.maxFileSize + 1
        let padding = String(repeating: " ", count: size - 20)
        let text = "{\"image\":\"busybox\"}" + padding + "\n"
        #expect(text.utf8.count == size)
        let path = try dir.write("huge.json", text)
        guard case .failure(let problems) = SpecLoader.load(SpecFile(stem: "huge", path: path)) else {
            Issue.record("a file over 8 MiB validated")
            return
        }
        #expect(
            problems.diagnostics.map(\.description) == [
                "\(path):1:1: $: the file is \(size) bytes; a spec file may have at most 8388608 bytes"
            ])
        #expect(
            validate(text, file: "huge.json").diagnostics.map(\.description) == [
                "huge.json:1:1: $: the file is \(size) bytes; a spec file may have at most 8388608 bytes"
            ])
        // Exactly at the limit is fine.
        #expect(validate(String(text.dropLast(2))).diagnostics.isEmpty)
    }
}
