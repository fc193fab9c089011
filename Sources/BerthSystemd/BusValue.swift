/// A typed D-Bus value: the types systemd's unit properties and manager methods use.
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

    /// A string or object path.
    public var stringValue: String? {
        switch self {
        case .string(let s), .objectPath(let s): s
        default: nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { b } else { nil }
    }

    /// Any integer that fits: systemd mixes i, u, x and t (a PID is u, a status i, a limit t).
    public var int64Value: Int64? {
        switch self {
        case .int32(let v): Int64(v)
        case .uint32(let v): Int64(v)
        case .int64(let v): v
        case .uint64(let v): Int64(exactly: v)
        default: nil
        }
    }

    /// Any non-negative integer; systemd's "infinity" for a limit is UInt64.max.
    public var uint64Value: UInt64? {
        switch self {
        case .uint64(let v): v
        case .uint32(let v): UInt64(v)
        case .int64(let v): UInt64(exactly: v)
        case .int32(let v): UInt64(exactly: v)
        default: nil
        }
    }

    public var stringArrayValue: [String]? {
        if case .stringArray(let a) = self { a } else { nil }
    }

    public var uint32ArrayValue: [UInt32]? {
        if case .uint32Array(let a) = self { a } else { nil }
    }
}
