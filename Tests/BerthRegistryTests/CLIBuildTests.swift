import BerthSystemd
import BerthTestSupport
import Foundation
import Testing

@testable import BerthStore

/// `berth build` as a user drives it, in the sandbox: a multi-stage build exercising every
/// instruction, checked in the image's config and in its filesystem (by running it); the cache,
/// watched from outside over sd-bus; a changed file; the result pushed and run by podman.
@Suite(.serialized) struct CLIBuildTests {
    static let berth = CLIRegistryTests.berth

    static func berth(_ root: String, _ args: [String], in directory: String? = nil) throws -> (
        status: Int32, out: String, err: String
    ) {
        try Command.run(berth, ["--root", root] + args)
    }

    /// A store with `base:1`: busybox with its applets linked into /bin, built by berth itself
    /// from the one-layer image the registry tests use.
    static func storeWithBase() throws -> (root: String, context: String) {
        let root = try makeTemporaryDirectory("berth-build")
        try CLIRegistryTests.makeRunnableImage(root: root, name: "docker.io/library/busybox-bare:1")
        let context = try makeTemporaryDirectory("berth-context")
        try write(
            context + "/Containerfile", "FROM busybox-bare:1\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
        )
        let built = try berth(root, ["build", "-t", "base:1", context])
        try #require(built.status == 0, "\(built.out)\(built.err)")
        return (root, context)
    }

    static func write(_ path: String, _ text: String, mode: Int = 0o644) throws {
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, mode_t(mode))
    }

    static let containerfile = #"""
        # escape=\
        ARG BASE=base:1
        FROM ${BASE} AS builder
        ARG GREETING=hello
        ENV OUT=/out \
            NAME="berth build"
        WORKDIR /work
        # a comment inside the stage
        RUN echo "$GREETING from $NAME" > greeting && mkdir -p $OUT && cp greeting $OUT/ && rm /bin/zcat
        COPY --chown=1000:1000 --chmod=640 app/ /src/
        ADD archive.tar.gz /unpacked/
        RUN ["/bin/sh", "-c", "ls /src > $OUT/listing"]

        FROM base:1
        COPY --from=builder /out/ /result/
        COPY app/hello.txt app/sub/*.txt /files/
        COPY notes.txt /files/
        RUN cat /files/notes.txt > /files/copy.txt
        SHELL ["/bin/sh", "-c"]
        USER 1000:1000
        LABEL org.example.name="test image" version=1
        EXPOSE 8080 53/udp
        VOLUME /data
        STOPSIGNAL SIGINT
        HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD wget -q -O- http://localhost/ || exit 1
        ENTRYPOINT ["/bin/sh", "-c"]
        CMD ["cat /result/greeting /result/listing /files/copy.txt"]
        """#

    static func makeContext(_ context: String) throws {
        try write(context + "/Containerfile", containerfile)
        try write(context + "/app/hello.txt", "hello\n")
        try write(context + "/app/sub/data.txt", "data\n")
        try write(context + "/app/debug.log", "not copied\n")
        try write(context + "/notes.txt", "notes v1\n")
        try write(context + "/.dockerignore", "# logs stay out\n**/*.log\n")
        try write(context + "/tree/inside/file", "from the archive\n")
        let tar = try Command.run("/usr/bin/tar", ["-C", context + "/tree", "-czf", context + "/archive.tar.gz", "."])
        try #require(tar.status == 0, "\(tar.err)")
    }

    static func config(_ root: String, _ image: String) throws -> [String: Any] {
        let inspect = try berth(root, ["image", "inspect", image])
        try #require(inspect.status == 0, "\(inspect.err)")
        let parsed = try JSONSerialization.jsonObject(with: Data(inspect.out.utf8))
        let first = try #require((parsed as? [[String: Any]])?.first ?? (parsed as? [String: Any]))
        return first
    }

    @Test(.integration) func multiStageBuildWithEveryInstruction() async throws {
        try Integration.check()
        let (root, _) = try Self.storeWithBase()
        let context = try makeTemporaryDirectory("berth-context")
        defer { for dir in [root, context] { try? FileManager.default.removeItem(atPath: dir) } }
        try Self.makeContext(context)

        let built = try Self.berth(root, ["build", "-t", "app:1", context])
        try #require(built.status == 0, "\(built.out)\(built.err)")
        #expect(built.out.contains("STEP 1/8: FROM ${BASE} AS builder"))
        let run = try Self.berth(root, ["run", "--rm", "app:1"])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "hello from berth build\nhello.txt\nsub\nnotes v1\n")

        // The image's configuration, as Docker's inspect shows it.
        let image = try Self.config(root, "app:1")
        let config = try #require(image["Config"] as? [String: Any])
        #expect(config["User"] as? String == "1000:1000")
        #expect(config["Entrypoint"] as? [String] == ["/bin/sh", "-c"])
        #expect(config["Cmd"] as? [String] == ["cat /result/greeting /result/listing /files/copy.txt"])
        #expect((config["ExposedPorts"] as? [String: Any]).map { Set($0.keys) } == ["8080/tcp", "53/udp"])
        #expect((config["Volumes"] as? [String: Any]).map { Set($0.keys) } == ["/data"])
        #expect(config["StopSignal"] as? String == "SIGINT")
        #expect(config["Labels"] as? [String: String] == ["org.example.name": "test image", "version": "1"])
        #expect(config["Shell"] as? [String] == ["/bin/sh", "-c"])
        let health = try #require(config["Healthcheck"] as? [String: Any])
        #expect(health["Test"] as? [String] == ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"])
        #expect(health["Interval"] as? Int64 == 5_000_000_000 && health["Retries"] as? Int == 4)
        // History: the base's one step, then the final stage's 13; a layer for each COPY and RUN
        // only (the base has two).
        let history = try #require(image["History"] as? [[String: Any]])
        #expect(history.count == 14)
        #expect(history.filter { $0["EmptyLayer"] as? Bool == true }.count == 9)
        #expect((image["RootFS"] as? [String: Any])?["Layers"].map { ($0 as? [String])?.count } == 6)
        // The second stage's ENV is the base's, not the builder's.
        #expect(!((config["Env"] as? [String]) ?? []).contains { $0.hasPrefix("OUT=") })

        // The builder stage: its ENV, WORKDIR, COPY's owner and mode, ADD's archive, a deletion.
        let builder = try Self.berth(root, ["build", "-q", "--target", "builder", "-t", "builder:1", context])
        try #require(builder.status == 0, "\(builder.err)")
        let probe = try Self.berth(
            root,
            [
                "run", "--rm", "builder:1", "sh", "-c",
                "pwd; echo $OUT $NAME; stat -c '%u:%g %a' /src/hello.txt /src/sub/data.txt; ls /src;"
                    + " cat /unpacked/inside/file; ls /bin/zcat 2>&1 || echo gone",
            ])
        #expect(probe.status == 0, "\(probe.err)")
        #expect(
            probe.out.split(separator: "\n").map(String.init) == [
                "/work", "/out berth build", "1000:1000 640", "1000:1000 640", "hello.txt", "sub",
                "from the archive", "ls: /bin/zcat: No such file or directory", "gone",
            ])
        let builderConfig = try #require(try Self.config(root, "builder:1")["Config"] as? [String: Any])
        #expect(builderConfig["WorkingDir"] as? String == "/work")
        #expect(((builderConfig["Env"] as? [String]) ?? []).contains("NAME=berth build"))
    }

    @Test(.integration) func anUnchangedRebuildRunsNothingAndAChangedFileRunsOnlyWhatFollows() async throws {
        try Integration.check()
        let (root, _) = try Self.storeWithBase()
        let context = try makeTemporaryDirectory("berth-context")
        defer { for dir in [root, context] { try? FileManager.default.removeItem(atPath: dir) } }
        try Self.makeContext(context)
        let watcher = try UnitWatcher(prefix: "berthbuild-")
        defer { watcher.stop() }

        let first = try Self.berth(root, ["build", "-t", "app:1", context])
        try #require(first.status == 0, "\(first.out)\(first.err)")
        // Three RUNs: two in the builder, one in the final stage; each in its own build scope.
        let scopes = watcher.units()
        #expect(scopes.count == 3, "\(scopes)")
        #expect(scopes.allSatisfy { $0.hasSuffix(".scope") })
        let digest = try Self.berth(root, ["images", "--format", "json"]).out

        watcher.reset()
        let again = try Self.berth(root, ["build", "-t", "app:1", context])
        try #require(again.status == 0, "\(again.err)")
        #expect(watcher.units().isEmpty, "an unchanged rebuild ran a step")
        // Every step but the FROMs and the ARG says so: 6 in the builder, 13 in the final stage.
        #expect(again.out.components(separatedBy: "Using cache").count - 1 == 19, "\(again.out)")
        #expect(try Self.berth(root, ["images", "--format", "json"]).out == digest)

        // The cache is a GC root: after a prune the rebuild still runs nothing.
        #expect(try Self.berth(root, ["prune"]).status == 0)
        watcher.reset()
        #expect(try Self.berth(root, ["build", "-q", "-t", "app:1", context]).status == 0)
        #expect(watcher.units().isEmpty, "prune swept the build cache")

        // notes.txt is read by the final stage's third COPY only: that step and the ones after
        // it run again (one RUN among them), nothing before it does.
        try Self.write(context + "/notes.txt", "notes v2\n")
        watcher.reset()
        let changed = try Self.berth(root, ["build", "-t", "app:1", context])
        try #require(changed.status == 0, "\(changed.err)")
        #expect(watcher.units().count == 1)
        let steps = changed.out.components(separatedBy: "STEP ").dropFirst()
        let ran = steps.filter { !$0.contains("Using cache") }.map { String($0.prefix { $0 != "\n" }) }
            .filter { !$0.contains(": FROM ") && !$0.contains(": ARG ") }
        // The builder's 6 steps and the final stage's first two COPYs came from the cache.
        #expect(changed.out.components(separatedBy: "Using cache").count - 1 == 8, "\(changed.out)")
        #expect(ran.count == 11, "\(ran)")
        #expect(ran.first?.hasSuffix(": COPY notes.txt /files/") == true, "\(ran)")
        #expect(ran.last?.hasSuffix(": CMD [\"cat /result/greeting /result/listing /files/copy.txt\"]") == true)
        #expect(try Self.berth(root, ["run", "--rm", "app:1"]).out.hasSuffix("notes v2\n"))

        // --no-cache runs every RUN again.
        watcher.reset()
        #expect(try Self.berth(root, ["build", "-q", "--no-cache", "-t", "app:1", context]).status == 0)
        #expect(watcher.units().count == 3)
    }

    /// What berth built is a standard image: pushed to a registry, podman pulls and runs it.
    @Test(.integration) func podmanRunsWhatBerthBuilt() async throws {
        try Integration.check()
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/podman"), "podman is missing")
        let registry = try await RegistryServer()
        defer { registry.stop() }
        let (root, _) = try Self.storeWithBase()
        let context = try makeTemporaryDirectory("berth-context")
        let podmanRoot = try makeTemporaryDirectory("podman")
        defer { for dir in [root, context, podmanRoot] { try? FileManager.default.removeItem(atPath: dir) } }
        try Self.makeContext(context)
        let name = "\(registry.authority)/test/built:1"
        let built = try Self.berth(root, ["build", "-q", "-t", name, context])
        try #require(built.status == 0, "\(built.err)")
        let push = try Self.berth(root, ["push", "-q", name])
        try #require(push.status == 0, "\(push.err)")
        let podman = CLIRegistryTests.podmanOptions(podmanRoot)
        let pulled = try Command.run("/usr/bin/podman", podman + ["pull", "-q", "--tls-verify=false", name])
        #expect(pulled.status == 0, "\(pulled.err)")
        let run = try Command.run("/usr/bin/podman", podman + ["run", "--rm", "--network=none", name])
        #expect(run.status == 0, "\(run.err)")
        #expect(run.out == "hello from berth build\nhello.txt\nsub\nnotes v1\n")
        let user = try Command.run(
            "/usr/bin/podman", podman + ["run", "--rm", "--network=none", name, "id -u; cat /files/data.txt"])
        #expect(user.out == "1000\ndata\n", "\(user.err)")
        _ = try? Command.run("/usr/bin/podman", podman + ["system", "reset", "--force"])
        _ = try? Command.run("/usr/bin/umount", ["-R", podmanRoot + "/root/overlay"])
    }

    /// Errors name the file, the line and the instruction; a failing RUN fails the build with
    /// its status, and its output reached both the terminal and journald.
    @Test(.integration) func failuresAreLocatedAndRunOutputIsInTheJournal() async throws {
        try Integration.check()
        let (root, context) = try Self.storeWithBase()
        defer { for dir in [root, context] { try? FileManager.default.removeItem(atPath: dir) } }
        try Self.write(context + "/Containerfile", "FROM base:1\nRUN true\nCOPY missing.txt /\n")
        let missing = try Self.berth(root, ["build", context])
        #expect(missing.status != 0)
        #expect(missing.err.contains("Containerfile:3: COPY: missing.txt: no such file or directory"), "\(missing.err)")
        try Self.write(context + "/Containerfile", "FROM base:1\nFROBNICATE now\n")
        let unknown = try Self.berth(root, ["build", context])
        #expect(unknown.status != 0 && unknown.err.contains("Containerfile:2"), "\(unknown.err)")
        #expect(unknown.err.lowercased().contains("frobnicate"), "\(unknown.err)")

        // A link in the context leads nowhere outside it: /etc is the context's own /etc.
        symlink("/etc", context + "/escape")
        try Self.write(context + "/Containerfile", "FROM base:1\nCOPY escape/passwd /stolen\n")
        let escape = try Self.berth(root, ["build", context])
        #expect(escape.status != 0 && escape.err.contains("escape/passwd: no such file"), "\(escape.err)")
        unlink(context + "/escape")

        let marker = "step output \(UInt32.random(in: 0...UInt32.max))"
        try Self.write(context + "/Containerfile", "FROM base:1\nRUN echo \(marker); exit 3\n")
        let failed = try Self.berth(root, ["build", context])
        #expect(failed.status != 0)
        #expect(failed.out.contains(marker), "\(failed.out)")
        #expect(
            failed.err.contains("Containerfile:2: RUN:") && failed.err.contains("non-zero code: 3"), "\(failed.err)")
        // Nothing of the step is left behind.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/builds")) ?? []).isEmpty)
        let journal = try Journal()
        try journal.addMatch("MESSAGE", marker)
        var units: [String] = []
        let deadline = ContinuousClock.now + .seconds(5)
        while units.isEmpty && ContinuousClock.now < deadline {
            try journal.seekHead()
            while let entry = try journal.next() { units.append(entry.string("_SYSTEMD_UNIT") ?? "") }
            if units.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(units.count == 1 && units[0].hasPrefix("berthbuild-") && units[0].hasSuffix(".scope"), "\(units)")
    }

    /// `berth commit`: a running container's changes (a new file, a deleted one) on its image.
    @Test(.integration) func commitMakesAnImageOfAContainersChanges() async throws {
        try Integration.check()
        let (root, context) = try Self.storeWithBase()
        defer { for dir in [root, context] { try? FileManager.default.removeItem(atPath: dir) } }
        let started = try Self.berth(
            root,
            ["run", "-d", "--name", "changed", "base:1", "sh", "-c", "echo made > /made; rm /bin/zcat; sleep 60"])
        try #require(started.status == 0, "\(started.err)")
        defer { _ = try? Self.berth(root, ["rm", "-f", "changed"]) }
        let deadline = ContinuousClock.now + .seconds(10)
        while try Self.berth(root, ["exec", "changed", "cat", "/made"]).out != "made\n" {
            try #require(ContinuousClock.now < deadline, "the container never wrote its file")
            try await Task.sleep(for: .milliseconds(50))
        }
        let commit = try Self.berth(root, ["commit", "-m", "by test", "changed", "committed:1"])
        #expect(commit.status == 0 && commit.out.hasPrefix("sha256:"), "\(commit.err)")
        // Still running: a commit never takes the container's layer away.
        #expect(try Self.berth(root, ["exec", "changed", "cat", "/made"]).out == "made\n")
        let run = try Self.berth(
            root, ["run", "--rm", "committed:1", "sh", "-c", "cat /made; ls /bin/zcat 2>/dev/null || echo gone"])
        #expect(run.out == "made\ngone\n", "\(run.out)\(run.err)")
        // The new layer holds the container's changes, not the mount points the runtime made.
        let store = ImageStore(root: root)
        let image = try store.image(try #require(try store.find("docker.io/library/committed:1")))
        let layer = try #require(image.manifest.layers.last)
        let listing = try Command.run("/usr/bin/tar", ["-tzf", store.content.path(layer.digest)])
        #expect(Set(listing.out.split(separator: "\n").map(String.init)) == ["made", "bin/", "bin/.wh.zcat"])
        let history = try #require(try Self.config(root, "committed:1")["History"] as? [[String: Any]])
        #expect(history.last?["CreatedBy"] as? String == "berth commit changed: by test")
    }

    /// Ctrl-C during a RUN stops that step's scope and ends the build, leaving nothing behind.
    @Test(.integration) func anInterruptedBuildStopsItsStep() async throws {
        try Integration.check()
        let (root, context) = try Self.storeWithBase()
        defer { for dir in [root, context] { try? FileManager.default.removeItem(atPath: dir) } }
        try Self.write(context + "/Containerfile", "FROM base:1\nRUN sleep 60\n")
        let watcher = try UnitWatcher(prefix: "berthbuild-")
        defer { watcher.stop() }
        let build = try ChildProcess([Self.berth, "--root", root, "build", "-q", context])
        defer { kill(build.pid, SIGKILL) }
        let deadline = ContinuousClock.now + .seconds(10)
        while watcher.units().isEmpty {
            try #require(ContinuousClock.now < deadline, "the step never started")
        }
        try await Task.sleep(for: .milliseconds(200))
        let interrupted = ContinuousClock.now
        kill(build.pid, SIGINT)
        let status = build.wait()
        #expect(ContinuousClock.now - interrupted < .seconds(8))
        #expect(status >> 8 & 0xFF == 130, "wait status \(status)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: root + "/builds")) ?? []).isEmpty)
        // No process of the step is left: nothing but this test's own runs `sleep 60`.
        let sleeping = try Command.run("/usr/bin/pgrep", ["-f", "^sleep 60$"])
        #expect(sleeping.out.isEmpty, "\(sleeping.out)")
    }
}
