import BerthTestSupport
import Foundation
import Testing

/// Named volumes as a user drives them: containers in the sandbox mounting them, and the
/// `berth volume` commands.
@Suite(.serialized) struct VolumeIntegrationTests {
    static let root = "/tmp/berth-volume-tests"

    /// Runs berth to completion with `input` on its stdin; returns its status and output.
    @discardableResult
    static func berth(_ args: [String], input: String = "") throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CLIIntegrationTests.berth)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env["BERTH_ROOT"] = root
        p.environment = env
        let stdin = Pipe()
        let out = Pipe()
        let err = Pipe()
        p.standardInput = stdin
        p.standardOutput = out
        p.standardError = err
        try p.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    /// The sandbox's busybox root filesystem, with an /etc that has one of every kind of file.
    static func makeRootfs() throws -> String {
        let rootfs = try RuntimeIntegrationTests.makeRootfs()
        let etc = rootfs + "/etc"
        try FileManager.default.createDirectory(atPath: etc + "/seed", withIntermediateDirectories: true)
        try "seed\n".write(toFile: etc + "/seed/file", atomically: false, encoding: .utf8)
        #expect(chown(etc + "/seed", 1000, 1001) == 0 && chmod(etc + "/seed", 0o750) == 0)
        try "#!/bin/sh\n".write(toFile: etc + "/setuid", atomically: false, encoding: .utf8)
        #expect(chmod(etc + "/setuid", 0o4755) == 0)
        #expect(link(etc + "/seed/file", etc + "/hard") == 0)
        #expect(symlink("passwd", etc + "/link") == 0)
        #expect(mkfifo(etc + "/fifo", 0o600) == 0)
        return rootfs
    }

    static func lstat(_ path: String) throws -> stat {
        var st = stat()
        try #require(Glibc.lstat(path, &st) == 0, "\(path): \(errno)")
        return st
    }

    @Test(.integration) func aVolumeIsFilledFromTheImageSharedAndNeverRefilled() throws {
        try Integration.check()
        let rootfs = try Self.makeRootfs()
        let volume = RuntimeIntegrationTests.unique("data")
        let data = Self.root + "/volumes/\(volume)/_data"

        let first = try Self.berth([
            "run", "--rm", "--rootfs", rootfs, "-v", "\(volume):/etc", "sh", "-c",
            "cat /etc/seed/file; echo from-first > /etc/written",
        ])
        #expect(first.status == 0 && first.out == "seed\n", "\(first.err)")
        // On the host: the image's /etc, each kind of file with its metadata.
        #expect(
            FileManager.default.contents(atPath: data + "/passwd")
                == FileManager.default.contents(atPath: rootfs + "/etc/passwd"))
        let seed = try Self.lstat(data + "/seed")
        #expect(seed.st_uid == 1000 && seed.st_gid == 1001 && seed.st_mode & 0o7777 == 0o750)
        #expect(try Self.lstat(data + "/setuid").st_mode & 0o7777 == 0o4755)
        #expect(try Self.lstat(data + "/hard").st_ino == Self.lstat(data + "/seed/file").st_ino)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: data + "/link") == "passwd")
        #expect(try Self.lstat(data + "/fifo").st_mode & S_IFMT == S_IFIFO)
        #expect(FileManager.default.contents(atPath: data + "/written") == Data("from-first\n".utf8))

        // Another container sees what the first wrote, wherever it mounts the volume.
        let second = try Self.berth([
            "run", "--rm", "--rootfs", rootfs, "-v", "\(volume):/data", "cat", "/data/written",
        ])
        #expect(second.status == 0 && second.out == "from-first\n", "\(second.err)")

        // The image changes; the volume, not empty, keeps what it has.
        try "changed\n".write(toFile: rootfs + "/etc/seed/file", atomically: true, encoding: .utf8)
        try "new\n".write(toFile: rootfs + "/etc/added", atomically: false, encoding: .utf8)
        let third = try Self.berth([
            "run", "--rm", "--rootfs", rootfs, "-v", "\(volume):/etc", "sh", "-c",
            "cat /etc/seed/file; test -e /etc/added && echo refilled || echo kept",
        ])
        #expect(third.status == 0 && third.out == "seed\nkept\n", "\(third.err)")
    }

    @Test(.integration) func containersStartingAtOnceSeeOneWholeFill() throws {
        try Integration.check()
        let rootfs = try Self.makeRootfs()
        let volume = RuntimeIntegrationTests.unique("race")
        var env = ProcessInfo.processInfo.environment
        env["BERTH_ROOT"] = Self.root
        let runs = try (0..<4).map { _ in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: CLIIntegrationTests.berth)
            p.arguments = ["run", "--rm", "--rootfs", rootfs, "-v", "\(volume):/etc", "sh", "-c", "cat /etc/seed/file"]
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            return (p, out)
        }
        for (p, out) in runs {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0 && text == "seed\n")
        }
        let entries = try FileManager.default.contentsOfDirectory(atPath: Self.root + "/volumes/\(volume)")
        #expect(entries.sorted() == ["_data", "lock", "volume.json"])
    }

    @Test(.integration) func volumeCommandsEndToEnd() throws {
        try Integration.check()
        let rootfs = try Self.makeRootfs()
        let name = RuntimeIntegrationTests.unique("named")
        let created = try Self.berth(["volume", "create", "--label", "tier=db", "--label", "empty", name])
        #expect(created.status == 0 && created.out == name + "\n", "\(created.err)")
        let random = try Self.berth(["volume", "create"])
        let randomName = random.out.trimmingCharacters(in: .newlines)
        #expect(random.status == 0 && randomName.count == 64 && randomName.allSatisfy(\.isHexDigit))
        #expect(try Self.berth(["volume", "create", "../escape"]).status == 1)

        let ls = try Self.berth(["volume", "ls"]).out.split(separator: "\n").map(String.init)
        #expect(ls.first == "DRIVER   VOLUME NAME")
        #expect(ls.contains { $0.hasPrefix("local") && $0.hasSuffix(" " + name) })
        let quiet = try Self.berth(["volume", "ls", "-q"]).out.split(separator: "\n").map(String.init)
        #expect(quiet.contains(name) && quiet.contains(randomName))
        let listed = try JSONSerialization.jsonObject(
            with: Data(try Self.berth(["volume", "ls", "--format", "json"]).out.utf8))
        #expect((listed as? [[String: Any]])?.contains { $0["Name"] as? String == name } == true)
        #expect(try Self.berth(["volume", "ls", "--format", "yaml"]).status == 125)

        let inspect = try Self.berth(["volume", "inspect", name])
        let documents = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [[String: Any]])
        let document = try #require(documents.first)
        #expect(document["Name"] as? String == name && document["Driver"] as? String == "local")
        #expect(document["Scope"] as? String == "local" && (document["Options"] as? [String: Any])?.isEmpty == true)
        #expect(document["Labels"] as? [String: String] == ["tier": "db", "empty": ""])
        #expect(document["Mountpoint"] as? String == Self.root + "/volumes/\(name)/_data")
        #expect(ISO8601DateFormatter().date(from: document["CreatedAt"] as? String ?? "") != nil)
        let mountpoint = try Self.berth(["volume", "inspect", "--format", "{{.Mountpoint}}", name])
        #expect(mountpoint.out == Self.root + "/volumes/\(name)/_data\n")
        let missing = try Self.berth(["volume", "inspect", name, "no-such-volume"])
        #expect(
            missing.status == 1 && missing.err.contains("no such volume: no-such-volume") && missing.out.contains(name))

        // A created volume is still empty: the first container fills it. A stopped container
        // that mounts it keeps it in use.
        let keeper = RuntimeIntegrationTests.unique("keeper")
        let kept = try Self.berth(["run", "--rootfs", rootfs, "--name", keeper, "-v", "\(name):/etc", "sh", "-c", ":"])
        #expect(kept.status == 0, "\(kept.err)")
        #expect(FileManager.default.fileExists(atPath: Self.root + "/volumes/\(name)/_data/passwd"))
        for args in [["volume", "rm", name], ["volume", "rm", "-f", name]] {
            let refused = try Self.berth(args)
            #expect(refused.status == 1 && refused.err.contains("in use") && refused.err.contains(keeper), "\(args)")
        }
        #expect(try Self.berth(["volume", "rm", "no-such-volume"]).status == 1)
        #expect(try Self.berth(["volume", "rm", "-f", "no-such-volume"]).status == 0)

        // prune asks first; only "y" goes on, and what is in use stays.
        let declined = try Self.berth(["volume", "prune"], input: "n\n")
        #expect(declined.status == 0 && declined.out.contains("Are you sure? [y/N]"))
        #expect(try Self.berth(["volume", "ls", "-q"]).out.contains(randomName))
        let pruned = try Self.berth(["volume", "prune"], input: "y\n")
        #expect(
            pruned.status == 0 && pruned.out.contains("Deleted Volumes:\n") && pruned.out.contains(randomName + "\n"))
        #expect(pruned.out.contains("Total reclaimed space: "))
        #expect(!pruned.out.contains(name + "\n"))
        let forced = try Self.berth(["volume", "prune", "-f"])
        #expect(forced.out == "Total reclaimed space: 0B\n")

        #expect(try Self.berth(["rm", keeper]).status == 0)
        let removed = try Self.berth(["volume", "rm", name])
        #expect(removed.status == 0 && removed.out == name + "\n", "\(removed.err)")
        #expect(!(try Self.berth(["volume", "ls", "-q"]).out.contains(name)))
    }
}
