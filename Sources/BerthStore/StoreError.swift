#if canImport(Glibc)
    import Glibc
#endif

/// Why a store operation failed, with the object it was about.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }

    static func system(_ what: String, _ path: String, _ code: Int32 = errno) -> StoreError {
        StoreError("\(what) \(path): \(String(cString: strerror(code)))")
    }
}
