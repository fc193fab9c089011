import Foundation
import Testing

@testable import BerthSpec

/// The merged document berthd records must decode to the very spec it came from.
@Suite struct SerializeTests {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples").path

    @Test func specsWithDropInsRoundTrip() throws {
        let set = SpecLoader.load(directories: [Self.examples])
        #expect(set.specs.count >= 2)
        for loaded in set.specs {
            let bytes = loaded.document.serialized
            // Decoded as from the spec file itself: a relative build context resolves against
            // the file's directory, as it did when loaded.
            let again = try SpecLoader.decode(bytes, origin: loaded.file.path, defaultName: loaded.file.stem).get()
            #expect(again == loaded.spec, "\(String(decoding: bytes, as: UTF8.self))")
        }
        // The web example's drop-in is part of what was applied.
        let web = try #require(set.specs.first { $0.file.stem == "web" })
        #expect(!web.file.dropIns.isEmpty)
    }

    @Test func scalarsAndEscapesRoundTrip() throws {
        let text = #"{"a":"q\"b\\s\n\t\u0001é","n":-12,"d":0.1,"big":1e300,"t":true,"f":false,"z":null,"l":[1,[2,{}]]}"#
        let node = try JSONParser.parse(Array(text.utf8), file: "t").get()
        let out = node.serialized
        let again = try JSONParser.parse(out, file: "t2").get()
        #expect(again.serialized == out)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(out)) as? [String: Any])
        #expect(object["a"] as? String == "q\"b\\s\n\t\u{1}é")
        #expect(object["n"] as? Int == -12)
        #expect(object["d"] as? Double == 0.1)
        #expect(object["big"] as? Double == 1e300)
        #expect(object["t"] as? Bool == true)
        #expect(object["z"] is NSNull)
    }
}
