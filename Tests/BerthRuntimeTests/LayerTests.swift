import CArchive
import Foundation
import Testing

@testable import BerthStore

/// Layers unpacked in overlay form, safely, and shared as snapshots.
@Suite(.serialized) struct LayerTests {
    /// One tar entry to write.
    struct Entry {
        var path: String
        var type: UInt32 = 0o100000
        var mode: UInt32 = 0o644
        var content = ""
        /// Bytes instead of `content` (a binary).
        var binary: [UInt8]?
        /// Bytes instead of `path` (a name that is not UTF-8).
        var pathBytes: [UInt8]?
        var link: String?
        var hardlink: String?
        var uid: Int64 = 0
        var gid: Int64 = 0
        var xattrs: [String: String] = [:]
        var rdev: (UInt32, UInt32) = (0, 0)
    }

    static func file(_ path: String, _ content: String = "", mode: UInt32 = 0o644) -> Entry {
        Entry(path: path, mode: mode, content: content)
    }
    static func dir(_ path: String) -> Entry { Entry(path: path, type: 0o040000, mode: 0o755) }

    /// A layer blob (gzip unless `gzip` is false) in `store`.
    static func layer(_ entries: [Entry], store: ContentStore, gzip: Bool = true, zstd: Bool = false) throws
        -> (Descriptor, Digest)
    {
        let path = ImageArchiveTests.temp("layer") + ".tar"
        defer { unlink(path) }
        let archive = try #require(archive_write_new())
        archive_write_set_format_pax(archive)
        if zstd {
            archive_write_add_filter_zstd(archive)
        } else if gzip {
            archive_write_add_filter_gzip(archive)
        }
        #expect(archive_write_open_filename(archive, path) == ARCHIVE_OK)
        for e in entries {
            let entry = archive_entry_new()
            if let bytes = e.pathBytes {
                Paths.withCName(bytes) { archive_entry_set_pathname(entry, $0) }
            } else {
                archive_entry_set_pathname(entry, e.path)
            }
            archive_entry_set_uid(entry, e.uid)
            archive_entry_set_gid(entry, e.gid)
            archive_entry_set_mtime(entry, 1_700_000_000, 0)
            if let hardlink = e.hardlink {
                archive_entry_set_hardlink(entry, hardlink)
            } else {
                archive_entry_set_filetype(entry, e.type)
                archive_entry_set_perm(entry, e.mode)
                if let link = e.link { archive_entry_set_symlink(entry, link) }
                archive_entry_set_rdevmajor(entry, UInt(e.rdev.0))
                archive_entry_set_rdevminor(entry, UInt(e.rdev.1))
                archive_entry_set_size(entry, e.type == 0o100000 ? Int64((e.binary ?? Array(e.content.utf8)).count) : 0)
            }
            for (key, value) in e.xattrs { archive_entry_xattr_add_entry(entry, key, value, value.utf8.count) }
            // A name that is not UTF-8 is written as bytes, with a warning.
            let written = archive_write_header(archive, entry)
            #expect(written == ARCHIVE_OK || written == ARCHIVE_WARN)
            if e.type == 0o100000 && e.hardlink == nil {
                _ = (e.binary ?? Array(e.content.utf8)).withUnsafeBytes {
                    archive_write_data(archive, $0.baseAddress, $0.count)
                }
            }
            archive_entry_free(entry)
        }
        archive_write_close(archive)
        archive_write_free(archive)
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let digest = try store.write(bytes)
        let plain = try LayerUnpacker.plainDigest(store.path(digest))
        return (
            Descriptor(
                mediaType: gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: digest, size: Int64(bytes.count)),
            plain
        )
    }

    static func unpack(_ entries: [Entry]) throws -> (dir: String, diffID: Digest, expected: Digest) {
        let root = ImageArchiveTests.temp("unpack")
        let store = ContentStore(root: root)
        let (layer, plain) = try layer(entries, store: store)
        try FileManager.default.createDirectory(atPath: root + "/fs", withIntermediateDirectories: true)
        let diffID = try LayerUnpacker(blob: store.path(layer.digest), destination: root + "/fs").unpack()
        return (root + "/fs", diffID, plain)
    }

    static func xattr(_ path: String, _ name: String) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = lgetxattr(path, name, &buffer, buffer.count)
        return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }

    @Test func everyKindOfEntryIsKept() throws {
        var setuid = Self.file("usr/bin/tool", "#!/bin/sh\n", mode: 0o4755)
        setuid.uid = 1000
        setuid.gid = 50
        var tagged = Self.file("etc/tagged", "x")
        tagged.xattrs = ["user.color": "blue", "trusted.overlay.opaque": "y", "trusted.overlay.redirect": "/x"]
        let (dir, diffID, expected) = try Self.unpack([
            Self.dir("etc"), Self.file("etc/hello", "hi\n"), setuid, tagged,
            Entry(path: "etc/link", type: 0o120000, mode: 0o777, link: "hello"),
            Entry(path: "etc/hard", hardlink: "etc/hello"),
            Entry(path: "dev/fifo", type: 0o010000, mode: 0o600),
            Entry(path: "dev/null", type: 0o020000, mode: 0o666, rdev: (1, 3)),
        ])
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        #expect(diffID == expected)  // the diffID is the digest of the uncompressed tar
        #expect(try String(contentsOfFile: dir + "/etc/hello", encoding: .utf8) == "hi\n")
        var st = stat()
        #expect(stat(dir + "/usr/bin/tool", &st) == 0 && st.st_mode & 0o7777 == 0o4755 && st.st_uid == 1000)
        #expect(st.st_gid == 50 && st.st_mtim.tv_sec == 1_700_000_000)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/etc/link") == "hello")
        var a = stat()
        var b = stat()
        #expect(stat(dir + "/etc/hard", &a) == 0 && stat(dir + "/etc/hello", &b) == 0 && a.st_ino == b.st_ino)
        #expect(lstat(dir + "/dev/fifo", &st) == 0 && st.st_mode & S_IFMT == S_IFIFO)
        #expect(
            lstat(dir + "/dev/null", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == berth_makedev(1, 3))
        #expect(Self.xattr(dir + "/etc/tagged", "user.color") == "blue")
        #expect(Self.xattr(dir + "/etc/tagged", "trusted.overlay.opaque") == nil)
        #expect(Self.xattr(dir + "/etc/tagged", "trusted.overlay.redirect") == nil)
    }

    @Test func namesThatAreNotUTF8StayAsTheyAre() throws {
        var odd = Self.file("", "odd")
        odd.pathBytes = Array("etc/f".utf8) + [0xFF, 0xFE] + Array("o".utf8)
        let (dir, _, _) = try Self.unpack([Self.dir("etc"), odd])
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        let etc = open(dir + "/etc", O_RDONLY | O_DIRECTORY)
        defer { close(etc) }
        var names: [[UInt8]] = []
        let listing = try #require(fdopendir(dup(etc)))
        while let item = readdir(listing) {
            names.append(withUnsafeBytes(of: item.pointee.d_name) { Array($0.prefix { $0 != 0 }) })
        }
        closedir(listing)
        #expect(names.contains(Array("f".utf8) + [0xFF, 0xFE] + Array("o".utf8)))
    }

    @Test func zstdLayersUnpackToo() throws {
        let root = ImageArchiveTests.temp("zstd")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ContentStore(root: root)
        let (layer, plain) = try Self.layer([Self.file("etc/z", "zstd\n")], store: store, zstd: true)
        try FileManager.default.createDirectory(atPath: root + "/fs", withIntermediateDirectories: true)
        #expect(try LayerUnpacker(blob: store.path(layer.digest), destination: root + "/fs").unpack() == plain)
        #expect(try String(contentsOfFile: root + "/fs/etc/z", encoding: .utf8) == "zstd\n")
    }

    @Test func whiteoutsBecomeOverlayWhiteouts() throws {
        let (dir, _, _) = try Self.unpack([
            Self.dir("var"), Self.file("var/.wh.gone"), Self.dir("opt/app"), Self.file("opt/app/.wh..wh..opq"),
            Self.file("opt/app/new", "n"),
        ])
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        var st = stat()
        #expect(lstat(dir + "/var/gone", &st) == 0 && st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/var/.wh.gone"))
        #expect(Self.xattr(dir + "/opt/app", "trusted.overlay.opaque") == "y")
        #expect(!FileManager.default.fileExists(atPath: dir + "/opt/app/.wh..wh..opq"))
    }

    static func link(_ path: String, to target: String) -> Entry { Entry(path: path, type: 0o120000, link: target) }

    /// Layers that try to reach out of the layer directory, each with what its error must say.
    /// CANARY stands for a directory outside the layer, holding `secret` and an empty `b` (0700)
    /// that must stay as they are.
    static let malicious: [(entries: [Entry], why: String)] = [
        ([file("../escape", "x")], "leaves the layer"),
        ([file("a/../../escape", "x")], "leaves the layer"),
        ([file("a/b/../../../x", "x")], "leaves the layer"),
        ([file("CANARY/owned", "x")], "absolute"),
        ([link("evil", to: "CANARY"), file("evil/owned", "x")], "symbolic link"),
        ([link("evil", to: "../../../../../../../../CANARY"), file("evil/owned", "x")], "symbolic link"),
        ([Entry(path: "pw", hardlink: "../../etc/passwd")], "leaves the layer"),
        ([Entry(path: "secret", hardlink: "CANARY/secret")], "absolute"),
        ([link("s", to: "CANARY"), Entry(path: "h", hardlink: "s/secret")], "symbolic link"),
        ([link("evil", to: "CANARY"), file("evil/.wh.secret")], "symbolic link"),
        ([link("evil", to: "CANARY"), file("evil/.wh..wh..opq")], "symbolic link"),
        ([file("a/.wh...")], "invalid whiteout"),
        ([file(".", "x")], "not a directory"),
    ]

    @Test(arguments: 0..<malicious.count)
    func maliciousEntriesAreRefused(index: Int) throws {
        let (entries, why) = Self.malicious[index]
        let canary = ImageArchiveTests.temp("canary")
        try FileManager.default.createDirectory(atPath: canary + "/b", withIntermediateDirectories: true)
        chmod(canary + "/b", 0o700)
        try "secret\n".write(toFile: canary + "/secret", atomically: false, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: canary) }
        let adjusted = entries.map { e -> Entry in
            var e = e
            e.path = e.path.replacingOccurrences(of: "CANARY", with: canary)
            e.link = e.link?.replacingOccurrences(of: "CANARY", with: canary)
            e.hardlink = e.hardlink?.replacingOccurrences(of: "CANARY", with: canary)
            return e
        }
        let error = #expect(throws: (any Error).self) { _ = try Self.unpack(adjusted) }
        #expect("\(error.map { "\($0)" } ?? "")".contains(why), "\(error.map { "\($0)" } ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: canary).sorted() == ["b", "secret"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: canary + "/b").isEmpty)
        var st = stat()
        #expect(stat(canary + "/b", &st) == 0 && st.st_mode & 0o7777 == 0o700)
        #expect(stat(canary + "/secret", &st) == 0 && st.st_nlink == 1)
        #expect(try String(contentsOfFile: canary + "/secret", encoding: .utf8) == "secret\n")
    }

    /// A directory filled, whited out and replaced by a link to the outside in one layer: the
    /// link is kept as a link, and nothing is done through it (a deferred fix of `a/b`'s mode
    /// would change the canary's `b`).
    @Test func aDirectoryReplacedByALinkIsNotWrittenThrough() throws {
        let canary = ImageArchiveTests.temp("canary")
        try FileManager.default.createDirectory(atPath: canary + "/b", withIntermediateDirectories: true)
        chmod(canary + "/b", 0o700)
        defer { try? FileManager.default.removeItem(atPath: canary) }
        let (dir, _, _) = try Self.unpack([
            Self.dir("a"), Entry(path: "a/b", type: 0o040000, mode: 0o777), Self.file(".wh.a"),
            Self.link("a", to: canary),
        ])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dir + "/a") == canary)
        var st = stat()
        #expect(stat(canary + "/b", &st) == 0 && st.st_mode & 0o7777 == 0o700)
    }

    /// A regular file after a symbolic link of the same name replaces the link; it never writes
    /// through it.
    @Test func aFileReplacesASymbolicLinkInsteadOfWritingThroughIt() throws {
        let canary = ImageArchiveTests.temp("canary")
        try FileManager.default.createDirectory(atPath: canary, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: canary) }
        try "secret\n".write(toFile: canary + "/secret", atomically: false, encoding: .utf8)
        let (dir, _, _) = try Self.unpack([Self.link("evil", to: canary + "/secret"), Self.file("evil", "replaced\n")])
        #expect(try String(contentsOfFile: dir + "/evil", encoding: .utf8) == "replaced\n")
        #expect(try String(contentsOfFile: canary + "/secret", encoding: .utf8) == "secret\n")
    }

    /// `a/../b` and `./c/./d` stay inside the layer, and are taken.
    @Test func lexicallyCleanPathsInsideTheLayerAreTaken() throws {
        let (dir, diffID, expected) = try Self.unpack([
            Self.file("a/../b", "b\n"), Self.file("./c/./d", "d\n"), Entry(path: "e", hardlink: "c/../b"),
        ])
        #expect(diffID == expected)
        #expect(try String(contentsOfFile: dir + "/b", encoding: .utf8) == "b\n")
        #expect(try String(contentsOfFile: dir + "/c/d", encoding: .utf8) == "d\n")
        var (b, e) = (stat(), stat())
        #expect(stat(dir + "/b", &b) == 0 && stat(dir + "/e", &e) == 0 && b.st_ino == e.st_ino)
    }

    /// A truncated or corrupt layer is refused with a message that says so.
    @Test func whatIsNotALayerIsRefused() throws {
        let root = ImageArchiveTests.temp("notalayer")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = ContentStore(root: root)
        try FileManager.default.createDirectory(atPath: root + "/fs", withIntermediateDirectories: true)
        let garbage = try store.write((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) })
        #expect(throws: (any Error).self) {
            _ = try LayerUnpacker(blob: store.path(garbage), destination: root + "/fs").unpack()
        }
        let big = ImageArchiveTests.temp("big")
        defer { try? FileManager.default.removeItem(atPath: big) }
        let (layer, _) = try Self.layer([Self.file("a", String(repeating: "x", count: 100_000))], store: store)
        let gzip = try store.read(layer.digest)
        let truncated = try store.write(Array(gzip.prefix(gzip.count / 2)))
        let error = #expect(throws: (any Error).self) {
            _ = try LayerUnpacker(blob: store.path(truncated), destination: root + "/fs").unpack()
        }
        #expect("\(error.map { "\($0)" } ?? "")".lowercased().contains("truncated"), "\(error.map { "\($0)" } ?? "")")
    }

    @Test func snapshotsAreSharedAndMountAsAnOverlay() async throws {
        let root = ImageArchiveTests.temp("snapshots")
        defer {
            _ = umount2(root + "/merged", Int32(MNT_DETACH))
            try? FileManager.default.removeItem(atPath: root)
        }
        let store = ImageStore(root: root)
        let base = try Self.layer(
            [
                Self.dir("etc"), Self.file("etc/a", "a"), Self.file("etc/gone", "g"), Self.dir("srv"),
                Self.file("srv/old", "o"),
            ], store: store.content)
        let top = try Self.layer(
            [Self.file("etc/.wh.gone"), Self.dir("srv"), Self.file("srv/.wh..wh..opq"), Self.file("srv/new", "n")],
            store: store.content, gzip: false)
        func image(_ layers: [(Descriptor, Digest)]) -> Image {
            let config = ImageConfig(architecture: "amd64", config: nil, rootfs: .init(diffIDs: layers.map(\.1)))
            let manifest = Manifest(
                config: Descriptor(mediaType: MediaType.ociConfig, digest: layers[0].1, size: 0),
                layers: layers.map(\.0))
            return Image(name: "test", manifestDigest: layers[0].1, manifest: manifest, config: config)
        }
        let snapshots = Snapshotter(root: root)
        // Two images sharing the base, prepared at once: the base is unpacked one time.
        async let one = Task.detached { try snapshots.prepare(image([base, top]), content: store.content) }.value
        async let two = Task.detached { try snapshots.prepare(image([base]), content: store.content) }.value
        let (lowers, baseOnly) = try await (one, two)
        #expect(lowers.count == 2 && baseOnly == [lowers[1]])
        let entries = try FileManager.default.contentsOfDirectory(atPath: root + "/snapshots").filter {
            !$0.hasSuffix(".lock")
        }
        #expect(entries.count == 2 && !entries.contains { $0.hasPrefix(".tmp") })

        try FileManager.default.createDirectory(atPath: root + "/merged", withIntermediateDirectories: true)
        for dir in ["upper", "work"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        let options =
            "lowerdir=\(lowers.joined(separator: ":")),upperdir=\(root)/upper,workdir=\(root)/work,redirect_dir=off,index=off,metacopy=off"
        // The temp dir is on a real filesystem here and a tmpfs in the sandbox: overlayfs mounts.
        try #require(mount("overlay", root + "/merged", "overlay", 0, options) == 0, "mount: \(errno)")
        let merged = try FileManager.default.contentsOfDirectory(atPath: root + "/merged/etc").sorted()
        #expect(merged == ["a"])  // the whiteout hides etc/gone
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/merged/srv") == ["new"])  // opaque
        _ = umount2(root + "/merged", Int32(MNT_DETACH))

        // Collected: what no image keeps, and a leftover of an interrupted unpack.
        _ = umount2(root + "/merged", Int32(MNT_DETACH))
        try FileManager.default.createDirectory(
            atPath: root + "/snapshots/.tmp-killed/fs", withIntermediateDirectories: true)
        let swept = snapshots.collectGarbage(keep: [base.1])
        #expect(swept.removed == 1)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: root + "/snapshots").filter { !$0.hasSuffix(".lock") }
                == [base.1.hex])
        #expect(try FileManager.default.contentsOfDirectory(atPath: root + "/l").count == 1)
    }
}
