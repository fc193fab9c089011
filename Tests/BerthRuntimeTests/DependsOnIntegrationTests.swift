import BerthRuntime
import BerthTestSupport
import Foundation
import Testing

extension BerthdSuites {
    /// Start order with berthd: a dependant waits for its dependency's condition, is stopped
    /// first, and a cycle blocks only its members.
    @Suite struct DependsOnIntegrationTests {
        static let image = BerthdIntegrationTests.image

        /// berthd's journal as (seconds since the epoch, message), in order.
        static func entries(_ daemon: BerthdUnderTest) throws -> [(Double, String)] {
            let out = try Command.run("/usr/bin/journalctl", ["-u", daemon.unit, "-o", "short-unix", "--no-pager"]).out
            return out.split(separator: "\n").compactMap { line in
                let parts = line.split(separator: " ", maxSplits: 2)
                guard parts.count == 3, let time = Double(parts[0]), let colon = parts[2].range(of: ": ") else {
                    return nil
                }
                return (time, String(parts[2][colon.upperBound...]))
            }
        }

        static func first(_ entries: [(Double, String)], _ text: String) -> Double? {
            entries.first { $0.1.contains(text) }?.0
        }

        @Test(.integration) func aDependantStartsOnceItsDependencyIsHealthyAndStopsFirst() throws {
            try Integration.check()
            try BerthdIntegrationTests.prepareImages()
            let daemon = try BerthdUnderTest()
            let db = RuntimeIntegrationTests.unique("dep-db")
            let web = RuntimeIntegrationTests.unique("dep-web")
            defer { daemon.tearDown(names: [web, db]) }
            // Its first probe fails, the next passes: healthy half a second after it starts.
            try daemon.drop(
                db,
                """
                {"image": "\(Self.image)", "user": "0", "command": ["sleep", "600"], "stopTimeout": "1s",
                 "healthcheck": {"test": ["CMD-SHELL", "test -e /srv/ok || { touch /srv/ok; exit 1; }"],
                                 "interval": "250ms", "retries": 5}}
                """)
            try daemon.drop(
                web,
                """
                {"image": "\(Self.image)", "command": ["sleep", "600"], "stopTimeout": "1s",
                 "dependsOn": [{"name": "\(db)", "condition": "healthy"}]}
                """)
            let apply = try daemon.berth(["apply", web])
            #expect(apply.out.contains("\(web): created"), "\(apply)")
            #expect(try daemon.running(web) && daemon.running(db))
            let log = try Self.entries(daemon)
            let healthy = try #require(Self.first(log, "\(db): health healthy"), "\(log)")
            let created = try #require(Self.first(log, "\(web): created"))
            #expect(Self.first(log, "\(web): waiting for \(db) to be healthy") != nil)
            #expect(healthy <= created, "web created at \(created), db healthy at \(healthy)")

            // Both specs removed at once: the dependant goes first.
            try daemon.remove(web)
            try daemon.remove(db)
            #expect(try BerthdUnderTest.waitUntil { try daemon.id(db) == nil && daemon.id(web) == nil })
            let after = try Self.entries(daemon)
            let webGone = try #require(Self.first(after, "\(web): removed"))
            let dbGone = try #require(Self.first(after, "\(db): removed"))
            #expect(webGone <= dbGone)
        }

        @Test(.integration) func aCycleBlocksOnlyItsMembers() throws {
            try Integration.check()
            try BerthdIntegrationTests.prepareImages()
            let daemon = try BerthdUnderTest()
            let a = RuntimeIntegrationTests.unique("cyc-a")
            let b = RuntimeIntegrationTests.unique("cyc-b")
            let free = RuntimeIntegrationTests.unique("cyc-free")
            defer { daemon.tearDown(names: [a, b, free]) }
            try daemon.drop(
                a, "{\"image\": \"\(Self.image)\", \"command\": [\"sleep\", \"600\"], \"dependsOn\": [\"\(b)\"]}")
            try daemon.drop(
                b, "{\"image\": \"\(Self.image)\", \"command\": [\"sleep\", \"600\"], \"dependsOn\": [\"\(a)\"]}")
            try daemon.drop(free, "{\"image\": \"\(Self.image)\", \"command\": [\"sleep\", \"600\"]}")
            #expect(try BerthdUnderTest.waitUntil { try daemon.running(free) })
            #expect(try BerthdUnderTest.waitUntil { try daemon.journal().contains("dependency cycle") })
            let status = try daemon.berth(["status"]).out
            #expect(status.contains("\(a).json:1:") && status.contains("\(b).json:1:"), "\(status)")
            #expect(status.contains("dependency cycle"))
            #expect(try daemon.id(a) == nil && daemon.id(b) == nil)
            // Broken, the cycle lets both start.
            try daemon.drop(b, "{\"image\": \"\(Self.image)\", \"command\": [\"sleep\", \"600\"]}")
            #expect(try BerthdUnderTest.waitUntil { try daemon.running(a) && daemon.running(b) })
        }
    }
}
