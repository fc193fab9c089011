/// Reading units and their properties (org.freedesktop.DBus.Properties.Get).
extension SystemdBus {
    /// The unit's object path, or nil when systemd has no such unit loaded.
    public func getUnit(name: String) throws -> String? {
        try UnitName.check(name, for: "GetUnit")
        do {
            return try unitPath(name)
        } catch  where error.isNoSuchUnit {
            return nil
        }
    }

    // Apart from getUnit because Swift 6.3.1 crashes (ClosureLifetimeFixup) on a call with
    // typed-throws closures inside a do/catch.
    private func unitPath(_ name: String) throws(SystemdError) -> String {
        try call("GetUnit", unit: name) { m throws(BusMarshalError) in
            try m.append(.string(name))
        } reply: { r throws(BusMarshalError) in
            try r.readString("o")
        }
    }

    /// A property of a loaded unit, e.g. (Interface.unit, "ActiveState") or (Interface.scope,
    /// "ControlGroup"); nil when the unit is not loaded. Throws for a property of a type
    /// BusValue cannot hold, naming its signature.
    public func getProperty(unit: String, interface: String, name: String) throws -> BusValue? {
        guard let path = try getUnit(name: unit) else { return nil }
        return try getProperty(objectPath: path, interface: interface, name: name, unit: unit)
    }

    /// A property of any of systemd's objects, e.g. the manager's (managerPath, Interface.manager,
    /// "Version").
    public func getProperty(objectPath: String, interface: String, name: String) throws -> BusValue {
        try getProperty(objectPath: objectPath, interface: interface, name: name, unit: nil)
    }

    private func getProperty(objectPath: String, interface: String, name: String, unit: String?) throws -> BusValue {
        try call(
            "Get", path: objectPath, interface: "org.freedesktop.DBus.Properties", unit: unit
        ) { m throws(BusMarshalError) in
            try m.append(.string(interface), .string(name))
        } reply: { r throws(BusMarshalError) in
            try r.readVariant()
        }
    }

    /// ActiveState: "active", "reloading", "inactive", "failed", "activating" or "deactivating";
    /// "inactive" when the unit is not loaded (a collected transient unit).
    public func activeState(unit: String) throws -> String {
        try getProperty(unit: unit, interface: Interface.unit, name: "ActiveState")?.stringValue ?? "inactive"
    }

    /// SubState, the type-specific state ("running", "dead", "abandoned", ...); nil when not loaded.
    public func subState(unit: String) throws -> String? {
        try getProperty(unit: unit, interface: Interface.unit, name: "SubState")?.stringValue
    }

    /// The unit's cgroup path below the cgroup root, e.g. "/berth.slice/berth-web.scope"; nil
    /// when not loaded, or "" when it has no cgroup (yet, or any more).
    public func controlGroup(unit: String) throws -> String? {
        try getProperty(unit: unit, interface: Self.cgroupInterface(of: unit), name: "ControlGroup")?.stringValue
    }

    /// The interface that carries a unit type's cgroup properties (ControlGroup, MemoryMax, ...).
    public static func cgroupInterface(of unit: String) -> String {
        switch unit.split(separator: ".").last {
        case "scope": Interface.scope
        case "slice": Interface.slice
        case "socket": "org.freedesktop.systemd1.Socket"
        case "mount": "org.freedesktop.systemd1.Mount"
        case "swap": "org.freedesktop.systemd1.Swap"
        default: Interface.service
        }
    }
}
