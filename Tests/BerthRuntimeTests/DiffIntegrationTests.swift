import BerthTestSupport
import Foundation
import Testing

extension BerthdSuites {
    /// `berth diff` against real containers: specs with no container are to be created, a spec whose
    /// name a `berth run` container holds is a conflict naming it (and that container is left as it
    /// is), an invalid spec with no container says nothing.
    @Suite struct DiffIntegrationTests {
        @Test(.integration) func thePlanForSpecsAndTheContainersThere() throws {
            try Integration.check()
            let rootfs = try RuntimeIntegrationTests.makeRootfs()
            let specs = CLIIntegrationTests.root + "/specs-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: specs, withIntermediateDirectories: true)
            let web = RuntimeIntegrationTests.unique("web")
            let taken = RuntimeIntegrationTests.unique("taken")
            let broken = RuntimeIntegrationTests.unique("broken")
            for name in [web, taken] {
                try """
                {"image": "localhost/example:1", "command": ["sleep", "600"], "ports": ["18580:80"]}
                """.write(toFile: "\(specs)/\(name).json", atomically: true, encoding: .utf8)
            }
            try "{\"image\": ".write(toFile: "\(specs)/\(broken).json", atomically: true, encoding: .utf8)
            let run = try CLIIntegrationTests.berth(["run", "-d", "--rootfs", rootfs, "--name", taken, "sleep", "600"])
            try #require(run.status == 0, "\(run.err)")
            defer { _ = try? CLIIntegrationTests.berth(["rm", "-f", taken]) }
            let id = run.out.trimmingCharacters(in: .whitespacesAndNewlines)

            let diff = try CLIIntegrationTests.berth(["--spec-dir", specs, "diff"])
            #expect(diff.status == 0, "\(diff.err)")
            let lines = diff.out.split(separator: "\n").map(String.init)
            #expect(lines.contains("+ \(web) (localhost/example:1)"), "\(diff.out)")
            #expect(
                lines.contains { $0.hasPrefix("! \(taken): ") && $0.contains(id) && $0.contains("\"cli\"") },
                "\(diff.out)")
            #expect(!diff.out.contains(broken), "\(diff.out)")
            #expect(lines.last == "Plan: 1 to create, 1 to conflict, 1 unchanged.", "\(diff.out)")
            // Only a plan: nothing was created, and the conflicting container still runs.
            #expect(try CLIIntegrationTests.berth(["inspect", web]).status != 0)
            #expect(
                try CLIIntegrationTests.berth(["inspect", "--format", "{{.State.Status}}", taken]).out == "running\n")
        }
    }
}
