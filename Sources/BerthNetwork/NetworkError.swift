#if canImport(Glibc)
    import Glibc
#endif

/// A networking failure, with what was being done and the kernel's word for it.
public struct NetworkError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(_ description: String) { self.description = description }

    /// An operation that failed with an errno (netlink replies carry a negative errno).
    public init(_ operation: String, errno code: Int32) {
        description = "\(operation): \(String(cString: strerror(code)))"
    }
}
