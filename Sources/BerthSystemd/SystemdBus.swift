import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// A connection to systemd's manager over sd-bus: transient units, jobs, unit properties.
///
/// An sd-bus connection belongs to one thread: sd-bus does no locking, so two threads using one
/// connection corrupt its queues. The type is deliberately not Sendable, so Swift's strict
/// concurrency keeps an instance in one isolation domain; give each thread (or each blocking task
/// on a thread of its own) its own connection. Calls block until systemd answers, and the
/// job-waiting ones until the job is done: from async code, run them off the cooperative pool.
public final class SystemdBus {
    /// How to reach the manager.
    public enum Connection: Sendable, Equatable {
        /// The system bus, and systemd's private socket when the system bus is unavailable.
        case automatic
        case systemBus
        /// /run/systemd/private: a direct connection to PID 1, root only.
        case privateSocket
        /// A direct connection to a systemd manager at this sd-bus address (as the private socket
        /// is: no bus daemon in between).
        case direct(address: String)

        var label: String {
            switch self {
            case .automatic: "automatic"
            case .systemBus: "system bus"
            case .privateSocket: SystemdBus.privateAddress
            case .direct(let address): address
            }
        }
    }

    /// The way this connection reached the manager: never `.automatic`.
    public let connection: Connection
    let bus: OpaquePointer
    /// The JobRemoved match, installed before any job is started (see SystemdBus+Jobs).
    var jobRemovedSlot: OpaquePointer?
    let jobs = JobTracker()

    static let destination = "org.freedesktop.systemd1"
    /// The manager's object path, for `getProperty(objectPath:interface:name:)`.
    public static let managerPath = "/org/freedesktop/systemd1"
    static let privateAddress = "unix:path=/run/systemd/private"

    /// D-Bus interfaces of systemd's objects, for `getProperty`.
    public enum Interface {
        public static let manager = "org.freedesktop.systemd1.Manager"
        public static let unit = "org.freedesktop.systemd1.Unit"
        public static let scope = "org.freedesktop.systemd1.Scope"
        public static let service = "org.freedesktop.systemd1.Service"
        public static let slice = "org.freedesktop.systemd1.Slice"
    }

    /// Connects and subscribes to the manager's job signals.
    ///
    /// `.automatic` prefers the system bus and falls back to the private socket: a minimal host or
    /// a container may run systemd without dbus-daemon (or with dbus.socket present but the daemon
    /// unable to start), and systemctl itself talks to PID 1 over the private socket for root.
    public convenience init(connection: Connection = .automatic) throws {
        try self.init(trying: connection == .automatic ? [.systemBus, .privateSocket] : [connection])
    }

    /// Tries each way in order and keeps the first that answers (tests drive the fallback with it).
    init(trying attempts: [Connection]) throws {
        (bus, connection) = try Self.connect(trying: attempts)
        // If this throws, deinit runs (every property is set) and closes the connection.
        try watchJobs()
    }

    deinit {
        sd_bus_slot_unref(jobRemovedSlot)
        sd_bus_flush_close_unref(bus)
    }

    private static func connect(trying attempts: [Connection]) throws(SystemdError) -> (OpaquePointer, Connection) {
        var failures: [(Connection, SystemdError)] = []
        for attempt in attempts {
            do {
                return (try open(attempt), attempt)
            } catch {
                failures.append((attempt, error))
            }
        }
        throw SystemdError(
            operation: "connect to systemd",
            message: failures.map { "\($0.0.label): \($0.1.message)" }.joined(separator: "; "),
            errno: failures.last?.1.errno ?? EINVAL)
    }

    /// Opens a connection and proves it with a first round trip (Subscribe, which the job waits
    /// need anyway): sd-bus connects lazily, and a socket-activated dbus-daemon that cannot start
    /// fails only at the first call, which must still fall back.
    private static func open(_ connection: Connection) throws(SystemdError) -> OpaquePointer {
        var bus: OpaquePointer?
        var r: Int32
        switch connection {
        case .automatic, .systemBus:
            r = sd_bus_open_system(&bus)
        case .privateSocket, .direct:
            let address = if case .direct(let a) = connection { a } else { privateAddress }
            r = sd_bus_new(&bus)
            if r >= 0 { r = sd_bus_set_address(bus, address) }
            if r >= 0 { r = sd_bus_start(bus) }
        }
        guard r >= 0, let bus else {
            sd_bus_unref(bus)
            throw SystemdError(operation: "connect to systemd (\(connection.label))", code: r)
        }
        do {
            try call(bus, "Subscribe", unit: nil) { _ throws(BusMarshalError) in }
        } catch {
            sd_bus_flush_close_unref(bus)
            throw error
        }
        return bus
    }

    // MARK: calls

    /// Calls a method of the manager (or of `path`/`interface`) and reads its reply with `reply`.
    /// Errors name the member as the operation, and `unit`.
    @discardableResult
    func call<R>(
        _ member: String, path: String = managerPath, interface: String = Interface.manager, unit: String?,
        arguments: (BusMessageWriter) throws(BusMarshalError) -> Void,
        reply: (BusMessageReader) throws(BusMarshalError) -> R = { _ throws(BusMarshalError) in }
    ) throws(SystemdError) -> R {
        try Self.call(bus, member, path: path, interface: interface, unit: unit, arguments: arguments, reply: reply)
    }

    @discardableResult
    static func call<R>(
        _ bus: OpaquePointer, _ member: String, path: String = managerPath, interface: String = Interface.manager,
        unit: String?, arguments: (BusMessageWriter) throws(BusMarshalError) -> Void,
        reply read: (BusMessageReader) throws(BusMarshalError) -> R = { _ throws(BusMarshalError) in }
    ) throws(SystemdError) -> R {
        var message: OpaquePointer?
        var r = sd_bus_message_new_method_call(bus, &message, destination, path, interface, member)
        guard r >= 0, let message else { throw SystemdError(operation: member, unit: unit, code: r) }
        defer { sd_bus_message_unref(message) }
        do {
            try arguments(BusMessageWriter(message: message))
        } catch {
            throw SystemdError(
                operation: member, unit: unit,
                message: "cannot build the call (\(error.step)): \(errnoText(error.code))",
                errno: -error.code)
        }
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        var reply: OpaquePointer?
        // Signals that arrive while this waits for its reply are queued, not dispatched: they
        // reach their match callbacks at the next sd_bus_process (see waitForJob).
        r = sd_bus_call(bus, message, 0, &error, &reply)
        defer { sd_bus_message_unref(reply) }
        guard r >= 0, let reply else { throw SystemdError(operation: member, unit: unit, code: r, reply: error) }
        do {
            return try read(BusMessageReader(message: reply))
        } catch {
            throw SystemdError(
                operation: member, unit: unit, message: "unexpected reply (\(error.step)): \(errnoText(error.code))",
                errno: -error.code)
        }
    }
}
