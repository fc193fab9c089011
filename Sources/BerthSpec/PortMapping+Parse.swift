extension PortMapping {
    public struct ParseProblem: Error, CustomStringConvertible {
        public var description: String
    }

    /// The compose short form: `[ADDR:]HOST[-END]:CONTAINER[-END][/PROTO]`; an IPv6 address in
    /// brackets (`[::1]:8080:80`).
    public static func parse(_ text: String) -> Result<PortMapping, ParseProblem> {
        func problem(_ s: String) -> Result<PortMapping, ParseProblem> { .failure(ParseProblem(description: s)) }
        var rest = Substring(text)
        var proto = TransportProtocol.tcp
        if let slash = rest.lastIndex(of: "/") {
            guard let p = TransportProtocol(rawValue: String(rest[rest.index(after: slash)...])) else {
                return problem("the protocol after '/' must be tcp or udp")
            }
            proto = p
            rest = rest[..<slash]
        }
        var address: IPAddress?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]"), rest[close...].hasPrefix("]:") else {
                return problem("an IPv6 address must be written in brackets followed by ':', as in [::1]:8080:80")
            }
            guard let a = IPAddress(String(rest[rest.index(after: rest.startIndex)..<close])), a.isIPv6 else {
                return problem("invalid IPv6 address in brackets")
            }
            address = a
            rest = rest[rest.index(close, offsetBy: 2)...]
        }
        let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
        let hostText: Substring
        let containerText: Substring
        switch parts.count {
        case 2 where address != nil || true:
            hostText = parts[0]
            containerText = parts[1]
        case 3 where address == nil:
            guard let a = IPAddress(String(parts[0])), !a.isIPv6 else {
                return problem(
                    "invalid IPv4 address \(JSONPath.quoted(String(parts[0]))) (write IPv6 addresses in brackets)")
            }
            address = a
            hostText = parts[1]
            containerText = parts[2]
        case 1 where rest.isEmpty:
            return problem("expected \"[ADDRESS:]HOST:CONTAINER[/udp]\", e.g. \"8080:80\"")
        case 1:
            return problem("berth needs the host port too: \"HOST:CONTAINER\", e.g. \"8080:\(rest)\"")
        default:
            return problem("expected \"[ADDRESS:]HOST:CONTAINER[/udp]\"; write IPv6 addresses in brackets")
        }
        guard let host = portRange(hostText) else {
            return problem(
                "invalid host port \(JSONPath.quoted(String(hostText))): a port from 1 to 65535 or a range such as 8000-8010"
            )
        }
        guard let container = portRange(containerText) else {
            return problem(
                "invalid container port \(JSONPath.quoted(String(containerText))): a port from 1 to 65535 or a range such as 8000-8010"
            )
        }
        guard host.count == container.count else {
            return problem("the host range has \(host.count) ports but the container range has \(container.count)")
        }
        return .success(
            PortMapping(
                hostPort: UInt16(host.lowerBound), containerPort: UInt16(container.lowerBound),
                proto: proto, address: address, count: UInt16(host.count)))
    }

    private static func portRange(_ s: Substring) -> ClosedRange<Int>? {
        let ends = s.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(ends.count) else { return nil }
        let numbers = ends.compactMap { e -> Int? in
            guard !e.isEmpty, e.count <= 5, e.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(e),
                (1...65535).contains(n)
            else { return nil }
            return n
        }
        guard numbers.count == ends.count, numbers.first! <= numbers.last! else { return nil }
        return numbers.first!...numbers.last!
    }
}

extension PortMapping: CustomStringConvertible {
    /// The compose short form `parse` reads: `[ADDR:]HOST[-END]:CONTAINER[-END]/PROTO`.
    public var description: String {
        func range(_ first: UInt16) -> String { count > 1 ? "\(first)-\(Int(first) + Int(count) - 1)" : "\(first)" }
        let host = address.map { $0.isIPv6 ? "[\($0)]:" : "\($0):" } ?? ""
        return "\(host)\(range(hostPort)):\(range(containerPort))/\(proto.rawValue)"
    }
}
