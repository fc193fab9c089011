import Foundation
import Testing

@testable import BerthSpec

@Suite struct SpecFilesTests {
    @Test func searchPath() {
        let defaults = SpecFiles.defaultDirectories
        #expect(defaults == ["/etc/berth/containers.d", "/run/berth/containers.d", "/usr/lib/berth/containers.d"])
        #expect(SpecFiles.searchPath(cliDirectories: [], environment: [:]) == defaults)
        #expect(SpecFiles.searchPath(cliDirectories: [], environment: ["BERTH_SPEC_PATH": ""]) == defaults)
        #expect(SpecFiles.searchPath(cliDirectories: [], environment: ["BERTH_SPEC_PATH": "/a:/b"]) == ["/a", "/b"])
        #expect(SpecFiles.searchPath(cliDirectories: [], environment: ["BERTH_SPEC_PATH": "/a"]) == ["/a"])
        // A trailing colon appends the defaults, as SYSTEMD_UNIT_PATH does.
        #expect(
            SpecFiles.searchPath(cliDirectories: [], environment: ["BERTH_SPEC_PATH": "/a:/b:"]) == ["/a", "/b"]
                + defaults)
        #expect(SpecFiles.searchPath(cliDirectories: [], environment: ["BERTH_SPEC_PATH": ":"]) == defaults)
        // --spec-dir wins over the environment.
        #expect(
            SpecFiles.searchPath(cliDirectories: ["/x", "/y"], environment: ["BERTH_SPEC_PATH": "/a:"]) == ["/x", "/y"])
    }

    @Test func ignoredNames() {
        for name in [".web.json", "web.json~", ".#web.json", "web.json.swp", ".web.json.swp", "#web.json#"] {
            #expect(SpecFiles.isIgnored(name), "\(name)")
        }
        for name in ["web.json", "a-b.c.json", "10-port.json"] {
            #expect(!SpecFiles.isIgnored(name), "\(name)")
        }
    }

    @Test func earlierDirectoryMasksLater() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let etc = try t.write("etc/web.json", #"{"image": "nginx"}"#)
        try t.write("usr/web.json", #"{"image": "httpd"}"#)
        let db = try t.write("usr/db.json", #"{"image": "postgres"}"#)
        let found = SpecFiles.discover(in: [t.path + "/etc", t.path + "/run-missing", t.path + "/usr"])
        #expect(found.files.map(\.path) == [db, etc])
        #expect(found.diagnostics.isEmpty)
        let set = SpecLoader.load(directories: [t.path + "/etc", t.path + "/usr"])
        #expect(set.diagnostics.isEmpty)
        #expect(set.specs.first { $0.spec.name == "web" }?.spec.image?.description == "nginx")
    }

    @Test func symlinkToDevNullMasks() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try t.symlink("etc/web.json", to: "/dev/null")
        try t.write("usr/web.json", #"{"image": "httpd"}"#)
        try t.write("usr/web.json.d/10-env.json", #"{"env": {"A": "1"}}"#)
        try t.write("usr/db.json", #"{"image": "postgres"}"#)
        let found = SpecFiles.discover(in: [t.path + "/etc", t.path + "/usr"])
        #expect(found.files.map(\.stem) == ["db"])
        #expect(found.masked == ["web": t.path + "/etc/web.json"])
        #expect(found.diagnostics.isEmpty)
    }

    @Test func dropInsFromAllDirectoriesInLexicalOrder() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let etc = t.path + "/etc"
        let usr = t.path + "/usr"
        let main = try t.write("usr/web.json", #"{"image": "nginx", "env": {"A": "main", "B": "main", "C": "main"}}"#)
        let a = try t.write("usr/web.json.d/10-a.json", #"{"env": {"A": "10-a"}}"#)
        try t.write("usr/web.json.d/20-b.json", #"{"env": {"B": "usr 20-b"}}"#)
        let b = try t.write("etc/web.json.d/20-b.json", #"{"env": {"B": "etc 20-b"}}"#)
        let c = try t.write("usr/web.json.d/30-c.json", #"{"env": {"C": "30-c", "A": "30-c"}}"#)
        try t.write("run/web.json.d/40-masked.json", #"{"env": {"C": "40"}}"#)
        try t.symlink("etc/web.json.d/40-masked.json", to: "/dev/null")
        // Not drop-ins: ignored.
        try t.write("usr/web.json.d/50-notes.txt", "{")
        try t.write("usr/web.json.d/.60-hidden.json", "{")
        try t.write("usr/web.json.d/70.json~", "{")
        try t.write("usr/web.json.d/.#80.json", "{")
        try t.write("usr/web.json.d/90.json.swp", "{")
        let found = SpecFiles.discover(in: [etc, t.path + "/run", usr])
        #expect(found.files.count == 1)
        #expect(found.files.first?.path == main)
        #expect(found.files.first?.dropIns == [a, b, c])
        let set = SpecLoader.load(directories: [etc, t.path + "/run", usr])
        #expect(set.diagnostics.map(\.description) == [])
        #expect(set.specs.first?.spec.env == ["A": "30-c", "B": "etc 20-b", "C": "30-c"])
    }

    @Test func ignoredFilesInSpecDirectories() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let web = try t.write("d/web.json", #"{"image": "nginx"}"#)
        for junk in ["README.md", "web.json~", ".web.json", ".#web.json", "web.json.swp", "db.yaml", "x.json.bak"] {
            try t.write("d/" + junk, "not json {")
        }
        let found = SpecFiles.discover(in: [t.path + "/d"])
        #expect(found.files.map(\.path) == [web])
        #expect(SpecLoader.load(directories: [t.path + "/d"]).diagnostics.isEmpty)
    }

    @Test func dropInWithoutMainAndDirectoryNamedJSON() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let orphan = try t.write("d/ghost.json.d/10.json", #"{"image": "x"}"#)
        let dir = try t.mkdir("d/odd.json")
        let found = SpecFiles.discover(in: [t.path + "/d"])
        #expect(found.files.isEmpty)
        #expect(found.diagnostics.allSatisfy { $0.severity == .warning })
        #expect(
            Set(found.diagnostics.map(\.description)) == [
                "\(orphan):1:1: $: warning: a drop-in for \"ghost\", but no ghost.json exists in any spec directory; ignored",
                "\(dir):1:1: $: warning: is a directory, not a spec file; ignored",
            ])
    }

    @Test func valueFromDropInIsLocatedInTheDropIn() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try t.write("d/web.json", "{\n  \"image\": \"nginx\",\n  \"tty\": false\n}\n")
        let dropIn = try t.write("d/web.json.d/10-override.json", "{\n  \"tty\": \"yes\",\n  \"ports\": [\"80\"]\n}\n")
        let set = SpecLoader.load(directories: [t.path + "/d"])
        #expect(
            set.diagnostics.map(\.description) == [
                "\(dropIn):2:10: tty: expected true or false, found a string",
                "\(dropIn):3:13: ports[0]: invalid port mapping \"80\": berth needs the host port too: \"HOST:CONTAINER\", e.g. \"8080:80\"",
            ])
        #expect(set.specs.isEmpty)
    }

    @Test func brokenDropInAndBrokenMainAreBothReported() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        let main = try t.write("d/web.json", "{\"image\": \"nginx\",}")
        let dropIn = try t.write("d/web.json.d/10.json", "[1]")
        let set = SpecLoader.load(directories: [t.path + "/d"])
        #expect(
            set.diagnostics.map(\.description) == [
                "\(main):1:19: $: trailing comma before '}' is not allowed",
                "\(dropIn):1:1: $: expected a drop-in to be a JSON object (a merge patch), found an array",
            ])
    }

    @Test func nullInDropInRemovesAField() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try t.write("d/web.json", #"{"image": "nginx", "build": {"context": "/nowhere", "file": "../x"}}"#)
        try t.write("d/web.json.d/10.json", #"{"build": null}"#)
        let set = SpecLoader.load(directories: [t.path + "/d"])
        #expect(set.diagnostics.isEmpty)
        #expect(set.specs.first?.spec.build == nil)
    }

    @Test func relativePathsResolveAgainstTheSpecFolder() throws {
        let t = try TempDir()
        defer { t.cleanup() }
        try t.write("d/web.json", #"{"build": "./ctx", "envFile": "web.env"}"#)
        try t.write("d/web.json.d/10.json", #"{"security": {"seccomp": "profiles/web.json"}}"#)
        let set = SpecLoader.load(directories: [t.path + "/d"])
        #expect(set.diagnostics.isEmpty)
        let spec = try #require(set.specs.first?.spec)
        #expect(spec.build?.context == t.path + "/d/ctx")
        #expect(spec.envFile == [t.path + "/d/web.env"])
        #expect(spec.security.seccomp == .profile(t.path + "/d/profiles/web.json"))
    }
}
