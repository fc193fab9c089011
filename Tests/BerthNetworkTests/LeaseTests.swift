import BerthSpec
import Foundation
import Testing

@testable import BerthNetwork

@Suite struct LeaseTests {
    static func temporaryRoot() throws -> String {
        let path = NSTemporaryDirectory() + "/berth-leases-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func subnetsAndTheirGateway() throws {
        let config = try NetworkConfig()
        #expect(config.subnet == "10.77.0.0/16" && config.gateway == IPAddress("10.77.0.1"))
        let small = try NetworkConfig(subnet: "10.123.4.77/29")
        #expect(small.subnet == "10.123.4.72/29" && small.gateway == IPAddress("10.123.4.73"))
        #expect(small.hosts.count == 5)  // .74 to .78: not the network, the gateway or broadcast
        for bad in ["10.0.0.0", "10.0.0.0/31", "fd00::/64", "10.0.0.0/x", "300.0.0.0/8"] {
            #expect(throws: NetworkError.self) { try NetworkConfig(subnet: bad) }
        }
        #expect(try NetworkConfig(environment: ["BERTH_BRIDGE_SUBNET": "10.5.0.0/24"]).subnet == "10.5.0.0/24")
    }

    @Test func leasesAreStableUniqueAndGivenBack() throws {
        let root = try Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let leases = Leases(directory: root, config: try NetworkConfig(subnet: "10.9.0.0/29"))
        let a = try leases.lease("a")
        let b = try leases.lease("b")
        #expect(a == IPAddress("10.9.0.2") && b == IPAddress("10.9.0.3"))
        #expect(try leases.lease("a") == a)
        // A second store over the same root sees the same leases (they are files).
        #expect(try Leases(directory: root, config: try NetworkConfig(subnet: "10.9.0.0/29")).lease("b") == b)
        for id in ["c", "d", "e"] { _ = try leases.lease(id) }
        #expect(throws: NetworkError.self) { try leases.lease("f") }
        leases.release("a")
        #expect(try leases.lease("f") == a)
        #expect(leases.all().count == 5)
    }

    /// A lease names its container's directory, so any berth root can tell it from another's;
    /// after a reboot a container asks for its old address back and gets it only when it is free.
    @Test func ownersAndPreferredAddresses() throws {
        let root = try Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let leases = Leases(directory: root, config: try NetworkConfig(subnet: "10.9.0.0/29"))
        let a = try leases.lease("aaaa", owner: "/var/lib/berth/containers/aaaa")
        #expect(leases.all()[a] == "/var/lib/berth/containers/aaaa")
        #expect(try leases.lease("aaaa", owner: "/x/containers/aaaa", preferred: IPAddress("10.9.0.6")) == a)
        #expect(try leases.lease("bbbb", preferred: IPAddress("10.9.0.5")) == IPAddress("10.9.0.5"))
        // Taken, or outside the subnet: the lowest free one instead.
        #expect(try leases.lease("cccc", preferred: IPAddress("10.9.0.5")) == IPAddress("10.9.0.3"))
        #expect(try leases.lease("dddd", preferred: IPAddress("10.77.0.9")) == IPAddress("10.9.0.4"))
        leases.release("aaaa")
        #expect(leases.all()[a] == nil)
    }

    @Test func concurrentLeasesNeverShareAnAddress() async throws {
        let root = try Self.temporaryRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let config = try NetworkConfig(subnet: "10.9.0.0/24")
        let addresses = try await withThrowingTaskGroup(of: IPAddress.self) { group in
            for n in 0..<40 { group.addTask { try Leases(directory: root, config: config).lease("c\(n)") } }
            return try await group.reduce(into: [IPAddress]()) { $0.append($1) }
        }
        #expect(Set(addresses).count == 40)
    }

    @Test func portMapsPrintAsTheyParse() throws {
        for text in ["8080:80/tcp", "127.0.0.1:53:53/udp", "8000-8002:9000-9002/tcp", "[::1]:8443:443/tcp"] {
            let map = try PortMapping.parse(text).get()
            #expect(map.description == text)
            #expect(try PortMapping.parse(map.description).get() == map)
        }
        #expect(try PortMapping.parse("8080:80").get().description == "8080:80/tcp")
    }
}
