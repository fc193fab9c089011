#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// An IPv4 or IPv6 address, parsed with inet_pton so berth accepts exactly what the kernel does.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4([UInt8])
    case v6([UInt8])

    public init?(_ text: String) {
        guard !text.isEmpty, !text.utf8.contains(0) else { return nil }
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, text, &v4) == 1 {
            self = .v4(v4)
            return
        }
        var v6 = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET6, text, &v6) == 1 {
            self = .v6(v6)
            return
        }
        return nil
    }

    /// 0.0.0.0 or ::, which listen on every address.
    public var isUnspecified: Bool {
        switch self {
        case .v4(let b), .v6(let b): b.allSatisfy { $0 == 0 }
        }
    }

    public var isIPv6: Bool {
        if case .v6 = self { return true }
        return false
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        switch self {
        case .v4(var b): _ = inet_ntop(AF_INET, &b, &buffer, 64)
        case .v6(var b): _ = inet_ntop(AF_INET6, &b, &buffer, 64)
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
