import Glibc
import Testing

@testable import BerthSystemd

/// What can be checked without systemd: journal field names, entry helpers, property types,
/// time conversion, and sd-daemon outside a service.
@Suite struct OfflineTests {
    @Test func journalFieldNames() {
        for name in ["MESSAGE", "CONTAINER_NAME", "A", "X9_", String(repeating: "A", count: 64)] {
            #expect(JournalWriter.isValidFieldName(name), "\(name)")
        }
        for name in [
            "", "_SYSTEMD_UNIT", "9LIVES", "message", "CONTAINER-NAME", "É", String(repeating: "A", count: 65),
        ] {
            #expect(!JournalWriter.isValidFieldName(name), "\(name)")
        }
    }

    @Test func invalidFieldIsRefusedBeforeSending() {
        let error = #expect(throws: SystemdError.self) {
            try JournalWriter.send([("MESSAGE", Array("x".utf8)), ("container_name", Array("web".utf8))])
        }
        #expect(error?.errno == EINVAL)
        #expect(error?.message.contains("container_name") == true)
        #expect(throws: SystemdError.self) { try JournalWriter.send([]) }
    }

    @Test func entryKeepsBytesAndRepeatedFields() {
        let entry = Journal.Entry(
            fields: [
                .init(name: "MESSAGE", value: [0x66, 0xFF, 0x6F]), .init(name: "TAG", value: [0x61]),
                .init(name: "TAG", value: [0x62]),
            ], realtime: 1, cursor: "c")
        #expect(entry["MESSAGE"] == [0x66, 0xFF, 0x6F])
        #expect(entry.string("MESSAGE") == "f\u{FFFD}o")
        #expect(entry.values("TAG") == [[0x61], [0x62]])
        #expect(entry["NONE"] == nil)
    }

    @Test func propertiesHaveTheTypesSystemdExpects() {
        #expect(UnitProperty.killSignal(SIGINT).value.signature == "i")
        #expect(UnitProperty.timeoutStop(.seconds(3)) == UnitProperty("TimeoutStopUSec", .uint64(3_000_000)))
        #expect(UnitProperty.pids([1, 2]).value == .uint32Array([1, 2]))
        #expect(UnitProperty.collectMode(.inactiveOrFailed) == .collectMode("inactive-or-failed"))
        #expect(UnitProperty.memoryMax(1).value.signature == "t")
        #expect(UnitProperty.delegate(true).value.signature == "b")
    }

    @Test func busValueAccessors() {
        #expect(BusValue.uint32(7).int64Value == 7)
        #expect(BusValue.int32(-1).uint64Value == nil)
        #expect(BusValue.uint64(.max).int64Value == nil)
        #expect(BusValue.objectPath("/a").stringValue == "/a")
        #expect(BusValue.stringArray(["a"]).signature == "as")
    }

    @Test func microsecondsSaturate() {
        #expect(Duration.milliseconds(1500).microseconds == 1_500_000)
        #expect(Duration.nanoseconds(1999).microseconds == 1)
        #expect(Duration.seconds(-5).microseconds == 0)
        #expect(Duration.seconds(Int64.max).microseconds == .max)
    }

    @Test func notifyOutsideAServiceIsNoError() throws {
        // Only meaningful when this process was not started by systemd as a notify service.
        guard getenv("NOTIFY_SOCKET") == nil, getenv("LISTEN_FDS") == nil else { return }
        #expect(try SystemdNotify.notify("STATUS=testing") == false)
        #expect(try SystemdNotify.ready() == false)
        #expect(try SystemdNotify.listenFDs().isEmpty)
        #expect(try SystemdNotify.listenFDsWithNames().isEmpty)
    }
}
