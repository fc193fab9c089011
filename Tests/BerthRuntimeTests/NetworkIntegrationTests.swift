import BerthTestSupport
import Foundation
import Testing

/// The bridge network as a user drives it, inside the sandbox's own network namespace: a
/// container's address and route, published tcp and udp ports reached on 127.0.0.1, on the
/// bridge's address and from another host, ports changed on a running container, names between
/// containers, what a container must not reach, and what is left after removal.
@Suite(.serialized) struct NetworkIntegrationTests {
    @discardableResult
    static func berth(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
        try CLIIntegrationTests.berth(args)
    }

    static func sh(_ script: String) throws -> (status: Int32, out: String, err: String) {
        try Command.run("/bin/sh", ["-c", script])
    }

    /// An HTTP GET with curl from the host (the sandbox): the body, or nil.
    static func fetch(_ url: String) throws -> String? {
        let r = try Command.run("/usr/bin/curl", ["-s", "-f", "-m", "2", url])
        return r.status == 0 ? r.out : nil
    }

    /// A busybox root with httpd, nc and ip, a page to serve, and `udpecho PORT PREFIX` (a static
    /// C program: busybox has no udp server), which answers each datagram with PREFIX and it.
    static func rootfs() throws -> String {
        let dir = try RuntimeIntegrationTests.makeRootfs()
        for tool in ["httpd", "ip", "wget", "nc", "hostname", "timeout"] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/bin/" + tool, withDestinationPath: "busybox")
        }
        try FileManager.default.createDirectory(atPath: dir + "/www", withIntermediateDirectories: true)
        try "hello from the bridge\n".write(toFile: dir + "/www/index.html", atomically: true, encoding: .utf8)
        try udpEcho.write(toFile: dir + "/udpecho.c", atomically: true, encoding: .utf8)
        let cc = try Command.run("/usr/bin/cc", ["-static", "-O2", "-o", dir + "/bin/udpecho", dir + "/udpecho.c"])
        try #require(cc.status == 0, "cannot build udpecho: \(cc.err)")
        return dir
    }

    static let udpEcho = """
        #include <netinet/in.h>
        #include <stdlib.h>
        #include <string.h>
        #include <sys/socket.h>
        int main(int argc, char **argv) {
            if (argc != 3) return 2;
            int fd = socket(AF_INET, SOCK_DGRAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
            if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a)) return 1;
            char buf[2048];
            size_t n0 = strlen(argv[2]);
            memcpy(buf, argv[2], n0);
            for (;;) {
                struct sockaddr_in from;
                socklen_t len = sizeof from;
                ssize_t n = recvfrom(fd, buf + n0, sizeof buf - n0, 0, (struct sockaddr *)&from, &len);
                if (n >= 0) sendto(fd, buf, n0 + n, 0, (struct sockaddr *)&from, len);
            }
        }
        """

    /// httpd on 80, a tcp echo for one connection on 90, udp echoes on 5353 ("one:") and 5354
    /// ("two:").
    static let services = [
        "sh", "-c", "nc -l -p 90 -e cat & udpecho 5353 one: & udpecho 5354 two: & exec httpd -f -p 80 -h /www",
    ]

    static func pid(_ name: String) throws -> String {
        try berth(["inspect", "--format", "{{.State.Pid}}", name]).out
    }

    @Test(.integration) func aContainerOnTheBridgeHasItsAddressRouteAndName() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let name = RuntimeIntegrationTests.unique("net")
        let run = try Self.berth([
            "run", "--rm", "--rootfs", rootfs, "--name", name, "sh", "-c",
            "ip -4 -o addr show eth0; ip route; grep \(name) /etc/hosts; ip -o link show lo; ip -o link show eth0",
        ])
        #expect(run.status == 0, "\(run.err)")
        let lines = run.out.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("inet 10.77.") == true, "\(run.out)")
        #expect(lines.contains { $0.hasPrefix("default via 10.77.0.1 dev eth0") }, "\(run.out)")
        #expect(lines.contains { $0.hasPrefix("10.77.") && $0.hasSuffix(" \(name)") }, "\(run.out)")
        #expect(lines.contains { $0.contains(": lo:") && $0.contains("UP") }, "\(run.out)")
        // The MTU of the host's default route, or 1500 without one.
        #expect(lines.last?.contains("mtu ") == true, "\(run.out)")
        // --network none: loopback only, and up.
        let none = try Self.berth(["run", "--rm", "--network", "none", "--rootfs", rootfs, "ip", "-o", "link"])
        #expect(none.out.split(separator: "\n").count == 1 && none.out.contains("lo:") && none.out.contains("UP"))
        // An invalid map is refused with the text that was wrong.
        let bad = try Self.berth(["run", "--rm", "--rootfs", rootfs, "-p", "80:99999", "true"])
        #expect(bad.status == 125 && bad.err.contains("99999"), "\(bad.err)")
    }

    /// httpd through a published port: on 127.0.0.1, on the bridge's address, from another host
    /// (a second network namespace joined to the sandbox by a veth pair) and from the container
    /// itself through the host (hairpin).
    @Test(.integration) func aPublishedPortAnswersFromEverywhere() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let name = RuntimeIntegrationTests.unique("web")
        let started = try Self.berth(
            [
                "run", "-d", "--rootfs", rootfs, "--name", name, "-p", "127.0.0.1:18080:80", "-p", "18081:80",
            ] + Self.services)
        try #require(started.status == 0, "\(started.err)")
        defer { _ = try? Self.berth(["rm", "-f", name]) }
        #expect(try CLIIntegrationTests.waitUntil { try Self.fetch("http://127.0.0.1:18080/") != nil })
        #expect(try Self.fetch("http://127.0.0.1:18080/") == "hello from the bridge\n")
        #expect(try Self.fetch("http://10.77.0.1:18081/") == "hello from the bridge\n")
        // Bound to 127.0.0.1 only: not on the bridge's address.
        #expect(try Self.fetch("http://10.77.0.1:18080/") == nil)
        #expect(try Self.berth(["port", name]).out.contains("80/tcp -> 127.0.0.1:18080"))

        // Hairpin: the container reaches its own published port through the host's address.
        let hairpin = try Self.berth(["exec", name, "timeout", "3", "wget", "-q", "-O", "-", "http://10.77.0.1:18081/"])
        #expect(hairpin.out == "hello from the bridge\n", "\(hairpin.err)")

        // Another host: a network namespace with 192.0.2.2, the sandbox being 192.0.2.1.
        let peer = "bt-peer-\(UInt16.random(in: 0...UInt16.max))"
        let setup = try Self.sh(
            """
            set -e
            ip netns add \(peer)
            ip link add bt-h type veth peer name bt-p netns \(peer)
            ip addr add 192.0.2.1/24 dev bt-h
            ip link set bt-h up
            ip -n \(peer) addr add 192.0.2.2/24 dev bt-p
            ip -n \(peer) link set bt-p up
            ip -n \(peer) link set lo up
            """)
        defer { _ = try? Self.sh("ip netns del \(peer)") }
        try #require(setup.status == 0, "\(setup.err)")
        let remote = try Self.sh("ip netns exec \(peer) curl -s -f -m 2 http://192.0.2.1:18081/")
        #expect(remote.out == "hello from the bridge\n", "\(remote.err)")
        let loopbackOnly = try Self.sh("ip netns exec \(peer) curl -s -f -m 2 http://192.0.2.1:18080/")
        #expect(loopbackOnly.status != 0, "a 127.0.0.1 map answered another host")
    }

    /// A udp echo through a udp map, then the map changed to another container port: the same
    /// client socket (one conntrack entry) reaches the new port, so no stale entry kept the old
    /// path.
    @Test(.integration) func aUdpMapChangedTakesTheNewPath() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let name = RuntimeIntegrationTests.unique("udp")
        let started = try Self.berth(
            ["run", "-d", "--rootfs", rootfs, "--name", name, "-p", "127.0.0.1:18053:5353/udp"] + Self.services)
        try #require(started.status == 0, "\(started.err)")
        defer { _ = try? Self.berth(["rm", "-f", name]) }
        let client = try UDPSocket()
        #expect(try CLIIntegrationTests.waitUntil { client.exchange("a", "127.0.0.1", 18053) == "one:a" })
        #expect(client.exchange("b", "127.0.0.1", 18053) == "one:b")
        #expect(try Self.berth(["port", "rm", name, "127.0.0.1:18053:5353/udp"]).status == 0)
        #expect(try Self.berth(["port", "add", name, "127.0.0.1:18053:5354/udp"]).status == 0)
        #expect(client.exchange("c", "127.0.0.1", 18053) == "two:c")
        #expect(client.exchange("d", "127.0.0.1", 18053) == "two:d")
    }

    /// A map changed on a running container: the old port stops answering, the new one answers,
    /// the PID is the same, and a tcp connection held open on an unchanged port survives.
    @Test(.integration) func portsChangeOnARunningContainer() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let name = RuntimeIntegrationTests.unique("move")
        let started = try Self.berth(
            ["run", "-d", "--rootfs", rootfs, "--name", name, "-p", "127.0.0.1:18180:80", "-p", "127.0.0.1:18192:90"]
                + Self.services)
        try #require(started.status == 0, "\(started.err)")
        defer { _ = try? Self.berth(["rm", "-f", name]) }
        #expect(try CLIIntegrationTests.waitUntil { try Self.fetch("http://127.0.0.1:18180/") != nil })
        var held: TCPConnection?
        #expect(
            try CLIIntegrationTests.waitUntil {
                held = try? TCPConnection("127.0.0.1", 18192)
                return held?.exchange("before\n") == "before\n"
            })
        let pid = try Self.pid(name)

        #expect(try Self.berth(["port", "rm", name, "127.0.0.1:18180:80"]).status == 0)
        #expect(try Self.berth(["port", "add", name, "127.0.0.1:18190:80"]).status == 0)
        #expect(try Self.fetch("http://127.0.0.1:18190/") == "hello from the bridge\n")
        #expect(try Self.fetch("http://127.0.0.1:18180/") == nil)
        #expect(try Self.pid(name) == pid)
        #expect(held?.exchange("after\n") == "after\n", "the held connection did not survive")
        let listed = try Self.berth(["port", name]).out
        #expect(listed == "90/tcp -> 127.0.0.1:18192\n80/tcp -> 127.0.0.1:18190\n", "\(listed)")
        // Refused, and nothing changed: a map that overlaps one of its own, or another container's.
        let clash = try Self.berth(["port", "add", name, "18190:81"])
        #expect(clash.status != 0 && clash.err.contains("overlap"), "\(clash.err)")
        #expect(try Self.fetch("http://127.0.0.1:18190/") == "hello from the bridge\n")
    }

    /// 100 re-applies of a changing map while a client connects in a loop to a port that does not
    /// change: not one of its connections fails.
    @Test(.integration) func reapplyingDoesNotDisturbUnchangedPorts() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let name = RuntimeIntegrationTests.unique("loop")
        let started = try Self.berth(
            ["run", "-d", "--rootfs", rootfs, "--name", name, "-p", "127.0.0.1:18280:80"] + Self.services)
        try #require(started.status == 0, "\(started.err)")
        defer { _ = try? Self.berth(["rm", "-f", name]) }
        #expect(try CLIIntegrationTests.waitUntil { try Self.fetch("http://127.0.0.1:18280/") != nil })
        let log = CLIIntegrationTests.root + "/loop-\(name).log"
        let client = try ChildProcess([
            "/bin/sh", "-c",
            "while :; do curl -s -o /dev/null -m 2 -w '%{http_code}\\n' http://127.0.0.1:18280/ >> \(log); done",
        ])
        defer {
            kill(client.pid, SIGKILL)
            _ = client.wait()
        }
        for round in 0..<50 {
            let add = try Self.berth(["port", "add", name, "127.0.0.1:\(18300 + round % 5):80"])
            #expect(add.status == 0, "\(add.err)")
            let rm = try Self.berth(["port", "rm", name, "127.0.0.1:\(18300 + round % 5):80"])
            #expect(rm.status == 0, "\(rm.err)")
        }
        kill(client.pid, SIGKILL)
        _ = client.wait()
        let codes = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(codes.count >= 20, "too few connections to tell: \(codes.count)")
        // The last line may have been cut short by the kill.
        let failed = codes.dropLast().filter { $0 != "200" }
        #expect(failed.isEmpty, "\(failed.count) of \(codes.count) connections failed: \(failed.prefix(5))")
    }

    /// route_localnet lets 127.0.0.1 maps work, so the table drops what comes from the bridge to
    /// 127.0.0.0/8: even a container that may change its routes cannot reach the host's loopback.
    @Test(.integration) func aContainerCannotReachTheHostsLoopback() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let listener = try TCPListener("127.0.0.1", 18999)
        let run = try Self.berth([
            "run", "--rm", "--cap-add", "NET_ADMIN", "--rootfs", rootfs, "sh", "-c",
            // Send 127.0.0.1 out of eth0 to the host, as a hostile container could.
            "ip link set lo down; ip route del local 127.0.0.0/8 dev lo table local;"
                + " ip route del local 127.0.0.1 dev lo table local; ip route add 127.0.0.0/8 via 10.77.0.1 dev eth0;"
                + " ip route get 127.0.0.1; echo x | nc -w 2 127.0.0.1 18999 && echo reached || echo refused",
        ])
        #expect(run.out.contains("via 10.77.0.1 dev eth0"), "the packets did not go to the host: \(run.out)\(run.err)")
        #expect(run.out.hasSuffix("refused\n"), "\(run.out)\(run.err)")
        #expect(!listener.wasReached, "a container reached a service bound to the host's 127.0.0.1")
    }

    /// Two containers reach each other by name; each one's /etc/hosts follows as peers come and go.
    @Test(.integration) func containersReachEachOtherByName() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let server = RuntimeIntegrationTests.unique("alpha")
        let client = RuntimeIntegrationTests.unique("beta")
        try #require(try Self.berth(["run", "-d", "--rootfs", rootfs, "--name", server] + Self.services).status == 0)
        defer { _ = try? Self.berth(["rm", "-f", server]) }
        try #require(try Self.berth(["run", "-d", "--rootfs", rootfs, "--name", client, "sleep", "600"]).status == 0)
        defer { _ = try? Self.berth(["rm", "-f", client]) }
        var got = ""
        #expect(
            try CLIIntegrationTests.waitUntil {
                got = try Self.berth(["exec", client, "timeout", "3", "wget", "-q", "-O", "-", "http://\(server)/"]).out
                return got == "hello from the bridge\n"
            }, "\(got)")
        // The server learnt of the client, created after it, in the file it already had mounted.
        #expect(try Self.berth(["exec", server, "grep", "-c", client, "/etc/hosts"]).out == "1\n")
        #expect(try Self.berth(["rm", "-f", client]).status == 0)
        #expect(try Self.berth(["exec", server, "grep", "-c", client, "/etc/hosts"]).out == "0\n")
    }

    /// In a network namespace of its own, so other suites' containers do not count: after a
    /// container with ports, and a --rm one its supervisor removed, only the empty table and the
    /// bridge are left.
    @Test(.integration) func removalLeavesOnlyTheTableAndTheBridge() throws {
        try Integration.check()
        let rootfs = try Self.rootfs()
        let netns = "bt-clean-\(UInt16.random(in: 0...UInt16.max))"
        try #require(try Self.sh("ip netns add \(netns)").status == 0)
        defer { _ = try? Self.sh("ip netns del \(netns)") }
        func inside(_ args: [String]) throws -> (status: Int32, out: String, err: String) {
            try Command.run(
                "/usr/bin/env",
                ["ip", "netns", "exec", netns, "env", "BERTH_ROOT=\(CLIIntegrationTests.root)"] + args)
        }
        // A foreign firewall whose forward chain drops by default: reported, and left as it was.
        let foreign =
            "add table ip filter; add chain ip filter FORWARD { type filter hook forward priority 0; policy drop; }"
        try #require(try inside(["nft", foreign]).status == 0)
        let name = RuntimeIntegrationTests.unique("clean")
        let started = try inside(
            [
                CLIIntegrationTests.berth, "run", "-d", "--rootfs", rootfs, "--name", name, "-p", "18480:80", "-p",
                "18481:5353/udp",
            ] + Self.services)
        try #require(started.status == 0, "\(started.err)")
        #expect(
            started.err.contains("the chain ip filter FORWARD drops forwarded traffic by default"), "\(started.err)")
        #expect(try inside(["nft", "list", "chain", "ip", "filter", "FORWARD"]).out.contains("policy drop;"))
        #expect(try inside(["sysctl", "-n", "net.ipv4.ip_forward"]).out == "1\n")
        try #require(try inside(["nft", "delete table ip filter"]).status == 0)
        let once = try inside(
            [CLIIntegrationTests.berth, "run", "--rm", "--rootfs", rootfs, "-p", "18482:80", "echo", "once"])
        #expect(once.status == 0, "\(once.err)")
        let during = try inside(["nft", "list", "table", "inet", "berth"]).out
        #expect(during.contains("dport 18480") && !during.contains("18482"), "\(during)")
        #expect(try inside([CLIIntegrationTests.berth, "rm", "-f", name]).status == 0)

        let ruleset = try inside(["nft", "list", "ruleset"]).out
        let chains = ruleset.split(separator: "\n").filter { $0.contains("chain ") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        #expect(
            chains == ["chain filter-prerouting {", "chain postrouting {", "chain forward {"], "\(ruleset)")
        #expect(ruleset.hasPrefix("table inet berth {") && !ruleset.contains("dnat ip to"), "\(ruleset)")
        let links = try inside(["ip", "-o", "link"]).out.split(separator: "\n").map {
            $0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)
        }
        #expect(links == ["lo", "berth0"], "\(links)")
    }
}
