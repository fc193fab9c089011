#if canImport(Glibc)
    import Glibc
#endif

/// The manager's unit methods berth uses: transient scopes, stop, kill, reset, live properties,
/// and moving processes into a unit. Each checks the unit name before anything is sent.
extension SystemdBus {
    /// How a new job treats queued jobs of the same unit (systemctl --job-mode).
    public enum JobMode: String, Sendable {
        /// Replaces conflicting queued jobs (systemctl's default).
        case replace
        /// Fails when it conflicts with a queued job.
        case fail
        case replaceIrreversibly = "replace-irreversibly"
        case ignoreDependencies = "ignore-dependencies"
        case ignoreRequirements = "ignore-requirements"
    }

    /// Which of a unit's processes KillUnit signals.
    public enum KillWho: String, Sendable {
        /// Every process in the unit's cgroup.
        case all
        /// The main process (services only).
        case main
        /// The control process (services only: ExecStartPre and the like).
        case control
    }

    /// Creates the transient scope `name` holding `pids` and waits until systemd has started it
    /// (the scope is active and the processes are in its cgroup when this returns).
    ///
    /// A scope of that name that failed before must be collected first (`resetFailedUnit`), or
    /// created with `.collectMode(.inactiveOrFailed)` so it never lingers.
    public func startTransientScope(
        name: String, pids: [pid_t], slice: String? = nil, description: String? = nil,
        properties: [UnitProperty] = [], timeout: Duration = .seconds(30)
    ) throws {
        guard name.hasSuffix(".scope") else {
            throw SystemdError(
                operation: "StartTransientUnit", unit: name, message: "a transient scope's name ends in .scope",
                errno: EINVAL)
        }
        guard !pids.isEmpty else {
            throw SystemdError(
                operation: "StartTransientUnit", unit: name, message: "a scope needs at least one process",
                errno: EINVAL)
        }
        var all: [UnitProperty] = []
        if let description { all.append(.description(description)) }
        if let slice {
            try UnitName.check(slice, for: "StartTransientUnit")
            all.append(.slice(slice))
        }
        all.append(.pids(pids.map { UInt32(bitPattern: $0) }))
        try startTransientUnit(name: name, properties: all + properties, timeout: timeout)
    }

    /// StartTransientUnit(name, mode, properties, no auxiliary units), waiting for its job.
    public func startTransientUnit(
        name: String, mode: JobMode = .fail, properties: [UnitProperty], timeout: Duration = .seconds(30)
    ) throws {
        try UnitName.check(name, for: "StartTransientUnit")
        let job = try call("StartTransientUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name), .string(mode.rawValue))
            try m.append(properties)
            // Auxiliary units a(sa(sv)): none.
            try m.container("a", "(sa(sv))") { () throws(BusMarshalError) in }
        } reply: { r throws(BusMarshalError) in
            try r.readString("o")
        }
        try waitForJob(job, operation: "StartTransientUnit", unit: name, timeout: timeout)
    }

    /// StopUnit, waiting for the job: for a scope, KillSignal to every process, SIGKILL after
    /// TimeoutStopUSec, and done when the cgroup is empty.
    public func stopUnit(name: String, mode: JobMode = .replace, timeout: Duration = .seconds(90)) throws {
        try UnitName.check(name, for: "StopUnit")
        let job = try call("StopUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name), .string(mode.rawValue))
        } reply: { r throws(BusMarshalError) in
            try r.readString("o")
        }
        try waitForJob(job, operation: "StopUnit", unit: name, timeout: timeout)
    }

    /// KillUnit: sends `signal` to the unit's processes without stopping it (no job).
    public func killUnit(name: String, who: KillWho = .all, signal: Int32) throws {
        try UnitName.check(name, for: "KillUnit")
        try call("KillUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name), .string(who.rawValue), .int32(signal))
        }
    }

    /// ResetFailedUnit: forgets a failed state so the unit is collected and its name free again.
    public func resetFailedUnit(name: String) throws {
        try UnitName.check(name, for: "ResetFailedUnit")
        try call("ResetFailedUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name))
        }
    }

    /// SetUnitProperties on a loaded unit. `runtime: true` changes last until reboot only (all a
    /// transient unit can have); false also writes a persistent drop-in.
    public func setUnitProperties(name: String, runtime: Bool = true, properties: [UnitProperty]) throws {
        try UnitName.check(name, for: "SetUnitProperties")
        try call("SetUnitProperties", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name), .bool(runtime))
            try m.append(properties)
        }
    }

    /// AttachProcessesToUnit: moves processes into a running unit's cgroup, or into `subcgroup`
    /// below it (a path such as "exec"; the unit needs Delegate=yes). Used by `berth exec`.
    ///
    /// The sub-cgroup is created first if missing: the delegated subtree is its owner's to
    /// manage, and systemd 252 fails with ENOENT rather than create it.
    public func attachProcessesToUnit(name: String, subcgroup: String = "", pids: [pid_t]) throws {
        try UnitName.check(name, for: "AttachProcessesToUnit")
        var path = ""
        if !subcgroup.isEmpty {
            guard let normalized = DelegatedCgroup.normalize(subcgroup) else {
                throw SystemdError(
                    operation: "AttachProcessesToUnit", unit: name,
                    message: "invalid sub-cgroup \"\(subcgroup)\" (a relative path below the unit's cgroup)",
                    errno: EINVAL)
            }
            guard let controlGroup = try controlGroup(unit: name), !controlGroup.isEmpty else {
                throw SystemdError(
                    operation: "AttachProcessesToUnit", unit: name, message: "the unit has no cgroup", errno: ENOENT)
            }
            let r = DelegatedCgroup.create(normalized, below: controlGroup)
            if r != 0 {
                throw SystemdError(
                    operation: "AttachProcessesToUnit", unit: name,
                    message: "cannot create the sub-cgroup \(controlGroup)\(normalized): \(errnoText(r))", errno: r)
            }
            path = normalized
        }
        try call("AttachProcessesToUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name), .string(path), .uint32Array(pids.map { UInt32(bitPattern: $0) }))
        }
    }
}
