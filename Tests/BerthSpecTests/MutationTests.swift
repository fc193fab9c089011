import Testing

@testable import BerthSpec

/// Property-style: realistic valid specs, mutated byte by byte with a seeded PRNG. Whatever comes
/// out, validation must not crash and every diagnostic must be well formed.
@Suite struct MutationTests {
    @Test(arguments: Samples.all.indices)
    func samplesAreValid(_ index: Int) {
        let result = validate(Samples.all[index], file: "/specs/sample\(index).json")
        #expect(result.diagnostics.map(\.description) == [])
        #expect(result.spec != nil)
    }

    static let interestingBytes: [UInt8] = [
        0x00, 0xFF, 0x22, 0x7B, 0x7D, 0x5B, 0x5D, 0x2C, 0x3A, 0x5C, 0x0A, 0x0D, 0x09, 0x20, 0x2D, 0x30, 0x39, 0x65,
        0x2E, 0x27, 0x2F, 0x2A, 0xC0, 0xE2, 0xED, 0xF0, 0x80, 0x7F, 0x01, 0x6E, 0x74, 0x66,
    ]
    static let replacementValues = [
        "null", "true", "false", "0", "-1", "12", "1.5", "1e400", "99999999999999999999999", "\"\"", "\"x\"",
        "\"\\u0000\"", "\"\\ud800\"", "[]", "[1, \"a\"]", "{}", "{\"a\": null}", "\"8080:80\"", "\"/\"", "\"256M\"",
        "\"ALL\"", "-0", "NaN",
    ]

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        let count = bytes.count
        func at() -> Int { Int.random(in: 0..<max(count, 1), using: &rng) }
        switch Int.random(in: 0..<7, using: &rng) {
        case 0:  // delete a byte
            if !bytes.isEmpty { bytes.remove(at: at()) }
        case 1:  // insert a byte: an interesting one, or any
            let b =
                Bool.random(using: &rng)
                ? interestingBytes.randomElement(using: &rng)! : UInt8.random(in: 0...255, using: &rng)
            bytes.insert(b, at: Int.random(in: 0...count, using: &rng))
        case 2:  // duplicate a slice
            let start = at()
            let end = min(count, start + Int.random(in: 1...40, using: &rng))
            bytes.insert(contentsOf: bytes[start..<end], at: Int.random(in: 0...count, using: &rng))
        case 3:  // swap two bytes
            if count > 1 { bytes.swapAt(at(), at()) }
        case 4:  // truncate
            bytes.removeLast(Int.random(in: 0...count, using: &rng))
        case 5:  // overwrite a byte
            if !bytes.isEmpty { bytes[at()] = interestingBytes.randomElement(using: &rng)! }
        default:  // replace a value by one of another type
            let colons = bytes.indices.filter { bytes[$0] == UInt8(ascii: ":") }
            guard let colon = colons.randomElement(using: &rng) else { break }
            var end = colon + 1
            while end < count, bytes[end] == 0x20 { end += 1 }
            let start = end
            if end < count, bytes[end] == UInt8(ascii: "\"") {
                end += 1
                while end < count, bytes[end] != UInt8(ascii: "\"") { end += 1 }
                end = min(count, end + 1)
            } else {
                while end < count, !",}]\n".utf8.contains(bytes[end]) { end += 1 }
            }
            let value = replacementValues.randomElement(using: &rng)!
            bytes.replaceSubrange(start..<end, with: Array(value.utf8))
        }
        return bytes
    }

    @Test func mutatedSpecsNeverCrashAndAlwaysExplain() {
        var rng = SplitMix64(seed: 0xBE27_5EED)
        var invalid = 0
        var total = 0
        for (index, sample) in Samples.all.enumerated() {
            let file = "/specs/sample\(index).json"
            for _ in 0..<1000 {
                var bytes = Array(sample.utf8)
                for _ in 0..<Int.random(in: 1...3, using: &rng) { bytes = Self.mutate(bytes, &rng) }
                let result = validate(bytes: bytes, file: file)
                total += 1
                if result.spec == nil { invalid += 1 }
                // A spec that is not valid says why; a valid one has no errors.
                #expect((result.spec == nil) == result.diagnostics.hasErrors)
                for d in result.diagnostics {
                    let ok =
                        !d.message.isEmpty && d.location.line >= 1 && d.location.column >= 1
                        && d.location.file == file && !d.path.description.isEmpty
                        && !d.message.contains("json-c rejected") && !d.message.contains("internal error")
                    if !ok {
                        Issue.record(
                            "malformed diagnostic \(d) for input \(String(decoding: bytes, as: UTF8.self).debugDescription)"
                        )
                    }
                    // The line exists in the input.
                    let lineCount = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).count
                    #expect(d.location.line <= lineCount, "\(d)")
                }
            }
        }
        #expect(total == 4000)
        #expect(invalid > 1000)
    }
}
