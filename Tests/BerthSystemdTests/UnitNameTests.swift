import BerthSystemd
import Glibc
import Testing

/// systemd's unit-name rules and systemd-escape, without systemd.
@Suite struct UnitNameTests {
    @Test(arguments: [
        "berth-web.scope", "berth.slice", "berth-a_b.c-d.scope", "getty@tty1.service", "x\\x2dy.mount",
        "a:b.socket", "a@b@c.service", String(repeating: "a", count: 249) + ".scope",
    ])
    func valid(_ name: String) {
        #expect(UnitName.isValid(name))
    }

    @Test(arguments: [
        "", "berth-web", "berth web.scope", "berth-web.scop", ".scope", "@x.service", "a/b.scope", "berth-\u{e9}.scope",
        "berth-web.", "a.b", "berth\n.scope", String(repeating: "a", count: 250) + ".scope",
    ])
    func invalid(_ name: String) {
        #expect(!UnitName.isValid(name))
    }

    @Test func kinds() {
        #expect(UnitName.kind(of: "berth-web.scope") == .plain)
        #expect(UnitName.kind(of: "getty@tty1.service") == .instance)
        #expect(UnitName.kind(of: "getty@.service") == .template)
        #expect(UnitName.kind(of: "getty@") == nil)
    }

    @Test func checkNamesTheUnitAndTheOperation() throws {
        try UnitName.check("berth-web.scope", for: "StopUnit")
        let error = try #require(throws: SystemdError.self) { try UnitName.check("berth web.scope", for: "StopUnit") }
        #expect(error.operation == "StopUnit")
        #expect(error.unit == "berth web.scope")
        #expect(error.busError == nil)
        #expect(error.errno == EINVAL)
        // A template is a valid name but never a unit to act on.
        #expect(throws: SystemdError.self) { try UnitName.check("getty@.service", for: "StopUnit") }
    }

    /// Expected values are what systemd-escape 252 prints.
    @Test func escapeAsSystemdEscape() {
        #expect(UnitName.escape(".a/b-c.d \u{e9}\\x:_") == "\\x2ea-b\\x2dc.d\\x20\\xc3\\xa9\\x5cx:_")
        #expect(UnitName.escape("/") == "-")
        #expect(UnitName.escape("") == "")
        #expect(UnitName.escape(bytes: [0xFF, 0x41]) == "\\xffA")
        #expect(UnitName.isValid("berth-" + UnitName.escape("we b/\u{e9}") + ".scope"))
    }

    @Test func unescapeRoundTrips() {
        for text in ["web", "a/b-c", ".hidden", "\u{e9}t\u{e9} \\ x", "x\\x2d"] {
            #expect(UnitName.unescape(UnitName.escape(text)) == Array(text.utf8))
        }
        #expect(UnitName.unescape("a\\x2") == nil)
        #expect(UnitName.unescape("a\\y20") == nil)
        #expect(UnitName.unescape("a\\xZZ") == nil)
    }

    @Test func errorDescriptionCarriesContext() {
        let error = SystemdError(
            operation: "StopUnit", unit: "berth-x.scope", busError: BusErrorName.noSuchUnit,
            message: "Unit berth-x.scope not loaded.")
        #expect(
            error.description
                == "StopUnit berth-x.scope: Unit berth-x.scope not loaded. (org.freedesktop.systemd1.NoSuchUnit)")
        #expect(error.isNoSuchUnit)
    }
}
