import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// A connection to systemd's manager over sd-bus: transient units, jobs, unit properties.
///
/// An sd-bus connection belongs to one thread: use an instance from one thread only (the
/// type is deliberately not Sendable). Calls block until systemd answers, so callers in async
/// code run them on a thread of their own, never on the cooperative pool.
public final class SystemdBus {
    private var bus: OpaquePointer?
    private var jobMatch: OpaquePointer?
    private let finished = FinishedJobs()

    static let destination = "org.freedesktop.systemd1"
    static let managerPath = "/org/freedesktop/systemd1"
    static let managerInterface = "org.freedesktop.systemd1.Manager"

    /// Connects to the system bus; without a running dbus-daemon, to systemd's private socket,
    /// which the manager serves for root (as systemctl does), so berth works on minimal hosts.
    public init() throws {
        var bus: OpaquePointer?
        var r = sd_bus_open_system(&bus)
        if r < 0 {
            r = Self.openPrivate(&bus)
            if r < 0 { throw SystemdError(operation: "connect to systemd", code: r) }
        }
        self.bus = bus
        // Subscribe so that the manager emits JobRemoved; match it before any job is started,
        // so a job that finishes at once is never missed.
        let box = Unmanaged.passUnretained(finished).toOpaque()
        r = sd_bus_match_signal(
            bus, &jobMatch, Self.destination, Self.managerPath, Self.managerInterface, "JobRemoved",
            { message, userdata, _ in
                guard let message, let userdata else { return 0 }
                var id: UInt32 = 0
                var job: UnsafePointer<CChar>?
                var unit: UnsafePointer<CChar>?
                var result: UnsafePointer<CChar>?
                guard sd_bus_message_read_basic(message, CChar(UInt8(ascii: "u")), &id) > 0,
                    sd_bus_message_read_basic(message, CChar(UInt8(ascii: "o")), &job) > 0,
                    sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &unit) > 0,
                    sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &result) > 0,
                    let job, let result
                else { return 0 }
                let jobs = Unmanaged<FinishedJobs>.fromOpaque(userdata).takeUnretainedValue()
                let path = String(cString: job)
                if jobs.waiting.contains(path) { jobs.results[path] = String(cString: result) }
                return 0
            }, box)
        if r < 0 { throw SystemdError(operation: "match JobRemoved", code: r) }
        _ = try call("Subscribe") { _ in 0 }
    }

    deinit {
        sd_bus_slot_unref(jobMatch)
        sd_bus_flush_close_unref(bus)
    }

    private static func openPrivate(_ bus: inout OpaquePointer?) -> Int32 {
        var r = sd_bus_new(&bus)
        if r >= 0 { r = sd_bus_set_address(bus, "unix:path=/run/systemd/private") }
        if r >= 0 { r = sd_bus_start(bus) }
        if r < 0 {
            sd_bus_unref(bus)
            bus = nil
        }
        return r
    }

    // MARK: units and jobs

    /// Starts a transient scope holding `pids`, and waits until systemd has done it.
    public func startTransientScope(
        name: String, pids: [pid_t], slice: String? = nil, description: String? = nil,
        properties: [UnitProperty] = [], timeout: Duration = .seconds(30)
    ) throws {
        var all = properties
        if let description { all.append(.description(description)) }
        if let slice { all.append(.slice(slice)) }
        all.append(.pids(pids.map { UInt32(bitPattern: $0) }))
        try startTransientUnit(name: name, properties: all, timeout: timeout)
    }

    /// StartTransientUnit(name, "fail", properties, no aux units), waiting for its job.
    public func startTransientUnit(name: String, properties: [UnitProperty], timeout: Duration = .seconds(30)) throws {
        try checkName(name, "StartTransientUnit")
        let job = try call("StartTransientUnit", unit: name) { m in
            var r = BusValue.string(name).append(to: m)
            if r >= 0 { r = BusValue.string("fail").append(to: m) }
            if r >= 0 { r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "a")), "(sv)") }
            for p in properties where r >= 0 { r = p.append(to: m) }
            if r >= 0 { r = sd_bus_message_close_container(m) }
            if r >= 0 { r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "a")), "(sa(sv))") }
            if r >= 0 { r = sd_bus_message_close_container(m) }
            return r
        }
        try waitForJob(job, operation: "StartTransientUnit", unit: name, timeout: timeout)
    }

    /// StopUnit, waiting for the job. mode: "replace", "fail", ...
    public func stopUnit(name: String, mode: String = "replace", timeout: Duration = .seconds(90)) throws {
        try checkName(name, "StopUnit")
        let job = try call("StopUnit", unit: name) { m in
            var r = BusValue.string(name).append(to: m)
            if r >= 0 { r = BusValue.string(mode).append(to: m) }
            return r
        }
        try waitForJob(job, operation: "StopUnit", unit: name, timeout: timeout)
    }

    /// KillUnit: `who` is "all", "main" or "control".
    public func killUnit(name: String, who: String = "all", signal: Int32) throws {
        try checkName(name, "KillUnit")
        _ = try call("KillUnit", unit: name) { m in
            var r = BusValue.string(name).append(to: m)
            if r >= 0 { r = BusValue.string(who).append(to: m) }
            if r >= 0 { r = BusValue.int32(signal).append(to: m) }
            return r
        }
    }

    public func resetFailedUnit(name: String) throws {
        try checkName(name, "ResetFailedUnit")
        _ = try call("ResetFailedUnit", unit: name) { BusValue.string(name).append(to: $0) }
    }

    /// SetUnitProperties; `runtime` changes last until reboot only, as for transient units.
    public func setUnitProperties(name: String, runtime: Bool = true, properties: [UnitProperty]) throws {
        try checkName(name, "SetUnitProperties")
        _ = try call("SetUnitProperties", unit: name) { m in
            var r = BusValue.string(name).append(to: m)
            if r >= 0 { r = BusValue.bool(runtime).append(to: m) }
            if r >= 0 { r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "a")), "(sv)") }
            for p in properties where r >= 0 { r = p.append(to: m) }
            if r >= 0 { r = sd_bus_message_close_container(m) }
            return r
        }
    }

    /// Moves processes into a unit (or a sub-cgroup of it, for a unit with Delegate=yes).
    public func attachProcessesToUnit(name: String, subcgroup: String = "", pids: [pid_t]) throws {
        try checkName(name, "AttachProcessesToUnit")
        _ = try call("AttachProcessesToUnit", unit: name) { m in
            var r = BusValue.string(name).append(to: m)
            if r >= 0 { r = BusValue.string(subcgroup).append(to: m) }
            if r >= 0 { r = BusValue.uint32Array(pids.map { UInt32(bitPattern: $0) }).append(to: m) }
            return r
        }
    }

    /// The unit's object path, or nil when systemd has no such unit loaded.
    public func unitPath(name: String) throws -> String? {
        try checkName(name, "GetUnit")
        do {
            return try call("GetUnit", unit: name) { BusValue.string(name).append(to: $0) }
        } catch let error as SystemdError where error.busError == "org.freedesktop.systemd1.NoSuchUnit" {
            return nil
        }
    }

    /// A unit property, e.g. ("org.freedesktop.systemd1.Unit", "ActiveState") or
    /// ("org.freedesktop.systemd1.Scope", "ControlGroup"); nil when the unit is not loaded.
    public func property(unit: String, interface: String, name: String) throws -> BusValue? {
        guard let path = try unitPath(name: unit) else { return nil }
        var reply: OpaquePointer?
        try invoke(
            path: path, interface: "org.freedesktop.DBus.Properties", member: "Get", unit: unit,
            reply: &reply
        ) { m in
            var r = BusValue.string(interface).append(to: m)
            if r >= 0 { r = BusValue.string(name).append(to: m) }
            return r
        }
        defer { sd_bus_message_unref(reply) }
        var type: CChar = 0
        var contents: UnsafePointer<CChar>?
        guard let reply, sd_bus_message_peek_type(reply, &type, &contents) > 0, let contents,
            sd_bus_message_enter_container(reply, CChar(UInt8(ascii: "v")), contents) > 0
        else {
            throw SystemdError(operation: "Get \(name)", unit: unit, message: "unexpected reply")
        }
        guard let value = BusValue.read(from: reply) else {
            throw SystemdError(
                operation: "Get \(name)", unit: unit, message: "unsupported type \(String(cString: contents))")
        }
        return value
    }

    /// ActiveState of a unit ("active", "inactive", "failed", ...); "inactive" when not loaded.
    public func activeState(unit: String) throws -> String {
        try property(unit: unit, interface: "org.freedesktop.systemd1.Unit", name: "ActiveState")?.stringValue
            ?? "inactive"
    }

    // MARK: plumbing

    private func checkName(_ name: String, _ operation: String) throws {
        guard UnitName.isValid(name) else {
            throw SystemdError(operation: operation, unit: name, message: "invalid unit name", errno: EINVAL)
        }
    }

    /// Calls a manager method whose reply is one object path (or nothing), returning it.
    @discardableResult
    private func call(_ member: String, unit: String? = nil, append: (OpaquePointer) -> Int32) throws -> String {
        var reply: OpaquePointer?
        try invoke(
            path: Self.managerPath, interface: Self.managerInterface, member: member, unit: unit, reply: &reply,
            append: append)
        defer { sd_bus_message_unref(reply) }
        guard let reply, case .objectPath(let path)? = BusValue.read(from: reply) else { return "" }
        return path
    }

    private func invoke(
        path: String, interface: String, member: String, unit: String?, reply: inout OpaquePointer?,
        append: (OpaquePointer) -> Int32
    ) throws {
        var m: OpaquePointer?
        var r = sd_bus_message_new_method_call(bus, &m, Self.destination, path, interface, member)
        guard r >= 0, let m else { throw SystemdError(operation: member, unit: unit, code: r) }
        defer { sd_bus_message_unref(m) }
        r = append(m)
        guard r >= 0 else { throw SystemdError(operation: member, unit: unit, code: r) }
        var error = sd_bus_error()
        defer { sd_bus_error_free(&error) }
        r = sd_bus_call(bus, m, 0, &error, &reply)
        if r < 0 {
            throw SystemdError(
                operation: member, unit: unit, busError: error.name.map { String(cString: $0) },
                message: error.message.map { String(cString: $0) } ?? String(cString: strerror(-r)), errno: -r)
        }
    }

    /// Processes bus traffic until JobRemoved for `job` arrives; a result other than "done" is an error.
    private func waitForJob(_ job: String, operation: String, unit: String, timeout: Duration) throws {
        // sd_bus_call queues signals that arrive before its reply, so a JobRemoved for this job
        // is dispatched only below, after the job is registered here.
        finished.waiting.insert(job)
        defer {
            finished.waiting.remove(job)
            finished.results[job] = nil
        }
        let deadline = ContinuousClock.now + timeout
        while finished.results[job] == nil {
            let r = sd_bus_process(bus, nil)
            if r < 0 { throw SystemdError(operation: operation, unit: unit, code: r) }
            if r > 0 { continue }
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw SystemdError(
                    operation: operation, unit: unit, message: "timed out waiting for job \(job)", errno: ETIMEDOUT)
            }
            let (seconds, attoseconds) = left.components
            let w = sd_bus_wait(bus, UInt64(seconds) * 1_000_000 + UInt64(attoseconds / 1_000_000_000_000))
            if w < 0 && w != -EINTR { throw SystemdError(operation: operation, unit: unit, code: w) }
        }
        let result = finished.results[job]!
        guard result == "done" else {
            throw SystemdError(operation: operation, unit: unit, message: "job finished with result \"\(result)\"")
        }
    }
}

/// Results of the jobs being waited for, by job path, filled by the JobRemoved callback on the
/// bus's thread; other clients' jobs are ignored so nothing accumulates.
private final class FinishedJobs {
    var waiting: Set<String> = []
    var results: [String: String] = [:]
}
