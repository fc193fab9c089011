/// Listing units in one call (ListUnitsByPatterns): berthd's view of every container scope costs
/// one round trip, not one per container.
extension SystemdBus {
    /// One row of ListUnitsByPatterns' a(ssssssouso).
    public struct UnitStatus: Sendable, Equatable {
        public var name: String
        public var description: String
        public var loadState: String
        public var activeState: String
        public var subState: String
        public var objectPath: String
    }

    /// The loaded units whose names match one of `patterns` (shell globs, e.g. "berth-*.scope")
    /// and, when `states` is not empty, whose load, active or sub state is one of them.
    public func listUnits(patterns: [String], states: [String] = []) throws -> [UnitStatus] {
        try call("ListUnitsByPatterns", unit: nil) { m throws(BusMarshalError) in
            try m.append(.stringArray(states), .stringArray(patterns))
        } reply: { r throws(BusMarshalError) in
            var units: [UnitStatus] = []
            try r.enter("a", "(ssssssouso)") { () throws(BusMarshalError) in
                while try r.peek() != nil {
                    try r.enter("r", "ssssssouso") { () throws(BusMarshalError) in
                        let name = try r.readString("s")
                        let description = try r.readString("s")
                        let load = try r.readString("s")
                        let active = try r.readString("s")
                        let sub = try r.readString("s")
                        _ = try r.readString("s")  // following
                        let path = try r.readString("o")
                        _ = try r.readBasic("u", UInt32(0))  // job id
                        _ = try r.readString("s")  // job type
                        _ = try r.readString("o")  // job path
                        units.append(
                            UnitStatus(
                                name: name, description: description, loadState: load, activeState: active,
                                subState: sub, objectPath: path))
                    }
                }
            }
            return units
        }
    }
}

extension SystemdBus {
    /// A process in a unit's cgroup, as GetUnitProcesses gives it.
    public struct UnitProcess: Sendable, Equatable {
        public var cgroup: String
        public var pid: UInt32
        /// Its command line, the arguments joined by spaces.
        public var command: String
    }

    /// The processes of a unit (GetUnitProcesses: one call, the command lines included).
    public func unitProcesses(_ unit: String) throws -> [UnitProcess] {
        try call("GetUnitProcesses", unit: unit) { m throws(BusMarshalError) in
            try m.append(.string(unit))
        } reply: { r throws(BusMarshalError) in
            var processes: [UnitProcess] = []
            try r.enter("a", "(sus)") { () throws(BusMarshalError) in
                while try r.peek() != nil {
                    try r.enter("r", "sus") { () throws(BusMarshalError) in
                        let cgroup = try r.readString("s")
                        let pid = try r.readBasic("u", UInt32(0))
                        let command = try r.readString("s")
                        processes.append(UnitProcess(cgroup: cgroup, pid: pid, command: command))
                    }
                }
            }
            return processes
        }
    }
}
