#if canImport(Glibc)
    import Glibc
#endif

/// A failed call into libsystemd, with what berth was doing, on which unit, and what systemd said.
public struct SystemdError: Error, CustomStringConvertible, Sendable {
    /// What berth was doing, e.g. "StartTransientUnit".
    public var operation: String
    public var unit: String?
    /// The D-Bus error name, e.g. "org.freedesktop.systemd1.NoSuchUnit".
    public var busError: String?
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
        self.init(operation: operation, unit: unit, message: String(cString: strerror(-code)), errno: -code)
    }

    public var description: String {
        var s = operation
        if let unit { s += " \(unit)" }
        s += ": \(message)"
        if let busError { s += " (\(busError))" }
        return s
    }
}
