import BerthSystemd
import Testing

@Suite struct UnitNameTests {
    @Test(arguments: ["berth-web.scope", "berth.slice", "berth-a_b.c-d.scope", "getty@tty1.service", "x\\x2dy.mount"])
    func valid(_ name: String) {
        #expect(UnitName.isValid(name))
    }

    @Test(arguments: [
        "", "berth-web", "berth web.scope", "berth-web.scop", ".scope", "@x.service", "a/b.scope",
        "berth-\u{e9}.scope", String(repeating: "a", count: 250) + ".scope",
    ])
    func invalid(_ name: String) {
        #expect(!UnitName.isValid(name))
    }

    @Test func errorDescriptionCarriesContext() {
        let error = SystemdError(
            operation: "StopUnit", unit: "berth-x.scope", busError: "org.freedesktop.systemd1.NoSuchUnit",
            message: "Unit berth-x.scope not loaded.")
        #expect(
            error.description
                == "StopUnit berth-x.scope: Unit berth-x.scope not loaded. (org.freedesktop.systemd1.NoSuchUnit)")
    }
}
