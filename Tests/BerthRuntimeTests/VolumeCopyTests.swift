import Foundation
import Testing

@testable import BerthRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// A device number as the kernel encodes it (glibc's makedev is a macro Swift cannot call).
func makedev(_ major: UInt64, _ minor: UInt64) -> dev_t {
    dev_t((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32))
}

/// Image layers made by hand in a scratch directory, the way the image store will unpack them
/// (overlay form): files, links, whiteouts, opaque directories.
final class Scratch {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "berth-volume-tests-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func directory(_ relative: String, mode: mode_t = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
        chmod(path + "/" + relative, mode)
    }

    /// The parent directories of `relative`, those that exist left as they are.
    func parents(_ relative: String) throws {
        try FileManager.default.createDirectory(
            atPath: path + "/" + (relative as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    }

    func file(_ relative: String, _ content: String, mode: mode_t = 0o644) throws {
        try parents(relative)
        try content.write(toFile: path + "/" + relative, atomically: false, encoding: .utf8)
        chmod(path + "/" + relative, mode)
    }

    func link(_ relative: String, to target: String) throws {
        try parents(relative)
        try FileManager.default.createSymbolicLink(atPath: path + "/" + relative, withDestinationPath: target)
    }

    /// A whiteout: a character device 0/0 (allowed without CAP_MKNOD since Linux 5.8).
    func whiteout(_ relative: String) throws {
        try parents(relative)
        #expect(mknod(path + "/" + relative, S_IFCHR | 0o600, 0) == 0, "mknod whiteout: \(errno)")
    }

    /// Sets an extended attribute; false when this filesystem or our privileges do not allow it.
    @discardableResult
    func xattr(_ relative: String, _ name: String, _ value: String) -> Bool {
        Array((path + "/" + relative).utf8).withCName { cPath in
            LinuxCalls.lsetxattr(cPath, name, value, value.utf8.count, 0) == 0
        }
    }

    /// A unix socket's file, as a server leaves it behind.
    func socket(_ relative: String) throws {
        try parents(relative)
        let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array((path + "/" + relative).utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes.prefix($0.count - 1)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0, "bind: \(errno)")
    }

    func read(_ relative: String) -> String? {
        FileManager.default.contents(atPath: path + "/" + relative).map { String(decoding: $0, as: UTF8.self) }
    }

    func lstat(_ relative: String) -> stat? {
        var st = stat()
        return Glibc.lstat(path + "/" + relative, &st) == 0 ? st : nil
    }

    func names(_ relative: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path + "/" + relative)) ?? []).sorted()
    }

    func xattrValue(_ relative: String, _ name: String) -> String? {
        (try? Xattrs.value(Array((path + "/" + relative).utf8), Array(name.utf8), shownAs: []))?
            .map { String(decoding: $0, as: UTF8.self) }
    }
}

/// The copy of an image's merged layers into a volume: what overlayfs would show, every kind of
/// file with its metadata, and no way out of the layers.
@Suite struct VolumeCopyTests {
    static let isRoot = geteuid() == 0

    /// Copies `target` of the layers (topmost first) into a new directory `out` of `scratch`;
    /// false when there is no directory at `target`.
    @discardableResult
    static func copy(_ scratch: Scratch, layers: [String], target: String) throws -> Bool {
        let merged = try MergedLayers(lowerDirs: layers.map { scratch.path + "/" + $0 })
        try scratch.directory("out")
        guard let source = try merged.directory(at: Array(target.utf8)) else { return false }
        var copy = TreeCopy(
            layers: merged, destination: try #require(OpenFile.directory(path: scratch.path + "/out")))
        try copy.copy(source)
        return true
    }

    @Test func everyKindOfFileIsCopiedWithItsMetadata() throws {
        let s = try Scratch()
        try s.file("l/t/setuid", "#!/bin/sh\n", mode: 0o4755)
        try s.file("l/t/plain", "content\n", mode: 0o640)
        try s.directory("l/t/private", mode: 0o750)
        try s.file("l/t/private/inner", "inner")
        try s.link("l/t/relative", to: "plain")
        try s.link("l/t/host-passwd", to: "/etc/passwd")
        try s.file("l/t/hard-a", "linked")
        #expect(link(s.path + "/l/t/hard-a", s.path + "/l/t/private/hard-b") == 0)
        #expect(mkfifo(s.path + "/l/t/fifo", 0o600) == 0 && chmod(s.path + "/l/t/fifo", 0o620) == 0)
        // A socket is left out, and so are its other names.
        try s.socket("l/t/socket")
        #expect(link(s.path + "/l/t/socket", s.path + "/l/t/socket-too") == 0)
        var times = [timespec(tv_sec: 1_000_000_000, tv_nsec: 5), timespec(tv_sec: 1_234_567_890, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, s.path + "/l/t/plain", &times, 0) == 0)
        let userXattrs = s.xattr("l/t/plain", "user.berth", "kept")
        chmod(s.path + "/l/t", 0o1777)

        #expect(try Self.copy(s, layers: ["l"], target: "/t"))
        #expect(
            s.names("out") == ["fifo", "hard-a", "host-passwd", "plain", "private", "relative", "setuid"])
        #expect(s.read("out/plain") == "content\n" && s.read("out/private/inner") == "inner")
        #expect(s.lstat("out/setuid").map { $0.st_mode & 0o7777 } == 0o4755)
        #expect(s.lstat("out/plain").map { $0.st_mode & 0o7777 } == 0o640)
        #expect(s.lstat("out/private").map { $0.st_mode & 0o7777 } == 0o750)
        #expect(s.lstat("out/plain").map { $0.st_mtim.tv_sec } == 1_234_567_890)
        #expect(s.lstat("out/fifo").map { ($0.st_mode & S_IFMT, $0.st_mode & 0o777) } ?? (0, 0) == (S_IFIFO, 0o620))
        // Links are copied as links, never followed: the host's passwd is not read.
        #expect(s.lstat("out/host-passwd").map { $0.st_mode & S_IFMT } == S_IFLNK)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: s.path + "/out/host-passwd") == "/etc/passwd")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: s.path + "/out/relative") == "plain")
        // Hard links stay hard links.
        let a = try #require(s.lstat("out/hard-a"))
        let b = try #require(s.lstat("out/private/hard-b"))
        #expect(a.st_ino == b.st_ino && a.st_nlink == 2)
        // The volume's own directory takes the image directory's mode.
        #expect(s.lstat("out").map { $0.st_mode & 0o7777 } == 0o1777)
        if userXattrs { #expect(s.xattrValue("out/plain", "user.berth") == "kept") }
    }

    @Test(.enabled(if: isRoot)) func ownersDevicesAndPrivilegedAttributesAsRoot() throws {
        let s = try Scratch()
        try s.file("l/t/owned", "x", mode: 0o2755)
        #expect(chown(s.path + "/l/t/owned", 1234, 5678) == 0)
        #expect(chmod(s.path + "/l/t/owned", 0o6755) == 0)
        #expect(lchown(s.path + "/l/t", 42, 43) == 0)
        try s.link("l/t/link", to: "owned")
        #expect(lchown(s.path + "/l/t/link", 7, 8) == 0)
        #expect(mknod(s.path + "/l/t/null", S_IFCHR | 0o666, makedev(1, 3)) == 0)
        #expect(mknod(s.path + "/l/t/loop", S_IFBLK | 0o660, makedev(7, 0)) == 0)
        #expect(s.xattr("l/t/owned", "trusted.berth", "kept"))
        #expect(s.xattr("l/t/owned", "trusted.overlay.origin", "dropped"))

        #expect(try Self.copy(s, layers: ["l"], target: "/t"))
        let owned = try #require(s.lstat("out/owned"))
        #expect(owned.st_uid == 1234 && owned.st_gid == 5678 && owned.st_mode & 0o7777 == 0o6755)
        #expect(s.lstat("out").map { ($0.st_uid, $0.st_gid) } ?? (0, 0) == (42, 43))
        #expect(s.lstat("out/link").map { ($0.st_uid, $0.st_gid) } ?? (0, 0) == (7, 8))
        let null = try #require(s.lstat("out/null"))
        #expect(null.st_mode & S_IFMT == S_IFCHR && null.st_rdev == makedev(1, 3))
        #expect(s.lstat("out/loop").map { $0.st_mode & S_IFMT == S_IFBLK && $0.st_rdev == makedev(7, 0) } == true)
        #expect(s.xattrValue("out/owned", "trusted.berth") == "kept")
        #expect(s.xattrValue("out/owned", "trusted.overlay.origin") == nil)
    }

    @Test func whiteoutsHideWhatIsBelow() throws {
        let s = try Scratch()
        try s.file("lower/t/gone-file", "lower")
        try s.file("lower/t/gone-dir/deep", "lower")
        try s.file("lower/t/kept", "lower")
        try s.file("lower/t/d/hidden", "lower")
        try s.whiteout("upper/t/gone-file")
        try s.whiteout("upper/t/gone-dir")
        try s.whiteout("upper/t/d/hidden")
        try s.whiteout("upper/t/never-existed")

        #expect(try Self.copy(s, layers: ["upper", "lower"], target: "/t"))
        #expect(s.names("out") == ["d", "kept"])
        #expect(s.names("out/d") == [])
    }

    @Test func directoriesMergeAndTheTopmostEntryWins() throws {
        let s = try Scratch()
        try s.file("bottom/t/d/x", "bottom")
        try s.file("bottom/t/d/y", "bottom")
        try s.file("bottom/t/file-over-dir/inner", "bottom")
        try s.file("bottom/t/dir-over-file", "bottom")
        try s.file("bottom/t/hidden-below-file/inner", "bottom")
        try s.file("middle/t/d/y", "middle")
        try s.file("middle/t/hidden-below-file", "middle file")
        try s.file("top/t/d/z", "top")
        try s.file("top/t/file-over-dir", "top")
        try s.file("top/t/dir-over-file/inner", "top")
        try s.file("top/t/hidden-below-file/top", "top")

        #expect(try Self.copy(s, layers: ["top", "middle", "bottom"], target: "/t"))
        #expect(s.names("out") == ["d", "dir-over-file", "file-over-dir", "hidden-below-file"])
        #expect(s.names("out/d") == ["x", "y", "z"])
        #expect(s.read("out/d/x") == "bottom" && s.read("out/d/y") == "middle" && s.read("out/d/z") == "top")
        #expect(s.read("out/file-over-dir") == "top")
        #expect(s.names("out/dir-over-file") == ["inner"])
        // A directory merges with those below only down to the first layer where the name is no
        // directory: the bottom layer's directory is hidden by the middle layer's file.
        #expect(s.names("out/hidden-below-file") == ["top"])
    }

    @Test(.enabled(if: isRoot)) func anOpaqueDirectoryHidesTheDirectoriesBelow() throws {
        let s = try Scratch()
        try s.file("lower/t/d/from-lower", "lower")
        try s.file("lower/t/other/from-lower", "lower")
        try s.file("upper/t/d/from-upper", "upper")
        try s.file("upper/t/other/from-upper", "upper")
        #expect(s.xattr("upper/t/d", "trusted.overlay.opaque", "y"))
        // Only "y" is opaque ("x" marks a directory that may hold whiteouts, Linux 6.7).
        #expect(s.xattr("upper/t/other", "trusted.overlay.opaque", "x"))

        #expect(try Self.copy(s, layers: ["upper", "lower"], target: "/t"))
        #expect(s.names("out/d") == ["from-upper"])
        #expect(s.names("out/other") == ["from-lower", "from-upper"])
        #expect(s.xattrValue("out/d", "trusted.overlay.opaque") == nil)
    }

    @Test(.enabled(if: isRoot)) func anOpaqueTargetIsCopiedWithoutWhatIsBelow() throws {
        let s = try Scratch()
        try s.file("lower/t/from-lower", "lower")
        try s.file("upper/t/from-upper", "upper")
        #expect(s.xattr("upper/t", "trusted.overlay.opaque", "y"))
        #expect(try Self.copy(s, layers: ["upper", "lower"], target: "/t"))
        #expect(s.names("out") == ["from-upper"])
    }

    @Test func theTargetIsResolvedInsideTheLayers() throws {
        let s = try Scratch()
        try s.file("l/etc/image-marker", "image")
        try s.link("l/dotdot", to: "../../../../../../../etc")
        try s.link("l/absolute", to: "/etc")
        try s.link("l/sub/up", to: "../..")
        for target in [
            "/../../../etc", "/dotdot", "/absolute", "/sub/up/etc", "/sub/up/../../../absolute/../etc", "etc",
        ] {
            try? FileManager.default.removeItem(atPath: s.path + "/out")
            #expect(try Self.copy(s, layers: ["l"], target: target), "\(target)")
            #expect(s.names("out") == ["image-marker"], "\(target) must be the layer's /etc, not the host's")
        }
    }

    @Test func linksOnTheTargetPathAreFollowedAcrossLayers() throws {
        let s = try Scratch()
        // /var/run -> ../run in the bottom layer; /run filled by the layer above.
        try s.link("bottom/var/run", to: "../run")
        try s.file("bottom/run/from-bottom", "bottom")
        try s.file("top/run/from-top", "top")
        #expect(try Self.copy(s, layers: ["top", "bottom"], target: "/var/run"))
        #expect(s.names("out") == ["from-bottom", "from-top"])
    }

    @Test func nothingToCopyWhenTheTargetIsMissingHiddenOrNoDirectory() throws {
        let s = try Scratch()
        try s.file("lower/file", "x")
        try s.file("lower/hidden/x", "x")
        try s.whiteout("upper/hidden")
        try s.link("lower/dangling", to: "/nowhere")
        for target in ["/missing", "/file", "/file/below", "/hidden", "/dangling"] {
            #expect(try !Self.copy(s, layers: ["upper", "lower"], target: target), "\(target)")
        }
    }

    @Test func aLinkLoopIsAnError() throws {
        let s = try Scratch()
        try s.link("l/a", to: "b")
        try s.link("l/b", to: "/a")
        #expect(throws: RuntimeError.self) { try Self.copy(s, layers: ["l"], target: "/a") }
    }
}
