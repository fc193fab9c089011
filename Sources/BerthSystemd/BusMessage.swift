import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// A libsystemd call that failed while a message was built or read: the step and its errno.
/// Callers turn it into a `SystemdError` that names their operation and unit.
struct BusMarshalError: Error {
    var step: String
    var code: Int32
}

/// Appends values to an sd-bus message one by one. sd_bus_message_append is variadic and so not
/// callable from Swift: everything goes through append_basic and open/close_container.
struct BusMessageWriter {
    let message: OpaquePointer

    func append(_ value: BusValue) throws(BusMarshalError) {
        switch value {
        case .string(let s): try appendString(s, type: "s")
        case .objectPath(let s): try appendString(s, type: "o")
        case .bool(let b): try appendBasic("b", Int32(b ? 1 : 0))  // D-Bus booleans are C ints
        case .int32(let v): try appendBasic("i", v)
        case .uint32(let v): try appendBasic("u", v)
        case .int64(let v): try appendBasic("x", v)
        case .uint64(let v): try appendBasic("t", v)
        case .double(let v): try appendBasic("d", v)
        case .stringArray(let list):
            try container("a", "s") { () throws(BusMarshalError) in
                for s in list { try appendString(s, type: "s") }
            }
        case .uint32Array(let list):
            try container("a", "u") { () throws(BusMarshalError) in
                for v in list { try appendBasic("u", v) }
            }
        }
    }

    /// Appends each value in order: the arguments of a method call.
    func append(_ values: BusValue...) throws(BusMarshalError) {
        for v in values { try append(v) }
    }

    /// One property as a(sv) wants it: the struct (name, variant(value)).
    func append(_ property: UnitProperty) throws(BusMarshalError) {
        try container("r", "sv") { () throws(BusMarshalError) in
            try appendString(property.name, type: "s")
            try container("v", property.value.signature) { () throws(BusMarshalError) in
                try append(property.value)
            }
        }
    }

    /// An a(sv) array of properties, as StartTransientUnit and SetUnitProperties take them.
    func append(_ properties: [UnitProperty]) throws(BusMarshalError) {
        try container("a", "(sv)") { () throws(BusMarshalError) in
            for p in properties { try append(p) }
        }
    }

    func container(
        _ type: Unicode.Scalar, _ contents: String, _ body: () throws(BusMarshalError) -> Void
    ) throws(BusMarshalError) {
        try check(
            "open container \(type)\(contents)", sd_bus_message_open_container(message, CChar(type.value), contents))
        try body()
        try check("close container \(type)\(contents)", sd_bus_message_close_container(message))
    }

    private func appendString(_ s: String, type: Unicode.Scalar) throws(BusMarshalError) {
        // A C string would end at the NUL and send a shorter value than the caller gave.
        if s.utf8.contains(0) { throw BusMarshalError(step: "append \(type): a NUL byte in \"\(s)\"", code: -EINVAL) }
        try check("append \(type)", s.withCString { sd_bus_message_append_basic(message, CChar(type.value), $0) })
    }

    private func appendBasic<T: BitwiseCopyable>(_ type: Unicode.Scalar, _ value: T) throws(BusMarshalError) {
        var v = value
        try check("append \(type)", sd_bus_message_append_basic(message, CChar(type.value), &v))
    }

    private func check(_ step: String, _ r: Int32) throws(BusMarshalError) {
        if r < 0 { throw BusMarshalError(step: step, code: r) }
    }
}

/// Reads values from an sd-bus message with read_basic and enter/exit_container (sd_bus_message_read
/// is variadic too).
struct BusMessageReader {
    let message: OpaquePointer

    /// The type code and, for a container, the signature of its contents, at the read position;
    /// nil at the end of the message or of the current container.
    func peek() throws(BusMarshalError) -> (type: Unicode.Scalar, contents: String?)? {
        var type: CChar = 0
        var contents: UnsafePointer<CChar>?
        let r = sd_bus_message_peek_type(message, &type, &contents)
        if r < 0 { throw BusMarshalError(step: "peek", code: r) }
        if r == 0 { return nil }
        return (Unicode.Scalar(UInt8(bitPattern: type)), contents.map { String(cString: $0) })
    }

    /// The next value, or nil at the end. A type BusValue cannot hold is an error naming its
    /// signature (it is skipped first, so the message stays readable).
    func read() throws(BusMarshalError) -> BusValue? {
        guard let (type, contents) = try peek() else { return nil }
        switch type {
        case "s", "g": return .string(try readString(type))
        case "o": return .objectPath(try readString(type))
        case "b": return .bool(try readBasic(type, Int32(0)) != 0)
        case "i": return .int32(try readBasic(type, Int32(0)))
        case "u": return .uint32(try readBasic(type, UInt32(0)))
        case "x": return .int64(try readBasic(type, Int64(0)))
        case "t": return .uint64(try readBasic(type, UInt64(0)))
        case "d": return .double(try readBasic(type, Double(0)))
        case "a" where contents == "s":
            var out: [String] = []
            try enter("a", "s") { () throws(BusMarshalError) in
                while try peek() != nil { out.append(try readString("s")) }
            }
            return .stringArray(out)
        case "a" where contents == "u":
            var out: [UInt32] = []
            try enter("a", "u") { () throws(BusMarshalError) in
                while try peek() != nil { out.append(try readBasic("u", UInt32(0))) }
            }
            return .uint32Array(out)
        default:
            let signature = "\(type)\(contents ?? "")"
            let r = sd_bus_message_skip(message, signature)
            throw BusMarshalError(step: "read unsupported type \(signature)", code: r < 0 ? r : -EOPNOTSUPP)
        }
    }

    /// Reads the value inside a variant (a property's value as Properties.Get returns it).
    func readVariant() throws(BusMarshalError) -> BusValue {
        guard let (type, contents) = try peek(), type == "v", let contents else {
            throw BusMarshalError(step: "read variant", code: -EBADMSG)
        }
        var value: BusValue?
        try enter("v", contents) { () throws(BusMarshalError) in value = try read() }
        guard let value else { throw BusMarshalError(step: "read variant", code: -EBADMSG) }
        return value
    }

    func enter(
        _ type: Unicode.Scalar, _ contents: String, _ body: () throws(BusMarshalError) -> Void
    ) throws(BusMarshalError) {
        let r = sd_bus_message_enter_container(message, CChar(type.value), contents)
        if r < 0 { throw BusMarshalError(step: "enter container \(type)\(contents)", code: r) }
        if r == 0 { throw BusMarshalError(step: "enter container \(type)\(contents)", code: -ENXIO) }
        try body()
        let e = sd_bus_message_exit_container(message)
        if e < 0 { throw BusMarshalError(step: "exit container \(type)\(contents)", code: e) }
    }

    /// D-Bus strings are valid UTF-8 by definition (sd-bus verifies it), so decoding them as C
    /// strings loses nothing, unlike data a container wrote.
    func readString(_ type: Unicode.Scalar) throws(BusMarshalError) -> String {
        var p: UnsafePointer<CChar>?
        let r = sd_bus_message_read_basic(message, CChar(type.value), &p)
        guard r > 0, let p else { throw BusMarshalError(step: "read \(type)", code: r < 0 ? r : -ENXIO) }
        return String(cString: p)
    }

    func readBasic<T: BitwiseCopyable>(_ type: Unicode.Scalar, _ initial: T) throws(BusMarshalError) -> T {
        var v = initial
        let r = sd_bus_message_read_basic(message, CChar(type.value), &v)
        guard r > 0 else { throw BusMarshalError(step: "read \(type)", code: r < 0 ? r : -ENXIO) }
        return v
    }
}
