import BerthSpec
import Testing

@testable import BerthRuntime

/// What a container gets as /etc/resolv.conf: the host's, minus what it cannot reach.
@Suite struct ResolvConfTests {
    @Test func behindSystemdResolvedTheUpstreamServers() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n"
        let upstream = "nameserver 192.0.2.53\nsearch lan\n"
        #expect(Runtime.resolvConf(host: stub, resolved: upstream, network: .bridge) == upstream)
        // On the host's network the stub is reachable, so it stays.
        #expect(Runtime.resolvConf(host: stub, resolved: upstream, network: .host) == stub)
    }

    @Test func loopbackServersAreDroppedAndDockersFallbackFillsTheGap() {
        let mixed = "search example.org\nnameserver 127.0.0.1\nnameserver ::1\nnameserver 198.51.100.7\n"
        #expect(
            Runtime.resolvConf(host: mixed, resolved: nil, network: .bridge)
                == "search example.org\nnameserver 198.51.100.7\n")
        let onlyLocal = "nameserver 127.0.0.1\noptions ndots:2"
        #expect(
            Runtime.resolvConf(host: onlyLocal, resolved: nil, network: .bridge)
                == "options ndots:2\nnameserver 8.8.8.8\nnameserver 8.8.4.4\n")
        #expect(
            Runtime.resolvConf(host: "", resolved: nil, network: .none) == "nameserver 8.8.8.8\nnameserver 8.8.4.4\n")
    }
}
