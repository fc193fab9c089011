/// Restarting a unit, e.g. systemd-journald.service after a change to journald.conf.d.
extension SystemdBus {
    /// RestartUnit, waiting for the job: the unit is stopped (if it was running) and started
    /// again; for a Type=notify service such as systemd-journald, the job is done once the new
    /// process has reported READY=1, so it runs with the configuration it read at start.
    public func restartUnit(name: String, mode: JobMode = .replace, timeout: Duration = .seconds(90)) throws {
        try UnitName.check(name, for: "RestartUnit")
        let job = try call("RestartUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name), .string(mode.rawValue))
        } reply: { r throws(BusMarshalError) in
            try r.readString("o")
        }
        try waitForJob(job, operation: "RestartUnit", unit: name, timeout: timeout)
    }
}
