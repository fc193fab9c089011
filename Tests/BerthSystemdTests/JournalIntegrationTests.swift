import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

extension SystemdIntegrationTests {
    /// journald's native protocol both ways: written with JournalWriter, read back with Journal.
    @Suite struct JournalTests {
        @Test(.integration) func binaryFieldsComeBackByteForByte() throws {
            try Integration.check()
            JournalGate.lockShared()
            defer { JournalGate.unlockShared() }
            let id = UUID().uuidString
            let blob: [UInt8] = [0xFF, 0xFE, 0x00, 0x0A, 0x41, 0x80, 0x0A]  // a newline: the binary form
            let nul: [UInt8] = [0x61, 0x00, 0x62, 0xC3]  // no newline: the text form
            let message = Array("not UTF-8: ".utf8) + [0xC3, 0x28, 0xFF]
            // Over journald's 64 KiB default data threshold and its compression threshold.
            let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try JournalWriter.send(
                message: message, priority: .notice, identifier: "berth-test",
                fields: [
                    ("BERTH_TEST_ID", Array(id.utf8)), ("BERTH_TEST_BLOB", blob), ("BERTH_TEST_NUL", nul),
                    ("BERTH_TEST_BIG", big), ("CONTAINER_NAME", Array("web".utf8)),
                ])
            let entries = try SystemdIntegrationTests.readJournal(match: "BERTH_TEST_ID", id) { !$0.isEmpty }
            #expect(entries.count == 1)
            let entry = try #require(entries.first)
            #expect(entry["MESSAGE"] == message)
            #expect(entry.string("MESSAGE") == "not UTF-8: \u{FFFD}(\u{FFFD}")
            #expect(entry["BERTH_TEST_BLOB"] == blob)
            #expect(entry["BERTH_TEST_NUL"] == nul)
            #expect(entry["BERTH_TEST_BIG"] == big)
            #expect(entry.string("PRIORITY") == "5")
            #expect(entry.string("SYSLOG_IDENTIFIER") == "berth-test")
            #expect(entry.string("CONTAINER_NAME") == "web")
            #expect(entry.string("_PID") == String(getpid()))
            #expect(entry.string("_TRANSPORT") == "journal")
            let now = UInt64(Date().timeIntervalSince1970 * 1e6)
            #expect(entry.realtime > now - 60_000_000 && entry.realtime <= now + 1_000_000)
            #expect(!entry.cursor.isEmpty)
        }

        @Test(.integration) func seekByCursorTailAndFieldByField() throws {
            try Integration.check()
            JournalGate.lockShared()
            defer { JournalGate.unlockShared() }
            let id = UUID().uuidString
            for seq in 1...3 {
                try JournalWriter.send(
                    message: "line \(seq)", fields: ["BERTH_TEST_ID": id, "BERTH_TEST_SEQ": String(seq)])
            }
            let entries = try SystemdIntegrationTests.readJournal(match: "BERTH_TEST_ID", id) { $0.count >= 3 }
            #expect(entries.map { $0.string("BERTH_TEST_SEQ") } == ["1", "2", "3"])

            let journal = try Journal()
            try journal.addMatch("BERTH_TEST_ID", id)
            // From the end backwards.
            try journal.seekTail()
            #expect(try journal.previous()?.string("BERTH_TEST_SEQ") == "3")
            // Back to the second by its cursor, then field by field.
            try journal.seek(cursor: entries[1].cursor)
            #expect(try journal.moveToNext())
            #expect(try journal.cursor() == entries[1].cursor)
            #expect(try journal.field("BERTH_TEST_SEQ") == Array("2".utf8))
            #expect(try journal.field("MESSAGE") == Array("line 2".utf8))
            #expect(try journal.field("BERTH_NO_SUCH_FIELD") == nil)
            #expect(try journal.realtime() == entries[1].realtime)
            let names = Set(try journal.fields().map(\.name))
            #expect(names.isSuperset(of: ["MESSAGE", "PRIORITY", "BERTH_TEST_ID", "BERTH_TEST_SEQ", "_PID"]))
            #expect(try journal.next()?.string("BERTH_TEST_SEQ") == "3")
            #expect(try journal.next() == nil)
            // At the end, a wait returns within its timeout (true if anything at all was logged).
            let start = ContinuousClock.now
            try journal.wait(timeout: .milliseconds(300))
            #expect(ContinuousClock.now - start < .seconds(3))
        }

        @Test(.integration) func disjunctionAndRepeatedFields() throws {
            try Integration.check()
            JournalGate.lockShared()
            defer { JournalGate.unlockShared() }
            let (a, b) = (UUID().uuidString, UUID().uuidString)
            try JournalWriter.send([
                ("MESSAGE", Array("a".utf8)), ("BERTH_TEST_ID", Array(a.utf8)), ("BERTH_TEST_TAG", [0x31]),
                ("BERTH_TEST_TAG", [0x32]),
            ])
            try JournalWriter.send([("MESSAGE", Array("b".utf8)), ("BERTH_TEST_ID", Array(b.utf8))])
            _ = try SystemdIntegrationTests.readJournal(match: "BERTH_TEST_ID", b) { !$0.isEmpty }

            let journal = try Journal()
            try journal.addMatch("BERTH_TEST_ID", a)
            try journal.addDisjunction()
            try journal.addMatch("BERTH_TEST_ID", b)
            try journal.seekHead()
            var messages: [String] = []
            var tags: Set<[UInt8]> = []
            while let entry = try journal.next() {
                messages.append(entry.string("MESSAGE") ?? "")
                tags.formUnion(entry.values("BERTH_TEST_TAG"))
            }
            #expect(messages == ["a", "b"])
            #expect(tags == [[0x31], [0x32]])
        }

        @Test(.integration) func aJournalDirectoryCanBeOpened() throws {
            try Integration.check()
            JournalGate.lockShared()
            defer { JournalGate.unlockShared() }
            let id = UUID().uuidString
            try JournalWriter.send(message: "by directory", fields: ["BERTH_TEST_ID": id])
            _ = try SystemdIntegrationTests.readJournal(match: "BERTH_TEST_ID", id) { !$0.isEmpty }
            let machine = try String(contentsOfFile: "/etc/machine-id", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let directory = try #require(
                ["/var/log/journal/\(machine)", "/run/log/journal/\(machine)"].first {
                    FileManager.default.fileExists(atPath: $0)
                })
            let journal = try Journal(directory: directory)
            try journal.addMatch("BERTH_TEST_ID", id)
            try journal.seekHead()
            #expect(try journal.next()?.string("MESSAGE") == "by directory")
            #expect(throws: SystemdError.self) { try Journal(directory: "/nonexistent/berth-test") }
        }
    }
}
