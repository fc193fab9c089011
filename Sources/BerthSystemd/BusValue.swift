import CSystemd

/// A typed D-Bus value, as systemd's unit properties need them.
public enum BusValue: Sendable, Equatable {
    case string(String)
    case objectPath(String)
    case bool(Bool)
    case int32(Int32)
    case uint32(UInt32)
    case int64(Int64)
    case uint64(UInt64)
    case double(Double)
    case stringArray([String])
    case uint32Array([UInt32])

    /// The D-Bus signature of this value.
    public var signature: String {
        switch self {
        case .string: "s"
        case .objectPath: "o"
        case .bool: "b"
        case .int32: "i"
        case .uint32: "u"
        case .int64: "x"
        case .uint64: "t"
        case .double: "d"
        case .stringArray: "as"
        case .uint32Array: "au"
        }
    }

    public var stringValue: String? {
        switch self {
        case .string(let s), .objectPath(let s): s
        default: nil
        }
    }

    public var uint64Value: UInt64? {
        switch self {
        case .uint64(let v): v
        case .uint32(let v): UInt64(v)
        case .int64(let v) where v >= 0: UInt64(v)
        case .int32(let v) where v >= 0: UInt64(v)
        default: nil
        }
    }

    /// Appends this value to a message (sd_bus_message_append is variadic, so this goes value by value).
    func append(to m: OpaquePointer) -> Int32 {
        switch self {
        case .string(let s): return s.withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "s")), $0) }
        case .objectPath(let s): return s.withCString { sd_bus_message_append_basic(m, CChar(UInt8(ascii: "o")), $0) }
        case .bool(let b):
            var v: Int32 = b ? 1 : 0
            return sd_bus_message_append_basic(m, CChar(UInt8(ascii: "b")), &v)
        case .int32(var v): return sd_bus_message_append_basic(m, CChar(UInt8(ascii: "i")), &v)
        case .uint32(var v): return sd_bus_message_append_basic(m, CChar(UInt8(ascii: "u")), &v)
        case .int64(var v): return sd_bus_message_append_basic(m, CChar(UInt8(ascii: "x")), &v)
        case .uint64(var v): return sd_bus_message_append_basic(m, CChar(UInt8(ascii: "t")), &v)
        case .double(var v): return sd_bus_message_append_basic(m, CChar(UInt8(ascii: "d")), &v)
        case .stringArray(let list):
            var r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "a")), "s")
            for s in list where r >= 0 { r = BusValue.string(s).append(to: m) }
            return r < 0 ? r : sd_bus_message_close_container(m)
        case .uint32Array(let list):
            var r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "a")), "u")
            for v in list where r >= 0 { r = BusValue.uint32(v).append(to: m) }
            return r < 0 ? r : sd_bus_message_close_container(m)
        }
    }

    /// Reads one value of the basic or array type at the read position of `m`.
    static func read(from m: OpaquePointer) -> BusValue? {
        var type: CChar = 0
        var contents: UnsafePointer<CChar>?
        guard sd_bus_message_peek_type(m, &type, &contents) > 0 else { return nil }
        switch UInt8(bitPattern: type) {
        case UInt8(ascii: "s"), UInt8(ascii: "o"), UInt8(ascii: "g"):
            var p: UnsafePointer<CChar>?
            guard sd_bus_message_read_basic(m, type, &p) > 0, let p else { return nil }
            return type == CChar(UInt8(ascii: "o")) ? .objectPath(String(cString: p)) : .string(String(cString: p))
        case UInt8(ascii: "b"):
            var v: Int32 = 0
            return sd_bus_message_read_basic(m, type, &v) > 0 ? .bool(v != 0) : nil
        case UInt8(ascii: "i"):
            var v: Int32 = 0
            return sd_bus_message_read_basic(m, type, &v) > 0 ? .int32(v) : nil
        case UInt8(ascii: "u"):
            var v: UInt32 = 0
            return sd_bus_message_read_basic(m, type, &v) > 0 ? .uint32(v) : nil
        case UInt8(ascii: "x"):
            var v: Int64 = 0
            return sd_bus_message_read_basic(m, type, &v) > 0 ? .int64(v) : nil
        case UInt8(ascii: "t"):
            var v: UInt64 = 0
            return sd_bus_message_read_basic(m, type, &v) > 0 ? .uint64(v) : nil
        case UInt8(ascii: "d"):
            var v: Double = 0
            return sd_bus_message_read_basic(m, type, &v) > 0 ? .double(v) : nil
        case UInt8(ascii: "a"):
            guard let contents, sd_bus_message_enter_container(m, type, contents) > 0 else { return nil }
            defer { sd_bus_message_exit_container(m) }
            switch String(cString: contents) {
            case "s":
                var out: [String] = []
                while case .string(let s)? = read(from: m) { out.append(s) }
                return .stringArray(out)
            case "u":
                var out: [UInt32] = []
                while case .uint32(let v)? = read(from: m) { out.append(v) }
                return .uint32Array(out)
            default:
                sd_bus_message_skip(m, nil)
                return nil
            }
        default:
            sd_bus_message_skip(m, nil)
            return nil
        }
    }
}

/// A property of a transient unit, as StartTransientUnit and SetUnitProperties take them.
public struct UnitProperty: Sendable, Equatable {
    public var name: String
    public var value: BusValue

    public init(_ name: String, _ value: BusValue) {
        self.name = name
        self.value = value
    }

    public static func description(_ s: String) -> Self { .init("Description", .string(s)) }
    public static func slice(_ s: String) -> Self { .init("Slice", .string(s)) }
    public static func pids(_ pids: [UInt32]) -> Self { .init("PIDs", .uint32Array(pids)) }
    public static func killSignal(_ signal: Int32) -> Self { .init("KillSignal", .int32(signal)) }
    /// "control-group" (every process), "mixed" or "process".
    public static func killMode(_ mode: String) -> Self { .init("KillMode", .string(mode)) }
    public static func timeoutStop(microseconds: UInt64) -> Self { .init("TimeoutStopUSec", .uint64(microseconds)) }
    /// "inactive" or "inactive-or-failed": whether a failed unit is collected at once.
    public static func collectMode(_ mode: String) -> Self { .init("CollectMode", .string(mode)) }
    public static func delegate(_ on: Bool) -> Self { .init("Delegate", .bool(on)) }
    /// Bytes; UInt64.max means no limit.
    public static func memoryMax(_ bytes: UInt64) -> Self { .init("MemoryMax", .uint64(bytes)) }
    public static func tasksMax(_ count: UInt64) -> Self { .init("TasksMax", .uint64(count)) }
    /// CPU time per second of wall time, in microseconds (1_000_000 = one CPU).
    public static func cpuQuotaPerSec(microseconds: UInt64) -> Self {
        .init("CPUQuotaPerSecUSec", .uint64(microseconds))
    }
    public static func memoryAccounting(_ on: Bool) -> Self { .init("MemoryAccounting", .bool(on)) }
    public static func tasksAccounting(_ on: Bool) -> Self { .init("TasksAccounting", .bool(on)) }
    public static func cpuAccounting(_ on: Bool) -> Self { .init("CPUAccounting", .bool(on)) }
    public static func ioAccounting(_ on: Bool) -> Self { .init("IOAccounting", .bool(on)) }
    /// Keeps the unit from being collected while the connection that created it lives.
    public static func addRef(_ on: Bool) -> Self { .init("AddRef", .bool(on)) }

    func append(to m: OpaquePointer) -> Int32 {
        var r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "r")), "sv")
        if r >= 0 { r = BusValue.string(name).append(to: m) }
        if r >= 0 { r = sd_bus_message_open_container(m, CChar(UInt8(ascii: "v")), value.signature) }
        if r >= 0 { r = value.append(to: m) }
        if r >= 0 { r = sd_bus_message_close_container(m) }
        if r >= 0 { r = sd_bus_message_close_container(m) }
        return r
    }
}
