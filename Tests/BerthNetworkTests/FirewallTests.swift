import BerthSpec
import BerthTestSupport
import Dispatch
import Foundation
import Synchronization
import Testing

@testable import BerthNetwork

/// berth's nftables table: the generated script (unit), and in the sandbox's own network namespace
/// the table applied through libnftables, checked from outside with the nft CLI, and traffic
/// through it to a second network namespace standing for a container.
@Suite(.serialized) struct FirewallTests {
    static let idA = "0123456789ab" + String(repeating: "c", count: 52)
    static let idB = "fedcba987654" + String(repeating: "0", count: 52)

    static func network(bridge: String = "berth0") throws -> BridgeNetwork {
        BridgeNetwork(bridge: bridge, subnet: try IPv4Subnet("10.88.0.0/24"), gateway: IPAddress("10.88.0.1")!)
    }

    static let containerA = ContainerPorts(
        id: idA, address: IPAddress("10.88.0.2")!, maps: [PortMap(proto: .tcp, hostPort: 8080, containerPort: 80)])
    static let containerB = ContainerPorts(
        id: idB, address: IPAddress("10.88.0.3")!,
        maps: [
            PortMap(proto: .udp, hostAddress: IPAddress("127.0.0.1"), hostPort: 5353, containerPort: 53),
            PortMap(proto: .tcp, hostPort: 9000, containerPort: 9000, count: 3),
        ])

    /// Lines trimmed, blank lines dropped.
    static func normalized(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    // MARK: - Unit: the generator

    @Test func wholeTableForTwoContainers() throws {
        let script = try FirewallRules.table(network: Self.network(), containers: [Self.containerA, Self.containerB])
        let expected = """
            add table inet berth
            delete table inet berth
            table inet berth {
            chain filter-prerouting {
            type filter hook prerouting priority raw; policy accept;
            iifname "berth0" ip daddr 127.0.0.0/8 drop
            }
            chain postrouting {
            type nat hook postrouting priority srcnat; policy accept;
            ip saddr 10.88.0.0/24 oifname != "berth0" masquerade
            ip saddr 10.88.0.0/24 ip daddr 10.88.0.0/24 ct status dnat masquerade
            ct status dnat ip saddr 127.0.0.0/8 masquerade
            }
            chain forward {
            type filter hook forward priority filter; policy accept;
            ct state established,related accept
            iifname "berth0" accept
            oifname "berth0" ct status dnat accept
            oifname "berth0" drop
            }
            chain c-0123456789ab {
            tcp dport 8080 dnat ip to 10.88.0.2:80
            }
            chain c-0123456789ab-prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            fib daddr type local jump c-0123456789ab
            }
            chain c-0123456789ab-output {
            type nat hook output priority -100; policy accept;
            fib daddr type local jump c-0123456789ab
            }
            chain c-fedcba987654 {
            ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.88.0.3:53
            tcp dport 9000-9002 dnat ip to 10.88.0.3
            }
            chain c-fedcba987654-prerouting {
            type nat hook prerouting priority dstnat; policy accept;
            fib daddr type local jump c-fedcba987654
            }
            chain c-fedcba987654-output {
            type nat hook output priority -100; policy accept;
            fib daddr type local jump c-fedcba987654
            }
            }
            """
        #expect(Self.normalized(script) == Self.normalized(expected))
    }

    @Test func replaceAndRemoveOneContainer() throws {
        var c = Self.containerB
        c.maps = [
            PortMap(proto: .tcp, hostAddress: IPAddress("0.0.0.0"), hostPort: 8000, containerPort: 9000, count: 2),
            PortMap(proto: .udp, hostAddress: IPAddress("192.0.2.7"), hostPort: 53, containerPort: 5353),
        ]
        let replace = """
            add table inet berth
            add chain inet berth c-fedcba987654
            flush chain inet berth c-fedcba987654
            add rule inet berth c-fedcba987654 tcp dport 8000-8001 dnat ip to 10.88.0.3 : tcp dport map { 8000 : 9000, 8001 : 9001 }
            add rule inet berth c-fedcba987654 ip daddr 192.0.2.7 udp dport 53 dnat ip to 10.88.0.3:5353
            add chain inet berth c-fedcba987654-prerouting { type nat hook prerouting priority dstnat; policy accept; }
            flush chain inet berth c-fedcba987654-prerouting
            add rule inet berth c-fedcba987654-prerouting fib daddr type local jump c-fedcba987654
            add chain inet berth c-fedcba987654-output { type nat hook output priority -100; policy accept; }
            flush chain inet berth c-fedcba987654-output
            add rule inet berth c-fedcba987654-output fib daddr type local jump c-fedcba987654
            """
        #expect(Self.normalized(try FirewallRules.replaceContainer(c)) == Self.normalized(replace))
        let remove = """
            add table inet berth
            add chain inet berth c-fedcba987654-prerouting
            delete chain inet berth c-fedcba987654-prerouting
            add chain inet berth c-fedcba987654-output
            delete chain inet berth c-fedcba987654-output
            add chain inet berth c-fedcba987654
            delete chain inet berth c-fedcba987654
            """
        #expect(Self.normalized(try FirewallRules.removeContainer(id: Self.idB)) == Self.normalized(remove))
        // A container without maps keeps its (empty) chains: replacing is enough to clear them.
        c.maps = []
        #expect(!(try FirewallRules.replaceContainer(c)).contains("dnat"))
    }

    @Test func idsNamesAndMapsAreValidated() throws {
        #expect(try FirewallRules.chainName(id: Self.idA) == "c-0123456789ab")
        #expect(try FirewallRules.chainName(id: "0123456789ab") == "c-0123456789ab")
        for bad in [
            "", "0123456789a", "0123456789AB", "../0123456789ab", "0123456789ab; delete table inet other",
            "0123456789ab\n", "0123456789ag", String(repeating: "a", count: 65),
        ] {
            #expect(throws: NetworkError.self) { try FirewallRules.chainName(id: bad) }
            #expect(throws: NetworkError.self) { try FirewallRules.removeContainer(id: bad) }
            var c = Self.containerA
            c.id = bad
            #expect(throws: NetworkError.self) { try FirewallRules.replaceContainer(c) }
        }
        for bad in ["", "berth\"0", "a b", "sixteen-chars-xx", "br/0", "..", "br0\n"] {
            #expect(throws: NetworkError.self) {
                try FirewallRules.table(network: Self.network(bridge: bad), containers: [])
            }
        }
        // Two containers whose ids share the first 12 digits would share a chain.
        var twin = Self.containerB
        twin.id = String(Self.idA.prefix(12)) + String(repeating: "d", count: 52)
        #expect(throws: NetworkError.self) {
            try FirewallRules.table(network: Self.network(), containers: [Self.containerA, twin])
        }
        let badMaps = [
            PortMap(hostPort: 0, containerPort: 80),
            PortMap(hostPort: 65535, containerPort: 80, count: 2),
            PortMap(hostPort: 80, containerPort: 65535, count: 2),
            PortMap(hostPort: 80, containerPort: 80, count: 0),
            PortMap(hostAddress: IPAddress("::1"), hostPort: 80, containerPort: 80),
        ]
        for map in badMaps {
            var c = Self.containerA
            c.maps = [map]
            #expect(throws: NetworkError.self) { try FirewallRules.replaceContainer(c) }
        }
        var v6 = Self.containerA
        v6.address = IPAddress("fd00::2")!
        #expect(throws: NetworkError.self) { try FirewallRules.replaceContainer(v6) }
        #expect(try IPv4Subnet("10.88.0.77/24").description == "10.88.0.0/24")
        #expect(throws: NetworkError.self) { try IPv4Subnet("10.88.0.0/33") }
        #expect(throws: NetworkError.self) { try IPv4Subnet("fd00::/64") }
    }

    /// What `list chains` prints on a host with iptables-nft's FORWARD set to drop (Docker's
    /// default) and an accepting inet filter: only the drop is reported, and never berth's own.
    @Test func foreignForwardChainsThatDropAreFound() {
        let listing = """
            table ip filter {
            \tchain FORWARD {
            \t\ttype filter hook forward priority filter; policy drop;
            \t}
            \tchain INPUT {
            \t\ttype filter hook input priority filter; policy drop;
            \t}
            }
            table inet filter {
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy accept;
            \t}
            }
            table inet berth {
            \tchain forward {
            \t\ttype filter hook forward priority filter; policy drop;
            \t}
            }
            """
        #expect(Firewall.forwardDrops(inListing: listing) == ["ip filter FORWARD"])
    }

    /// The sweep finds containers' chains in `list table` output by their c-X names only.
    @Test func containerChainsAreFoundInAListing() throws {
        let text = try FirewallRules.table(network: Self.network(), containers: [Self.containerA, Self.containerB])
        let ids = ContainerNetwork.containerChains(inListing: text.replacingOccurrences(of: "    ", with: "\t"))
        #expect(ids == [String(Self.containerA.id.prefix(12)), String(Self.containerB.id.prefix(12))])
    }

    @Test func scriptsNamingAnotherTableAreRefused() throws {
        try Firewall.checkOwnTableOnly(
            FirewallRules.table(network: Self.network(), containers: [Self.containerA, Self.containerB]))
        try Firewall.checkOwnTableOnly(FirewallRules.replaceContainer(Self.containerB))
        try Firewall.checkOwnTableOnly(FirewallRules.removeContainer(id: Self.idB))
        for bad in [
            "flush ruleset", "list ruleset", "delete table inet other", "add table ip berth",
            "add table inet berth; delete table inet other", "table inet other {\n}",
            "add rule inet other keep drop", "flush chain inet berthx c",
        ] {
            #expect(throws: NetworkError.self) { try Firewall.checkOwnTableOnly(bad) }
        }
    }

    // MARK: - Integration helpers

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// Runs a program (the nft and ip CLIs are allowed in tests, to set up and check from outside).
    @discardableResult
    static func run(_ args: [String], check: Bool = true, input: String? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: args[0])
        process.arguments = Array(args.dropFirst())
        let out = Pipe()
        let err = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input == nil ? FileHandle.nullDevice : stdin
        try process.run()
        if let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try stdin.fileHandleForWriting.close()
        }
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if check && process.terminationStatus != 0 {
            throw Failure(description: "\(args.joined(separator: " ")): status \(process.terminationStatus): \(errors)")
        }
        return output
    }

    @discardableResult
    static func nft(_ args: String...) throws -> String { try run(["/usr/sbin/nft"] + args) }

    /// `nft -j list table inet berth`: chain name -> its rules as "handle expr-json" strings, and the
    /// chains' own handles, so a test can tell which ones were replaced.
    static func listing() throws -> (rules: [String: [String]], chains: [String: Int]) {
        let json = try nft("-j", "list", "table", "inet", "berth")
        let top = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        let items = try #require(top?["nftables"] as? [[String: Any]])
        var rules: [String: [String]] = [:]
        var chains: [String: Int] = [:]
        for item in items {
            if let chain = item["chain"] as? [String: Any], let name = chain["name"] as? String {
                chains[name] = chain["handle"] as? Int
                rules[name, default: []] += []
            }
            if let rule = item["rule"] as? [String: Any], let chain = rule["chain"] as? String {
                let expr = try JSONSerialization.data(withJSONObject: rule["expr"] ?? [], options: .sortedKeys)
                rules[chain, default: []].append("\(rule["handle"] ?? "?") \(String(decoding: expr, as: UTF8.self))")
            }
        }
        return (rules, chains)
    }

    static func chainNames(_ id: String) -> [String] {
        let c = "c-" + id.prefix(12)
        return [c, c + "-prerouting", c + "-output"]
    }

    // MARK: - Integration: the table's life

    @Test(.integration) func tableAppliedReplacedRemovedAndOthersUntouched() throws {
        try Integration.check()
        try PrivateNetwork.run { try tableAppliedReplacedRemovedAndOthersUntouchedHere() }
    }

    /// The body of tableAppliedReplacedRemovedAndOthersUntouched, in a network namespace of its own.
    func tableAppliedReplacedRemovedAndOthersUntouchedHere() throws {
        // A foreign table, as Docker's or a firewall's would be: it must come out unchanged.
        try Self.nft("add table inet other; add chain inet other keep; add rule inet other keep counter accept")
        defer { _ = try? Self.nft("delete table inet other") }
        let other = try Self.nft("-a", "list", "table", "inet", "other")

        let firewall = try Firewall()
        defer { try? firewall.deleteTable() }
        let containers = [Self.containerA, Self.containerB]
        try firewall.apply(FirewallRules.table(network: Self.network(), containers: containers))
        let listed = try firewall.listTable()
        #expect(listed.contains("table inet berth {"))
        #expect(listed.contains("tcp dport 8080 dnat ip to 10.88.0.2:80"))
        #expect(listed.contains("ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.88.0.3:53"))
        #expect(listed.contains("iifname \"berth0\" ip daddr 127.0.0.0/8 drop"))

        let before = try Self.listing()
        let shared = ["filter-prerouting", "postrouting", "forward"]
        let expectedChains = Set(shared + Self.chainNames(Self.idA) + Self.chainNames(Self.idB))
        #expect(Set(before.chains.keys) == expectedChains)
        #expect(before.rules["c-0123456789ab"]?.count == 1)
        #expect(before.rules["c-fedcba987654"]?.count == 2)
        #expect(before.rules["postrouting"]?.count == 3)
        #expect(before.rules["forward"]?.count == 4)

        // Applying the whole table again replaces it, with nothing doubled.
        try firewall.apply(FirewallRules.table(network: Self.network(), containers: containers))
        #expect(try Self.listing().rules.mapValues(\.count) == before.rules.mapValues(\.count))
        let base = try Self.listing()

        // One container's maps changed: only its DNAT chain's rules are new; every other rule, A's
        // included, keeps its handle, and B's base chains stay the same chains.
        var changed = Self.containerB
        changed.maps = [PortMap(proto: .udp, hostAddress: IPAddress("127.0.0.1"), hostPort: 5353, containerPort: 54)]
        try firewall.apply(FirewallRules.replaceContainer(changed))
        let after = try Self.listing()
        #expect(after.chains == base.chains)
        for (chain, rules) in base.rules where chain != "c-fedcba987654" && !chain.hasPrefix("c-fedcba987654-") {
            #expect(after.rules[chain] == rules, "chain \(chain) changed")
        }
        #expect(after.rules["c-fedcba987654"]?.count == 1)
        #expect(after.rules["c-fedcba987654"] != base.rules["c-fedcba987654"])
        #expect(try firewall.listTable().contains("udp dport 5353 dnat ip to 10.88.0.3:54"))
        #expect(!(try firewall.listTable().contains("9000-9002")))

        // The time of one replaceContainer apply (generation included), median of 100.
        var times: [Duration] = []
        for i in 0..<100 {
            changed.maps[0].containerPort = UInt16(1000 + i)
            let start = ContinuousClock.now
            try firewall.apply(FirewallRules.replaceContainer(changed))
            times.append(ContinuousClock.now - start)
        }
        times.sort()
        print("FirewallTests: replaceContainer apply: median \(times[50]), max \(times[99]) over 100")
        #expect(try Self.listing().rules["c-fedcba987654"]?.count == 1)

        // A new container through replaceContainer: its chains appear, nothing else changes.
        let third = ContainerPorts(
            id: "abcdef012345" + String(repeating: "1", count: 52), address: IPAddress("10.88.0.4")!,
            maps: [PortMap(hostPort: 7000, containerPort: 70)])
        try firewall.apply(FirewallRules.replaceContainer(third))
        #expect(Set(try Self.listing().chains.keys) == expectedChains.union(Self.chainNames(third.id)))

        // Removed: its three chains are gone, the others keep their rules; removing again is a no-op.
        try firewall.apply(FirewallRules.removeContainer(id: Self.idB))
        try firewall.apply(FirewallRules.removeContainer(id: Self.idB))
        let removed = try Self.listing()
        let left = expectedChains.subtracting(Self.chainNames(Self.idB)).union(Self.chainNames(third.id))
        #expect(Set(removed.chains.keys) == left)
        #expect(removed.rules["c-0123456789ab"] == base.rules["c-0123456789ab"])

        // A bad script fails whole, with nft's message, and changes nothing.
        let unchanged = try Self.listing().rules
        #expect(throws: NetworkError.self) {
            try firewall.apply("add rule inet berth c-0123456789ab tcp dport 1 accept\nadd rule inet berth nosuch drop")
        }
        do {
            try firewall.apply("add rule inet berth nosuch drop")
        } catch {
            #expect(error.description.contains("nosuch") || error.description.contains("No such file"))
        }
        #expect(try Self.listing().rules == unchanged)
        #expect(throws: NetworkError.self) { try firewall.apply("delete table inet other") }

        try firewall.deleteTable()
        try firewall.deleteTable()
        let tables = try Self.nft("list", "tables")
        #expect(!tables.contains("inet berth"))
        #expect(tables.contains("table inet other"))
        #expect(throws: NetworkError.self) { try firewall.listTable() }
        #expect(try Self.nft("-a", "list", "table", "inet", "other") == other)
    }

    // MARK: - Integration: traffic through the table

    static let ip = "/usr/sbin/ip"

    /// A network namespace standing for a container: `unshare --net sleep 60` (exec'd, so the PID is
    /// sleep's), joined to the sandbox's namespace by a veth pair.
    final class Netns {
        let process = Process()
        var pid: Int32 { process.processIdentifier }
        let hostSide = "bt-h0"
        var children: [Process] = []

        init() throws {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
            process.arguments = ["--net", "/bin/sleep", "60"]
            try process.run()
            let ours = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
            let deadline = ContinuousClock.now + .seconds(5)
            while (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net")) == ours {
                guard ContinuousClock.now < deadline else { throw Failure(description: "unshare did not start") }
                usleep(10_000)
            }
            try run([ip, "link", "add", hostSide, "type", "veth", "peer", "name", "bt-c0"])
            try run([ip, "link", "set", "bt-c0", "netns", "\(pid)"])
            try run([ip, "addr", "add", "10.88.0.1/24", "dev", hostSide])
            try run([ip, "link", "set", hostSide, "up"])
            try inside([ip, "addr", "add", "10.88.0.2/24", "dev", "bt-c0"])
            try inside([ip, "link", "set", "bt-c0", "up"])
            try inside([ip, "link", "set", "lo", "up"])
            try inside([ip, "route", "add", "default", "via", "10.88.0.1"])
        }

        @discardableResult
        func inside(_ args: [String], check: Bool = true, input: String? = nil) throws -> String {
            try run(["/usr/bin/nsenter", "-t", "\(pid)", "-n"] + args, check: check, input: input)
        }

        /// A long-running child inside the namespace (nsenter execs it: its PID is the server's).
        func spawn(_ args: [String]) throws {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
            child.arguments = ["-t", "\(pid)", "-n"] + args
            child.standardOutput = FileHandle.nullDevice
            try child.run()
            children.append(child)
        }

        func close() {
            for child in children + [process] where child.isRunning {
                kill(child.processIdentifier, SIGKILL)
                child.waitUntilExit()
            }
            _ = try? run([ip, "link", "del", hostSide], check: false)
        }
    }

    /// An HTTP/1.0 GET over tcp; nil when the connection fails or times out.
    static func httpGet(_ host: String, _ port: UInt16) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        TestSockets.setTimeout(fd, seconds: 3)
        var a = TestSockets.address(host, port)
        let connected = withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET / HTTP/1.0\r\nHost: x\r\n\r\n".utf8)
        guard send(fd, request, request.count, 0) == request.count else { return nil }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// A udp client with one fixed source port, so every datagram belongs to the same conntrack entry.
    final class UDPClient {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        init() { TestSockets.setTimeout(fd, seconds: 2) }
        deinit { close(fd) }

        func ask(_ text: String, _ host: String, _ port: UInt16) -> String? {
            var a = TestSockets.address(host, port)
            let bytes = Array(text.utf8)
            let sent = withUnsafePointer(to: &a) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard sent == bytes.count else { return nil }
            var buffer = [UInt8](repeating: 0, count: 512)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
        }
    }

    /// udp servers inside a namespace, answering "PORT:payload": a thread of ours joins the
    /// namespace (setns changes only the calling thread) and serves sockets bound there.
    final class UDPEcho: Sendable {
        private let stopping = Atomic<Bool>(false)
        private let failure = Mutex<String?>(nil)
        private let ready = DispatchSemaphore(value: 0)
        private let done = DispatchSemaphore(value: 0)

        init(netnsOf pid: Int32, ports: [UInt16]) throws {
            let thread = Thread { [self] in serve(pid, ports) }
            thread.start()
            guard ready.wait(timeout: .now() + 5) == .success else { throw Failure(description: "udp echo hung") }
            if let failure = failure.withLock({ $0 }) { throw Failure(description: failure) }
        }

        /// Glibc declares setns only under _GNU_SOURCE, which Swift's Glibc module does not set.
        static let setns = unsafeBitCast(
            dlsym(nil, "setns"), to: (@convention(c) (Int32, Int32) -> Int32).self)

        private func serve(_ pid: Int32, _ ports: [UInt16]) {
            defer { done.signal() }
            let ns = open("/proc/\(pid)/ns/net", O_RDONLY)
            let cloneNewnet: Int32 = 0x4000_0000
            guard ns >= 0, Self.setns(ns, cloneNewnet) == 0 else {
                failure.withLock { $0 = "setns: errno \(errno)" }
                ready.signal()
                return
            }
            close(ns)
            var fds: [pollfd] = []
            for port in ports {
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var a = TestSockets.address("0.0.0.0", port)
                let bound = withUnsafePointer(to: &a) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                if bound != 0 { failure.withLock { $0 = "bind \(port): errno \(errno)" } }
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
            }
            ready.signal()
            defer { for p in fds { close(p.fd) } }
            while !stopping.load(ordering: .relaxed) {
                guard poll(&fds, nfds_t(fds.count), 100) > 0 else { continue }
                for (i, p) in fds.enumerated() where p.revents & Int16(POLLIN) != 0 {
                    var buffer = [UInt8](repeating: 0, count: 512)
                    var from = sockaddr_storage()
                    var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    let n = withUnsafeMutablePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(p.fd, &buffer, buffer.count, 0, $0, &length)
                        }
                    }
                    guard n > 0 else { continue }
                    let reply = Array("\(ports[i]):".utf8) + buffer[0..<n]
                    _ = withUnsafePointer(to: &from) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(p.fd, reply, reply.count, 0, $0, length)
                        }
                    }
                }
            }
        }

        func stop() {
            stopping.store(true, ordering: .relaxed)
            done.wait()
        }
    }

    /// Sets a sysctl of the sandbox's network namespace; returns the old value, nil if it cannot.
    static func setSysctl(_ path: String, _ value: String) -> String? {
        guard let old = try? String(contentsOfFile: path, encoding: .utf8),
            (try? value.write(toFile: path, atomically: false, encoding: .utf8)) != nil
        else { return nil }
        return old.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(.integration) func trafficThroughPublishedPortsAndAUDPMapChanged() throws {
        try Integration.check()
        try PrivateNetwork.run { try trafficThroughPublishedPortsAndAUDPMapChangedHere() }
    }

    /// The body of trafficThroughPublishedPortsAndAUDPMapChanged, in a network namespace of its own.
    func trafficThroughPublishedPortsAndAUDPMapChangedHere() throws {
        // net.* sysctls belong to the sandbox's own network namespace.
        let localnet = "/proc/sys/net/ipv4/conf/all/route_localnet"
        let forward = "/proc/sys/net/ipv4/ip_forward"
        guard let oldLocalnet = Self.setSysctl(localnet, "1"), let oldForward = Self.setSysctl(forward, "1") else {
            let reason = "FirewallTests: /proc/sys/net is read-only in this sandbox, traffic part skipped"
            if Integration.required { throw Failure(description: reason) }
            print(reason)
            return
        }
        defer {
            _ = Self.setSysctl(localnet, oldLocalnet)
            _ = Self.setSysctl(forward, oldForward)
        }
        try Self.run([Self.ip, "link", "set", "lo", "up"])

        let netns = try Netns()
        defer { netns.close() }
        let www = "/tmp/berth-firewall-tests-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: www) }
        try "hello-from-netns\n".write(toFile: www + "/index.html", atomically: true, encoding: .utf8)
        try netns.spawn(["/usr/bin/busybox", "httpd", "-f", "-p", "80", "-h", www])
        let echo = try UDPEcho(netnsOf: netns.pid, ports: [53, 54])
        defer { echo.stop() }
        let deadline = ContinuousClock.now + .seconds(5)
        while Self.httpGet("10.88.0.2", 80) == nil && ContinuousClock.now < deadline { usleep(20_000) }
        #expect(Self.httpGet("10.88.0.2", 80)?.contains("hello-from-netns") == true, "httpd is not up")

        let firewall = try Firewall()
        defer { try? firewall.deleteTable() }
        let network = try Self.network(bridge: netns.hostSide)
        var container = ContainerPorts(
            id: Self.idA, address: IPAddress("10.88.0.2")!,
            maps: [
                PortMap(proto: .tcp, hostAddress: IPAddress("127.0.0.1"), hostPort: 18080, containerPort: 80),
                PortMap(proto: .tcp, hostPort: 18081, containerPort: 80),
                PortMap(proto: .udp, hostAddress: IPAddress("127.0.0.1"), hostPort: 15353, containerPort: 53),
            ])
        // Before the table: nothing listens on the published ports.
        #expect(Self.httpGet("127.0.0.1", 18080) == nil)
        try firewall.apply(FirewallRules.table(network: network, containers: [container]))

        // From the host itself, through 127.0.0.1 (output hook, route_localnet, masquerade).
        #expect(Self.httpGet("127.0.0.1", 18080)?.contains("hello-from-netns") == true)
        // The 127.0.0.1 map is on 127.0.0.1 only: the bridge address does not answer on it.
        #expect(Self.httpGet("10.88.0.1", 18080) == nil)
        // The all-addresses map, from the host and hairpinned: the container reaching its own
        // published port through the host's address on the bridge.
        #expect(Self.httpGet("10.88.0.1", 18081)?.contains("hello-from-netns") == true)
        // (busybox nc: Debian's static busybox wget crashes here.)
        let hairpin = try netns.inside(
            ["/usr/bin/busybox", "nc", "-w", "3", "10.88.0.1", "18081"], check: false,
            input: "GET / HTTP/1.0\r\n\r\n")
        #expect(hairpin.contains("hello-from-netns"), "hairpin: \(hairpin)")

        // udp: the first datagram makes a conntrack entry with its NAT to port 53.
        let client = UDPClient()
        #expect(client.ask("one", "127.0.0.1", 15353) == "53:one")
        container.maps[2].containerPort = 54
        try firewall.apply(FirewallRules.replaceContainer(container))
        // The stale entry still sends the same flow to the old port: why the entries must go.
        #expect(client.ask("two", "127.0.0.1", 15353) == "53:two")
        let deleted = try Conntrack.deleteEntries(
            proto: .udp, destinationPort: 15353, count: 1, originalDestination: IPAddress("127.0.0.1"))
        #expect(deleted >= 1)
        #expect(client.ask("three", "127.0.0.1", 15353) == "54:three")
        // Nothing left to delete for that map, and another address matches nothing.
        #expect(
            try Conntrack.deleteEntries(
                proto: .udp, destinationPort: 15353, count: 1, originalDestination: IPAddress("127.0.0.2")) == 0)
        // The tcp path still answers after the udp change.
        #expect(Self.httpGet("127.0.0.1", 18080)?.contains("hello-from-netns") == true)

        try firewall.deleteTable()
        #expect(Self.httpGet("127.0.0.1", 18080) == nil)
    }
}
