import BerthDaemon
import BerthReconciler
import BerthSpec
import Foundation
import Testing

@testable import BerthRuntime

/// The pure parts around berthd: its status summary, the supervisor configuration's volume
/// mounts rewritten for a live change, the control protocol's JSON.
struct DaemonUnitTests {
    func row(_ name: String, _ state: String) -> StatusRow { StatusRow(name: name, file: nil, state: state) }

    @Test func theStatusLineCountsStatesInAFixedOrder() {
        #expect(StatusReport.summary([]) == "no specs")
        let rows = [
            row("a", "running"), row("b", "invalid"), row("c", "running"), row("d", "restarting"),
            row("e", "conflict"), row("f", "invalid"),
        ]
        #expect(StatusReport.summary(rows) == "2 running, 1 restarting, 2 invalid specs, 1 conflict")
        #expect(StatusReport.summary([row("a", "invalid")]) == "1 invalid spec")
    }

    @Test func anInvalidSpecWithoutContainerIsShownWithItsError() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/status-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bad = "{\"image\": \"busybox\", \"comand\": []}"
        try bad.write(toFile: dir + "/bad.json", atomically: true, encoding: .utf8)
        try "{\"image\": \"busybox\"}".write(toFile: dir + "/good.json", atomically: true, encoding: .utf8)
        let rows = StatusReport.rows(specs: SpecLoader.load(directories: [dir]), containers: [], memory: [:])
        #expect(rows.map(\.name) == ["bad", "good"])
        #expect(rows[0].state == "invalid")
        #expect(rows[0].lastError?.hasPrefix(dir + "/bad.json:1:") == true, "\(rows[0].lastError ?? "")")
        #expect(rows[0].lastError?.contains("comand") == true)
        #expect(rows[1].state == "missing" && rows[1].lastError == nil)
    }

    @Test func liveVolumeChangesRewriteOnlyTheVolumesMounts() {
        let layout = ContainerLayout(root: "/r", id: String(repeating: "a", count: 64))
        var config = SupervisorConfig()
        config.set("ID", layout.id)
        config.mount(type: "tmpfs", source: "tmpfs", target: "/tmp", flags: 6, data: "mode=1777")
        config.mount(type: "bind", source: "/srv/old", target: "/old")
        config.mount(type: "bind", source: "/srv/kept", target: "/kept")
        config.mount(type: "bind", source: layout.directory + "/hosts", target: "/etc/hosts")
        config.set("MASK", "/proc/kcore")
        var parsed = SupervisorConfig(parsing: config.bytes)
        #expect(parsed.records == config.records, "the file reads back as written")
        parsed.replaceVolumes(
            removing: ["/old"],
            adding: [VolumeMount(source: .volume("data"), target: "/data", readonly: true)], layout: layout)
        let mounts = parsed.records.filter { $0.hasPrefix("MOUNT=") }.map {
            $0.dropFirst(6).split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init)
        }
        #expect(mounts.map { $0[2] } == ["/tmp", "/kept", "/data", "/etc/hosts"])
        #expect(mounts[2][1] == "/r/volumes/data/_data" && mounts[2][3] == "7", "read-only, nosuid, nodev")
        #expect(parsed.records.first == "ID=" + layout.id && parsed.records.last == "MASK=/proc/kcore")
    }

    @Test func controlMessagesRoundTrip() throws {
        let request = ControlRequest(command: .apply, names: ["web"], forceRecreate: true)
        #expect(try JSONDecoder().decode(ControlRequest.self, from: JSONEncoder().encode(request)) == request)
        var reply = ControlReply(outcomes: [Outcome(name: "web", done: "created")], diagnostics: ["x.json:1:2: a: b"])
        reply.passMicroseconds = 12
        #expect(try JSONDecoder().decode(ControlReply.self, from: JSONEncoder().encode(reply)) == reply)
    }
}
