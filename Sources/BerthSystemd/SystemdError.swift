import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// A failed call into libsystemd, with what berth was doing, on which unit, and what systemd said:
/// enough for a user to act on without re-running anything with debug logging.
public struct SystemdError: Error, CustomStringConvertible, Sendable {
    /// What berth was doing, e.g. "StartTransientUnit" or "sd_journal_open".
    public var operation: String
    /// The unit the operation was about, if any.
    public var unit: String?
    /// The D-Bus error name, e.g. "org.freedesktop.systemd1.NoSuchUnit"; nil when the failure was
    /// local (bad name, connection, marshalling) rather than an error reply.
    public var busError: String?
    /// systemd's own words (the error reply's message), or strerror of `errno`.
    public var message: String
    /// The errno libsystemd returned (positive), or 0.
    public var errno: Int32

    public init(operation: String, unit: String? = nil, busError: String? = nil, message: String, errno: Int32 = 0) {
        self.operation = operation
        self.unit = unit
        self.busError = busError
        self.message = message
        self.errno = errno
    }

    /// From a negative errno return value of a libsystemd call.
    init(operation: String, unit: String? = nil, code: Int32) {
        self.init(operation: operation, unit: unit, message: errnoText(code), errno: -code)
    }

    /// From a method call that failed: systemd's error reply when there is one, else the errno.
    init(operation: String, unit: String?, code: Int32, reply error: sd_bus_error) {
        // D-Bus guarantees valid UTF-8 in error names and messages: decoding them as C strings
        // loses nothing.
        self.init(
            operation: operation, unit: unit, busError: error.name.map { String(cString: $0) },
            message: error.message.map { String(cString: $0) } ?? errnoText(code), errno: -code)
    }

    /// Whether systemd answered that the unit does not exist (is not loaded).
    public var isNoSuchUnit: Bool { busError == BusErrorName.noSuchUnit }

    public var description: String {
        var s = operation
        if let unit { s += " \(unit)" }
        s += ": \(message)"
        if let busError { s += " (\(busError))" }
        return s
    }
}

/// D-Bus error names systemd answers with that callers act on.
public enum BusErrorName {
    public static let noSuchUnit = "org.freedesktop.systemd1.NoSuchUnit"
    public static let unitExists = "org.freedesktop.systemd1.UnitExists"
    public static let noSuchProcess = "org.freedesktop.systemd1.NoSuchProcess"
    public static let accessDenied = "org.freedesktop.DBus.Error.AccessDenied"
}

/// strerror of an errno, or of a negative libsystemd return value.
func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code < 0 ? -code : code))
}
