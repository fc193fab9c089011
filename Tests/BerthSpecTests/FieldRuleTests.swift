import Testing

@testable import BerthSpec

@Suite struct PortShortFormTests {
    static func parse(_ text: String) -> PortMapping? {
        if case .success(let map) = PortMapping.parse(text) { return map }
        return nil
    }

    static func problem(_ text: String) -> String? {
        if case .failure(let problem) = PortMapping.parse(text) { return problem.description }
        return nil
    }

    @Test func validForms() {
        #expect(Self.parse("8080:80") == PortMapping(hostPort: 8080, containerPort: 80))
        #expect(
            Self.parse("127.0.0.1:8080:80/udp")
                == PortMapping(hostPort: 8080, containerPort: 80, proto: .udp, address: IPAddress("127.0.0.1")))
        #expect(
            Self.parse("[::1]:8080:80") == PortMapping(hostPort: 8080, containerPort: 80, address: IPAddress("::1")))
        #expect(Self.parse("8080:80/tcp")?.proto == .tcp)
        let range = Self.parse("8000-8010:9000-9010")
        #expect(range == PortMapping(hostPort: 8000, containerPort: 9000, count: 11))
        #expect(range?.hostPorts == 8000...8010)
        #expect(range?.containerPorts == 9000...9010)
    }

    @Test func invalidForms() {
        #expect(Self.problem("8000-8010:9000-9005") == "the host range has 11 ports but the container range has 6")
        #expect(Self.problem("8080:80/sctp") == "the protocol after '/' must be tcp or udp")
        #expect(Self.problem("80") == "berth needs the host port too: \"HOST:CONTAINER\", e.g. \"8080:80\"")
        #expect(Self.problem(":80")?.hasPrefix("invalid host port \"\"") == true)
        #expect(Self.problem("0:80")?.hasPrefix("invalid host port \"0\"") == true)
        #expect(Self.problem("65536:80")?.hasPrefix("invalid host port \"65536\"") == true)
        #expect(Self.problem("8080:x")?.hasPrefix("invalid container port \"x\"") == true)
        #expect(Self.problem("8010-8000:80")?.hasPrefix("invalid host port \"8010-8000\"") == true)
        #expect(
            Self.problem("::1:8080:80")
                == "expected \"[ADDRESS:]HOST:CONTAINER[/udp]\"; write IPv6 addresses in brackets")
        #expect(Self.problem("999.1.1.1:8080:80")?.hasPrefix("invalid IPv4 address \"999.1.1.1\"") == true)
        #expect(Self.problem("[127.0.0.1]:8080:80") == "invalid IPv6 address in brackets")
        #expect(Self.problem("[::1]8080:80")?.hasPrefix("an IPv6 address must be written in brackets") == true)
        #expect(Self.problem("[::1]:80") != nil)
        #expect(Self.problem("") != nil)
        #expect(Self.problem("+80:80") != nil)
        #expect(Self.problem("٨٠:80") != nil)
    }

    @Test func inASpec() {
        #expect(
            lines(#"{"image": "busybox", "ports": ["8080:80/sctp"]}"#) == [
                "/specs/web.json:1:32: ports[0]: invalid port mapping \"8080:80/sctp\": the protocol after '/' must be tcp or udp"
            ])
        #expect(
            lines(#"{"image": "busybox", "ports": [{"host": 65535, "container": 1, "count": 2}]}"#) == [
                "/specs/web.json:1:73: ports[0].count: the range runs past port 65535"
            ])
        #expect(
            lines(#"{"image": "busybox", "network": "host", "ports": ["80:80"]}"#).first?.contains(
                "ports are published only with \"network\": \"bridge\"") == true)
    }
}

@Suite struct QuantityTests {
    @Test func durations() {
        #expect(Quantity.duration("30s") == .seconds(30))
        #expect(Quantity.duration("1m30s") == .seconds(90))
        #expect(Quantity.duration("500ms") == .milliseconds(500))
        #expect(Quantity.duration("2h") == .seconds(7200))
        #expect(Quantity.duration("1.5s") == .milliseconds(1500))
        #expect(Quantity.duration("10us") == .microseconds(10))
        #expect(Quantity.duration("0") == .zero)
        for bad in ["", "30", "-1s", "1x", "s", "1m 30s", ".s", "1e3s", "9999999999999h"] {
            #expect(Quantity.duration(bad) == nil, "\(bad)")
        }
    }

    @Test func durationsInASpec() {
        #expect(lines(#"{"image": "busybox", "stopTimeout": 10}"#).isEmpty)
        #expect(validate(#"{"image": "busybox", "stopTimeout": 2.5}"#).spec?.stopTimeout == .milliseconds(2500))
        #expect(
            lines(#"{"image": "busybox", "stopTimeout": "10"}"#) == [
                "/specs/web.json:1:37: stopTimeout: invalid duration \"10\": expected a number of seconds or a string like \"30s\", \"1m30s\" or \"500ms\""
            ])
        #expect(
            lines(#"{"image": "busybox", "stopTimeout": -1}"#) == [
                "/specs/web.json:1:37: stopTimeout: a duration must be zero or more seconds"
            ])
        #expect(
            lines(#"{"image": "busybox", "stopTimeout": "25h"}"#) == [
                "/specs/web.json:1:37: stopTimeout: a stop timeout of more than a day is not supported"
            ])
        #expect(
            lines(#"{"image": "busybox", "healthcheck": {"test": "true", "interval": 0}}"#) == [
                "/specs/web.json:1:66: healthcheck.interval: must be at least 1ms"
            ])
    }

    @Test func sizes() {
        #expect(Quantity.bytes("256M") == 256 << 20)
        #expect(Quantity.bytes("1G") == 1 << 30)
        #expect(Quantity.bytes("1g") == 1 << 30)
        #expect(Quantity.bytes("1.5G") == 3 << 29)
        #expect(Quantity.bytes("512k") == 512 << 10)
        #expect(Quantity.bytes("512kb") == 512 << 10)
        #expect(Quantity.bytes("1GiB") == 1 << 30)
        #expect(Quantity.bytes("1024") == 1024)
        #expect(Quantity.bytes("2T") == 2 << 40)
        for bad in ["", "M", "-1M", "1X", "1e3", "1..5M", "99999999P", "½M"] {
            #expect(Quantity.bytes(bad) == nil, "\(bad)")
        }
    }

    @Test func sizesInASpec() {
        #expect(validate(#"{"image": "busybox", "resources": {"memory": "1G"}}"#).spec?.resources.memory == 1 << 30)
        #expect(
            lines(#"{"image": "busybox", "resources": {"memory": "1M"}}"#) == [
                "/specs/web.json:1:46: resources.memory: 1048576 bytes is too small: at least 6291456 bytes"
            ])
        #expect(
            lines(#"{"image": "busybox", "resources": {"memory": "lots"}}"#) == [
                "/specs/web.json:1:46: resources.memory: invalid size \"lots\": expected bytes, or a number with a unit such as \"256M\", \"1G\" or \"512k\""
            ])
        #expect(
            lines(#"{"image": "busybox", "resources": {"cpus": 0}}"#) == [
                "/specs/web.json:1:44: resources.cpus: 0.0 is out of range: more than 0 and at most 4096 CPUs"
            ])
    }
}

@Suite struct SignalTests {
    @Test func parsing() {
        #expect(Signal(parsing: "SIGTERM")?.number == 15)
        #expect(Signal(parsing: "term")?.number == 15)
        #expect(Signal(parsing: "15")?.number == 15)
        #expect(Signal(parsing: "SIGRTMIN")?.number == 34)
        #expect(Signal(parsing: "SIGRTMIN+3")?.number == 37)
        #expect(Signal(parsing: "RTMAX-1")?.number == 63)
        #expect(Signal(parsing: "SIGRTMIN+3")?.description == "SIGRTMIN+3")
        #expect(Signal(parsing: "sigquit")?.description == "SIGQUIT")
        for bad in ["", "SIGFOO", "0", "65", "-1", "SIGRTMIN+31", "SIGRTMIN-1", "RTMAX+1", "SIG"] {
            #expect(Signal(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func stopSignal() {
        #expect(validate(#"{"image": "busybox", "stopSignal": "SIGINT"}"#).spec?.stopSignal?.number == 2)
        #expect(
            lines(#"{"image": "busybox", "stopSignal": "SIGKILL"}"#) == [
                "/specs/web.json:1:36: stopSignal: SIGKILL cannot be caught, so it cannot be a stop signal (the container would get no chance to stop cleanly)"
            ])
        #expect(lines(#"{"image": "busybox", "stopSignal": 9}"#).count == 1)
        #expect(lines(#"{"image": "busybox", "stopSignal": "STOP"}"#).count == 1)
        #expect(
            lines(#"{"image": "busybox", "stopSignal": "SIGTREM"}"#).first?.contains("unknown signal \"SIGTREM\"")
                == true)
    }
}

@Suite struct ImageReferenceTests {
    static let digest = "sha256:" + String(repeating: "0123456789abcdef", count: 4)

    @Test(arguments: [
        "busybox", "docker.io/library/nginx:1.27", "localhost:5000/a/b:tag", "app@\(digest)",
        "ghcr.io/o/p:v1@\(digest)", "library/a_b.c-d__e", "registry.example.com:443/x",
    ])
    func valid(_ text: String) throws {
        let ref = try ImageReference(parsing: text)
        #expect(ref.description == text)
    }

    @Test func components() throws {
        let ref = try ImageReference(parsing: "localhost:5000/a/b:tag")
        #expect(ref.domain == "localhost:5000")
        #expect(ref.path == "a/b")
        #expect(ref.tag == "tag")
        let nginx = try ImageReference(parsing: "docker.io/library/nginx:1.27")
        #expect(nginx.domain == "docker.io" && nginx.path == "library/nginx" && nginx.tag == "1.27")
        let pinned = try ImageReference(parsing: "app@\(Self.digest)")
        #expect(pinned.domain == nil && pinned.path == "app" && pinned.tag == nil && pinned.digest == Self.digest)
    }

    @Test(arguments: [
        "UPPER", "a:", "a::b", "-x", "", "a//b", "a/", "a@sha256:abc", "a:-tag", "x y", "a..b",
        "a@md5:" + String(repeating: "0", count: 32), "bad_host:5000/x:1/y",
    ])
    func invalid(_ text: String) {
        #expect(throws: ImageReference.ParseError.self) { try ImageReference(parsing: text) }
    }

    @Test func inASpec() {
        #expect(
            lines(#"{"image": "UPPER"}"#) == [
                "/specs/web.json:1:11: image: invalid image reference \"UPPER\": invalid repository name 'UPPER': lowercase letters, digits and separators (., _, __, -) between them"
            ])
        #expect(
            lines(#"{"image": "a:"}"#) == [
                "/specs/web.json:1:11: image: invalid image reference \"a:\": invalid tag '': up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
            ])
    }
}

@Suite struct ShellWordsTests {
    @Test func splitting() throws {
        #expect(try ShellWords.split("") == [])
        #expect(try ShellWords.split("   ") == [])
        #expect(try ShellWords.split("a  b\tc\nd") == ["a", "b", "c", "d"])
        #expect(try ShellWords.split("sh -c 'echo $HOME; exit 1'") == ["sh", "-c", "echo $HOME; exit 1"])
        #expect(try ShellWords.split(#"echo "a \"b\" \$c \n""#) == ["echo", #"a "b" $c \n"#])
        #expect(try ShellWords.split(#"a\ b c\\d"#) == ["a b", #"c\d"#])
        #expect(try ShellWords.split("''") == [""])
        #expect(try ShellWords.split(#"x""y'z'"#) == ["xyz"])
        #expect(try ShellWords.split("héllo wörld 😀") == ["héllo", "wörld", "😀"])
    }

    @Test func unbalancedQuotes() {
        #expect(throws: ShellWords.UnbalancedQuote.self) { try ShellWords.split("echo 'a") }
        #expect(throws: ShellWords.UnbalancedQuote.self) { try ShellWords.split(#"echo "a"#) }
        #expect(throws: ShellWords.UnbalancedQuote.self) { try ShellWords.split(#"echo "a\"#) }
        #expect(
            lines(#"{"image": "busybox", "command": "sh -c 'oops"}"#) == [
                "/specs/web.json:1:33: command: unbalanced ' quote in the command line"
            ])
        #expect(
            lines(#"{"image": "busybox", "command": "  "}"#) == [
                "/specs/web.json:1:33: command: the command is empty; leave the key out to keep the image's command"
            ])
        #expect(validate(#"{"image": "busybox", "entrypoint": ""}"#).spec?.entrypoint == [])
    }
}

@Suite struct NameTests {
    @Test func rules() {
        for good in ["a", "web", "web-1", "a.b_c-d", "0abc", String(repeating: "a", count: 63)] {
            #expect(ContainerSpec.isValidName(good), "\(good)")
        }
        for bad in ["", "Web", "-web", ".web", "_web", "web!", "wéb", "a b", String(repeating: "a", count: 64)] {
            #expect(!ContainerSpec.isValidName(bad), "\(bad)")
        }
    }

    @Test func inASpec() {
        #expect(
            lines(#"{"name": "Web", "image": "busybox"}"#) == [
                "/specs/web.json:1:10: name: invalid container name \"Web\": 1 to 63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter or digit"
            ])
        #expect(
            lines(#"{"image": "busybox"}"#, file: "/specs/My App.json") == [
                "/specs/My App.json:1:1: $: the file name gives the container name \"My App\", which is not valid: 1 to 63 characters of a-z, 0-9, '_', '.' and '-', starting with a letter or digit; rename the file or set \"name\""
            ])
        #expect(validate(#"{"name": "web", "image": "busybox"}"#, file: "/specs/My App.json").spec?.name == "web")
        #expect(validate(#"{"image": "busybox"}"#, file: "/specs/db.json").spec?.name == "db")
    }
}

@Suite struct BerthLabelTests {
    /// `berth.autoupdate` is the one `berth.` label a spec may set, and only to "registry".
    @Test func autoupdateIsTheOneBerthLabel() {
        #expect(
            validate(#"{"image": "busybox", "labels": {"berth.autoupdate": "registry"}}"#).spec?.labels
                == ["berth.autoupdate": "registry"])
        #expect(
            lines(#"{"image": "busybox", "labels": {"berth.autoupdate": "local"}}"#) == [
                #"/specs/web.json:1:53: labels["berth.autoupdate"]: must be "registry""#
            ])
        #expect(
            lines(#"{"image": "busybox", "labels": {"berth.other": "x"}}"#) == [
                #"/specs/web.json:1:33: labels["berth.other"]: label keys starting with "berth." are reserved for berth itself"#
            ])
    }
}
