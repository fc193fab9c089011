/// A unit property as StartTransientUnit and SetUnitProperties take them: a name and a typed
/// value. The constructors give each property the exact D-Bus type systemd expects (a KillSignal
/// sent as "u" instead of "i" is refused), and cover what a transient scope accepts.
public struct UnitProperty: Sendable, Equatable {
    public var name: String
    public var value: BusValue

    public init(_ name: String, _ value: BusValue) {
        self.name = name
        self.value = value
    }

    /// What happens to a unit once it is inactive.
    public enum CollectMode: String, Sendable {
        /// Kept while failed, until ResetFailedUnit (the default).
        case inactive
        /// Collected at once, failed or not, so the name can be used again.
        case inactiveOrFailed = "inactive-or-failed"
    }

    /// Which processes a stop signals.
    public enum KillMode: String, Sendable {
        /// Every process in the unit's cgroup (the default).
        case controlGroup = "control-group"
        /// The main process first, then the rest with SIGKILL.
        case mixed
        case process
        case none
    }

    // MARK: unit

    public static func description(_ s: String) -> Self { .init("Description", .string(s)) }
    public static func slice(_ s: String) -> Self { .init("Slice", .string(s)) }
    public static func collectMode(_ mode: CollectMode) -> Self { .init("CollectMode", .string(mode.rawValue)) }
    /// CollectMode as systemd spells it, "inactive" or "inactive-or-failed".
    public static func collectMode(_ mode: String) -> Self { .init("CollectMode", .string(mode)) }
    /// Keeps the unit from being collected while the bus connection that created it lives.
    public static func addRef(_ on: Bool) -> Self { .init("AddRef", .bool(on)) }

    // MARK: scope

    /// The processes a scope starts with; a scope cannot be created empty.
    public static func pids(_ pids: [UInt32]) -> Self { .init("PIDs", .uint32Array(pids)) }
    /// How long a stop may take before SIGKILL.
    public static func timeoutStop(microseconds: UInt64) -> Self { .init("TimeoutStopUSec", .uint64(microseconds)) }
    public static func timeoutStop(_ timeout: Duration) -> Self { .timeoutStop(microseconds: timeout.microseconds) }
    /// The scope is stopped when it has been active this long.
    public static func runtimeMax(_ limit: Duration) -> Self { .init("RuntimeMaxUSec", .uint64(limit.microseconds)) }

    // MARK: kill

    /// The signal a stop sends first (to every process, with the default KillMode).
    public static func killSignal(_ signal: Int32) -> Self { .init("KillSignal", .int32(signal)) }
    public static func killMode(_ mode: KillMode) -> Self { .init("KillMode", .string(mode.rawValue)) }
    /// "control-group", "mixed", "process" or "none".
    public static func killMode(_ mode: String) -> Self { .init("KillMode", .string(mode)) }
    /// Whether processes still there after TimeoutStopUSec get SIGKILL (default true).
    public static func sendSIGKILL(_ on: Bool) -> Self { .init("SendSIGKILL", .bool(on)) }

    // MARK: cgroup

    /// The unit manages its own cgroup subtree: needed for sub-cgroups (AttachProcessesToUnit
    /// with a subcgroup) and for handing a container its own hierarchy.
    public static func delegate(_ on: Bool) -> Self { .init("Delegate", .bool(on)) }
    /// Bytes; UInt64.max means no limit. On cgroup v1 it becomes memory.limit_in_bytes.
    public static func memoryMax(_ bytes: UInt64) -> Self { .init("MemoryMax", .uint64(bytes)) }
    /// Tasks (threads and processes); UInt64.max means no limit.
    public static func tasksMax(_ count: UInt64) -> Self { .init("TasksMax", .uint64(count)) }
    /// CPU time per second of wall time, in microseconds (1_000_000 = one CPU); UInt64.max means
    /// no quota.
    public static func cpuQuotaPerSec(microseconds: UInt64) -> Self {
        .init("CPUQuotaPerSecUSec", .uint64(microseconds))
    }
    public static func memoryAccounting(_ on: Bool) -> Self { .init("MemoryAccounting", .bool(on)) }
    public static func tasksAccounting(_ on: Bool) -> Self { .init("TasksAccounting", .bool(on)) }
    public static func cpuAccounting(_ on: Bool) -> Self { .init("CPUAccounting", .bool(on)) }
    public static func ioAccounting(_ on: Bool) -> Self { .init("IOAccounting", .bool(on)) }
}
