import BerthRuntime
import BerthTestSupport
import Foundation
import Testing

extension BerthdSuites {
    /// Health checks probed by berthd, a real unit of the sandbox's systemd: states as Docker's in
    /// inspect, ps and status, each change in the container's own journal, onFailure acted on.
    @Suite struct HealthIntegrationTests {
        static func spec(check: String, extra: String = "") -> String {
            """
            {"image": "\(BerthdIntegrationTests.image)", "command": ["sleep", "600"], "stopTimeout": "1s",
             "healthcheck": {"test": \(check), "interval": "200ms", "timeout": "2s", "retries": 2\(extra)}}
            """
        }

        static func scopeJournal(_ name: String) throws -> String {
            try Command.run("/usr/bin/journalctl", ["-u", "berth-\(name).scope", "-o", "cat", "--no-pager"]).out
        }

        @Test(.integration) func aPassingCheckMakesItHealthy() throws {
            try Integration.check()
            try BerthdIntegrationTests.prepareImages()
            let daemon = try BerthdUnderTest()
            let name = RuntimeIntegrationTests.unique("hc-ok")
            defer { daemon.tearDown(names: [name]) }
            try daemon.drop(name, Self.spec(check: "[\"CMD\", \"cat\", \"/srv/message\"]"))
            #expect(try BerthdUnderTest.waitUntil { try daemon.inspect(name, "{{.State.Health.Status}}") == "healthy" })
            let log = try #require(try daemon.inspect(name, "{{json .State.Health.Log}}"))
            #expect(log.contains("\"ExitCode\":0") && log.contains("from the image"), "\(log)")
            #expect(try CLIIntegrationTests.berth(["ps"]).out.contains("(healthy)"))
            #expect(try daemon.berth(["status"]).out.contains("running (healthy)"))
            // The change of state is an entry of the container's unit.
            #expect(
                try BerthdUnderTest.waitUntil { try Self.scopeJournal(name).contains("health healthy (was starting)") })
            // Probes go on: the log keeps the last five.
            #expect(
                try BerthdUnderTest.waitUntil {
                    (try daemon.inspect(name, "{{json .State.Health.Log}}") ?? "").components(separatedBy: "ExitCode")
                        .count
                        == 6
                })
            // A changed check applies to the running container: same process, now failing.
            let pid = try daemon.pid(name)
            try daemon.drop(name, Self.spec(check: "[\"CMD\", \"cat\", \"/nonexistent\"]"))
            #expect(
                try BerthdUnderTest.waitUntil { try daemon.inspect(name, "{{.State.Health.Status}}") == "unhealthy" })
            #expect(try daemon.pid(name) == pid)
            #expect(try daemon.journal().contains("\(name): health check changed, applied live"))
        }

        /// `berth run --health-cmd`: berthd probes it too (only looking: it is not berthd's).
        @Test(.integration) func aBerthRunContainersCheckIsProbed() throws {
            try Integration.check()
            try BerthdIntegrationTests.prepareImages()
            let daemon = try BerthdUnderTest()
            let name = RuntimeIntegrationTests.unique("hc-run")
            let off = RuntimeIntegrationTests.unique("hc-run-off")
            defer { daemon.tearDown(names: [name, off]) }
            let run = try daemon.berth([
                "run", "-d", "--name", name, "--network", "none", "--health-cmd", "cat /srv/message",
                "--health-interval", "200ms", BerthdIntegrationTests.image, "sleep", "600",
            ])
            #expect(run.status == 0, "\(run.err)")
            #expect(
                try daemon.berth([
                    "run", "-d", "--name", off, "--no-healthcheck", BerthdIntegrationTests.image, "sleep", "600",
                ])
                .status == 0)
            #expect(try BerthdUnderTest.waitUntil { try daemon.inspect(name, "{{.State.Health.Status}}") == "healthy" })
            #expect(try daemon.inspect(off, "{{json .State.Health}}") == "null")
        }

        @Test(.integration) func aFailingCheckMakesItUnhealthyAndOnFailureRestartsIt() throws {
            try Integration.check()
            try BerthdIntegrationTests.prepareImages()
            let daemon = try BerthdUnderTest()
            let name = RuntimeIntegrationTests.unique("hc-bad")
            defer { daemon.tearDown(names: [name]) }
            try daemon.drop(
                name, Self.spec(check: "[\"CMD-SHELL\", \"echo no; exit 3\"]", extra: ", \"onFailure\": \"restart\""))
            #expect(try BerthdUnderTest.waitUntil { try daemon.running(name) })
            let pid = try daemon.pid(name)
            #expect(
                try BerthdUnderTest.waitUntil {
                    try Self.scopeJournal(name).contains("health unhealthy (was starting)")
                })
            let journal = try Self.scopeJournal(name)
            #expect(journal.contains("2 failed probes in a row, the last exit 3, output \"no\""), "\(journal)")
            #expect(
                try BerthdUnderTest.waitUntil { try daemon.journal().contains("\(name): unhealthy; restarting in") })
            #expect(
                try BerthdUnderTest.waitUntil { try daemon.running(name) && daemon.pid(name) != pid },
                "\((try? daemon.journal()) ?? "")")
            let status = try daemon.berth(["status", "--format", "json"]).out
            #expect(!status.contains("\"restarts\":0"), "\(status)")
        }

        @Test(.integration) func aTimedOutProbeFailsAndADisabledCheckIsNotRun() throws {
            try Integration.check()
            try BerthdIntegrationTests.prepareImages()
            let daemon = try BerthdUnderTest()
            let slow = RuntimeIntegrationTests.unique("hc-slow")
            let off = RuntimeIntegrationTests.unique("hc-off")
            defer { daemon.tearDown(names: [slow, off]) }
            try daemon.drop(
                slow,
                Self.spec(check: "[\"CMD\", \"sleep\", \"5\"]").replacingOccurrences(
                    of: "\"timeout\": \"2s\"", with: "\"timeout\": \"300ms\""))
            try daemon.drop(
                off,
                """
                {"image": "\(BerthdIntegrationTests.image)", "command": ["sleep", "600"], "healthcheck": {"disable": true}}
                """)
            #expect(
                try BerthdUnderTest.waitUntil { try daemon.inspect(slow, "{{.State.Health.Status}}") == "unhealthy" })
            let log = try #require(try daemon.inspect(slow, "{{json .State.Health.Log}}"))
            #expect(log.contains("exceeded timeout") && log.contains("\"ExitCode\":-1"), "\(log)")
            #expect(try daemon.running(off))
            #expect(
                try daemon.inspect(off, "{{json .State.Health}}") == "null"
                    || daemon.inspect(off, "{{.State.Health}}") == "")
        }
    }
}
