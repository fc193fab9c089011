import BerthTestSupport
import Foundation
import Testing

@testable import BerthSystemd

extension SystemdIntegrationTests {
    /// Both ways to the manager work end to end (a job is started and its JobRemoved seen), and
    /// the automatic choice falls back when the first way fails.
    @Suite struct ConnectionTests {
        /// Starts and stops a scope over `bus`: the job waits need JobRemoved to arrive.
        static func roundTrip(_ bus: SystemdBus) throws {
            let unit = SystemdIntegrationTests.uniqueScope("conn")
            let child = try ChildProcess(["/bin/sleep", "60"])
            try bus.startTransientScope(name: unit, pids: [child.pid], properties: [.collectMode(.inactiveOrFailed)])
            #expect(try bus.activeState(unit: unit) == "active")
            try bus.stopUnit(name: unit)
            #expect(child.terminatingSignal == SIGTERM)
        }

        /// Whether something accepts connections on the system bus socket (dbus-daemon, or
        /// dbus.socket that starts it); the sandbox may run without, or leave a stale socket file.
        static var hasSystemBus: Bool {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { path in
                for (i, byte) in "/run/dbus/system_bus_socket".utf8.enumerated() { path[i] = byte }
            }
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
                }
            }
        }

        @Test(.integration, .enabled(if: hasSystemBus, "no system bus socket here"))
        func systemBus() throws {
            try Integration.check()
            let bus = try SystemdBus(connection: .systemBus)
            #expect(bus.connection == .systemBus)
            try Self.roundTrip(bus)
        }

        @Test(.integration) func automaticPrefersTheSystemBus() throws {
            try Integration.check()
            let bus = try SystemdBus()
            #expect(bus.connection == (Self.hasSystemBus ? .systemBus : .privateSocket))
            try Self.roundTrip(bus)
        }

        @Test(.integration) func privateSocket() throws {
            try Integration.check()
            let bus = try SystemdBus(connection: .privateSocket)
            #expect(bus.connection == .privateSocket)
            try Self.roundTrip(bus)
            let version = try bus.getProperty(
                objectPath: SystemdBus.managerPath, interface: SystemdBus.Interface.manager, name: "Version")
            #expect(version.stringValue?.isEmpty == false)
        }

        @Test(.integration) func fallsBackWhenTheFirstWayFails() throws {
            try Integration.check()
            let bus = try SystemdBus(trying: [
                .direct(address: "unix:path=/run/berth-test-no-such-bus"), .privateSocket,
            ])
            #expect(bus.connection == .privateSocket)
            try Self.roundTrip(bus)

            let error = try #require(throws: SystemdError.self) {
                try SystemdBus(trying: [.direct(address: "unix:path=/run/berth-test-no-such-bus")])
            }
            #expect(error.message.contains("/run/berth-test-no-such-bus"), "\(error)")
            #expect(error.errno == ENOENT)
        }

        @Test(.integration) func sdBooted() throws {
            try Integration.check()
            #expect(SystemdNotify.booted)
        }
    }
}
