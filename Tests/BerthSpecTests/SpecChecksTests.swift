import Testing

@testable import BerthSpec

/// Checks across specs: each conflict names both files.
@Suite struct SpecChecksTests {
    /// Loads specs written as NAME -> JSON into a temporary spec directory.
    static func load(_ specs: [String: String]) throws -> (SpecSet, String) {
        let t = try TempDir()
        for (name, text) in specs { try t.write("d/\(name).json", text) }
        let set = SpecLoader.load(directories: [t.path + "/d"])
        t.cleanup()
        return (set, t.path + "/d")
    }

    static func ports(_ a: String, _ b: String) throws -> [String] {
        let (set, dir) = try load([
            "a": "{\"image\": \"busybox\", \"ports\": [\"\(a)\"]}",
            "b": "{\"image\": \"busybox\", \"ports\": [\"\(b)\"]}",
        ])
        return set.diagnostics.map { $0.description.replacingOccurrences(of: dir + "/", with: "") }
    }

    @Test func sameNameInTwoSpecs() throws {
        let (set, dir) = try Self.load([
            "a": "{\n  \"name\": \"web\",\n  \"image\": \"busybox\"\n}", "b": #"{"image": "busybox", "name": "web"}"#,
        ])
        #expect(
            set.diagnostics.map(\.description) == [
                "\(dir)/a.json:2:11: name: the container name \"web\" is also declared by \(dir)/b.json:1:30",
                "\(dir)/b.json:1:30: name: the container name \"web\" is also declared by \(dir)/a.json:2:11",
            ])
        // A file name and a "name" that collide.
        let (second, dir2) = try Self.load([
            "web": #"{"image": "busybox"}"#, "b": #"{"image": "busybox", "name": "web"}"#,
        ])
        #expect(second.diagnostics.count == 2)
        #expect(second.diagnostics.allSatisfy { $0.message.contains(dir2) })
    }

    @Test func sameHostPort() throws {
        #expect(
            try Self.ports("8080:80", "8080:81") == [
                "b.json:1:32: ports[0]: host port 8080/tcp is already published by \"a\" at a.json:1:32 (ports[0]): 8080/tcp"
            ])
    }

    @Test func conflictsAndNonConflicts() throws {
        // 0.0.0.0 overlaps every address; so does leaving the address out.
        #expect(try Self.ports("0.0.0.0:8080:80", "127.0.0.1:8080:80").count == 1)
        #expect(try Self.ports("127.0.0.1:8080:80", "8080:80").count == 1)
        #expect(try Self.ports("[::]:8080:80", "[::1]:8080:80").count == 1)
        // A range overlaps each port in it.
        #expect(try Self.ports("8000-8010:9000-9010", "8005:80").count == 1)
        #expect(try Self.ports("8000-8010:9000-9010", "8010:80").count == 1)
        #expect(try Self.ports("8000-8010:9000-9010", "8011:80") == [])
        #expect(try Self.ports("8000-8010:9000-9010", "7990-8000:9000-9010").count == 1)
        // udp and tcp do not conflict; nor do two different specific addresses.
        #expect(try Self.ports("53:53/udp", "53:53") == [])
        #expect(try Self.ports("127.0.0.1:8080:80", "127.0.0.2:8080:80") == [])
        #expect(try Self.ports("[::1]:8080:80", "127.0.0.1:8080:80") == [])
        let message = try Self.ports("0.0.0.0:8080:80/udp", "127.0.0.1:8080:80/udp").first ?? ""
        #expect(
            message.hasPrefix("b.json:1:32: ports[0]: host port 127.0.0.1:8080/udp is already published by \"a\" at "))
        #expect(message.hasSuffix("a.json:1:32 (ports[0]): 0.0.0.0:8080/udp"))
    }

    @Test func portConflictInsideOneSpec() {
        #expect(
            lines(#"{"image": "busybox", "ports": ["8080:80", {"host": 8080, "container": 81}]}"#) == [
                "/specs/web.json:1:43: ports[1]: host port 8080/tcp is already published by ports[0] (line 1)"
            ])
    }

    @Test func dependencyOnAMissingSpec() throws {
        let (set, dir) = try Self.load([
            "web": #"{"image": "busybox", "dependsOn": ["dbb", "cache"]}"#, "db": #"{"image": "busybox"}"#,
            "cache": #"{"image": 1}"#,
        ])
        // "cache" has an error of its own, but exists: only "dbb" is missing.
        #expect(
            set.diagnostics.map(\.description) == [
                "\(dir)/cache.json:1:11: image: expected a string, found a number",
                "\(dir)/web.json:1:36: dependsOn[0]: depends on \"dbb\", but no spec declares it; did you mean \"db\"?",
            ])
    }

    @Test func dependencyCycle() throws {
        let (set, dir) = try Self.load([
            "a": #"{"image": "busybox", "dependsOn": ["b"]}"#, "b": #"{"image": "busybox", "dependsOn": ["c"]}"#,
            "c": #"{"image": "busybox", "dependsOn": [{"name": "a", "condition": "healthy"}]}"#,
            "d": #"{"image": "busybox", "dependsOn": ["a"]}"#,
        ])
        #expect(
            set.diagnostics.map(\.description) == [
                "\(dir)/c.json:1:36: dependsOn[0]: dependency cycle: a → b → c → a"
                    + " (a at \(dir)/a.json:1:36, b at \(dir)/b.json:1:36)"
            ])
        #expect(SpecChecks.dependencyCycles(set.specs).map(\.names) == [["a", "b", "c"]])
        #expect(
            lines(#"{"image": "busybox", "dependsOn": ["web"]}"#) == [
                "/specs/web.json:1:36: dependsOn[0]: a container cannot depend on itself"
            ])
    }

    @Test func validSetHasNoDiagnostics() throws {
        let (set, _) = try Self.load([
            "web": Samples.web, "db": Samples.db, "worker": Samples.worker, "cache": Samples.minimal,
        ])
        #expect(set.diagnostics.map(\.description) == [])
        #expect(set.specs.map(\.spec.name).sorted() == ["cache", "db", "web", "worker"])
    }
}
