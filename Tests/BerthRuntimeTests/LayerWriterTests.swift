import CArchive
import Foundation
import Testing

@testable import BerthStore

/// Trees in overlay form written as layers, read back, unpacked again, and adopted as snapshots.
@Suite(.serialized) struct LayerWriterTests {
    /// What a tree holds at one path, as compared between a source and what its layer unpacks to.
    struct Node: Equatable, CustomStringConvertible {
        var type: UInt32
        var mode: UInt32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        var size: Int64 = 0
        var content: [UInt8] = []
        var link: [UInt8] = []
        var rdev: UInt = 0
        var xattrs: [String: [UInt8]] = [:]
        var mtime = [0, 0]

        var description: String {
            "type \(String(type, radix: 8)) mode \(String(mode, radix: 8)) \(uid):\(gid) size \(size) rdev \(rdev) "
                + "link \(String(decoding: link, as: UTF8.self)) xattrs \(xattrs.keys.sorted()) mtime \(mtime)"
        }
    }

    /// A v2 security.capability granting cap_net_bind_service (effective).
    static let capability: [UInt8] = [0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0, 0] + [UInt8](repeating: 0, count: 12)
    static let big = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }

    static func check(_ result: Int32, _ what: String) throws {
        try #require(result == 0, "\(what): \(String(cString: strerror(errno)))")
    }

    static func setXattr(_ path: String, _ name: String, _ value: [UInt8]) throws {
        try check(lsetxattr(path, name, value, value.count, 0), "setxattr \(name) \(path)")
    }

    static func write(_ path: String, _ bytes: [UInt8]) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Every kind of entry an upper directory can hold, in overlay form, under `root`.
    static func makeTree(_ root: String) throws {
        let fm = FileManager.default
        for dir in ["dev", "etc", "home/user", "opt/app", "usr/bin", "var"] {
            try fm.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        try write(root + "/caf\u{E9}", Array("accent\n".utf8))
        try check(mkfifo(root + "/dev/fifo", 0o600), "mkfifo")
        try check(mknod(root + "/dev/null", S_IFCHR | 0o666, berth_makedev(1, 3)), "mknod null")
        try check(chmod(root + "/dev/null", 0o666), "chmod")  // past the umask
        try check(mknod(root + "/dev/sock", S_IFSOCK | 0o755, 0), "mknod socket")
        try write(root + "/etc/big", big)
        try write(root + "/etc/empty", [])
        try write(root + "/etc/hard", Array("hi\n".utf8))
        try check(link(root + "/etc/hard", root + "/etc/hello"), "link")
        try check(symlink("hello", root + "/etc/link"), "symlink")
        try write(root + "/etc/tagged", Array("x".utf8))
        try setXattr(root + "/etc/tagged", "user.color", Array("blue".utf8))
        try setXattr(root + "/etc/tagged", "trusted.overlay.origin", [0, 0xFB, 0x21, 7])
        try setXattr(root + "/etc", "trusted.overlay.impure", Array("y".utf8))
        try write(root + "/home/user/.profile", Array("export A=1\n".utf8))
        try check(chown(root + "/home/user/.profile", 1000, 1000), "chown")
        try check(chown(root + "/home/user", 1000, 1000), "chown")
        try check(chmod(root + "/home/user", 0o700), "chmod")
        try setXattr(root + "/opt/app", "trusted.overlay.opaque", Array("y".utf8))
        try write(root + "/opt/app/-early", Array("e".utf8))
        try write(root + "/opt/app/new", Array("n".utf8))
        try write(root + "/usr/bin/tool", Array("#!/bin/sh\n".utf8))
        try check(chown(root + "/usr/bin/tool", 1000, 50), "chown")  // before chmod: it clears setuid
        try check(chmod(root + "/usr/bin/tool", 0o4755), "chmod")
        try write(root + "/usr/bin/ping", Array("ping".utf8))
        try check(chmod(root + "/usr/bin/ping", 0o755), "chmod")
        try setXattr(root + "/usr/bin/ping", "security.capability", capability)
        try check(mknod(root + "/var/gone", S_IFCHR, 0), "mknod whiteout")
        try write(root + "/var/keep", Array("k".utf8))
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 123_456_789), timespec(tv_sec: 0, tv_nsec: 0)]
        times[1] = times[0]
        try check(utimensat(AT_FDCWD, root + "/etc/hard", &times, 0), "utimensat")
        try check(utimensat(AT_FDCWD, root + "/usr/bin", &times, 0), "utimensat")
    }

    static func xattrs(_ path: String) -> [String: [UInt8]] {
        var names = [CChar](repeating: 0, count: 4096)
        let n = llistxattr(path, &names, names.count)
        guard n > 0 else { return [:] }
        var result: [String: [UInt8]] = [:]
        for key in names[0..<n].split(separator: 0).map({ String(cString: Array($0) + [0]) }) {
            var value = [UInt8](repeating: 0, count: 4096)
            let size = lgetxattr(path, key, &value, value.count)
            if size >= 0 { result[key] = Array(value[0..<size]) }
        }
        return result
    }

    /// The tree under `root` by relative path (sockets left out, whiteouts reduced to what
    /// makes them whiteouts), and which paths share an inode.
    static func scan(_ root: String) throws -> (nodes: [String: Node], inodes: [String: UInt64]) {
        var nodes: [String: Node] = [:]
        var inodes: [String: UInt64] = [:]
        let paths = try FileManager.default.subpathsOfDirectory(atPath: root)
        for path in paths {
            let full = root + "/" + path
            var st = stat()
            try check(lstat(full, &st), "lstat \(full)")
            let type = st.st_mode & S_IFMT
            if type == S_IFSOCK { continue }
            if type == S_IFCHR && st.st_rdev == 0 {
                nodes[path] = Node(type: type)
                continue
            }
            var node = Node(
                type: type, mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, rdev: st.st_rdev,
                xattrs: xattrs(full), mtime: [st.st_mtim.tv_sec, st.st_mtim.tv_nsec])
            if type == S_IFREG {
                node.size = Int64(st.st_size)
                node.content = Array(try Data(contentsOf: URL(fileURLWithPath: full)))
            }
            if type == S_IFLNK {
                node.link = Array(try FileManager.default.destinationOfSymbolicLink(atPath: full).utf8)
            }
            nodes[path] = node
            inodes[path] = UInt64(st.st_ino)
        }
        return (nodes, inodes)
    }

    /// One entry of a tar as libarchive reads it.
    struct TarEntry {
        var path: String
        var type: UInt32
        var mode: UInt32
        var uid: Int64
        var gid: Int64
        var size: Int64
        var hardlink: String?
        var symlink: String?
        var rdev: (UInt, UInt)
        var xattrs: [String: [UInt8]]
        var mtime: [Int]
        var hasUname: Bool
    }

    static func readTar(_ blob: String) throws -> [TarEntry] {
        let archive = try #require(archive_read_new())
        defer { archive_read_free(archive) }
        archive_read_support_filter_gzip(archive)
        archive_read_support_format_tar(archive)
        try #require(archive_read_open_filename(archive, blob, 1 << 16) == ARCHIVE_OK)
        var entries: [TarEntry] = []
        var entry: OpaquePointer?
        while true {
            let r = archive_read_next_header(archive, &entry)
            if r == ARCHIVE_EOF { break }
            try #require(r == ARCHIVE_OK || r == ARCHIVE_WARN, "\(String(cString: archive_error_string(archive)))")
            let entry = try #require(entry)
            var xattrs: [String: [UInt8]] = [:]
            if archive_entry_xattr_reset(entry) > 0 {
                var key: UnsafePointer<CChar>?
                var value: UnsafeRawPointer?
                var size = 0
                while archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK {
                    xattrs[String(cString: key!)] = Array(UnsafeRawBufferPointer(start: value, count: size))
                }
            }
            entries.append(
                TarEntry(
                    path: String(decoding: Paths.bytes(archive_entry_pathname(entry)), as: UTF8.self),
                    type: archive_entry_filetype(entry), mode: archive_entry_perm(entry),
                    uid: archive_entry_uid(entry), gid: archive_entry_gid(entry), size: archive_entry_size(entry),
                    hardlink: archive_entry_hardlink(entry).map { String(cString: $0) },
                    symlink: archive_entry_symlink(entry).map { String(cString: $0) },
                    rdev: (archive_entry_rdevmajor(entry), archive_entry_rdevminor(entry)), xattrs: xattrs,
                    mtime: [archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)],
                    hasUname: [archive_entry_uname(entry), archive_entry_gname(entry)].contains {
                        $0.map { strlen($0) > 0 } ?? false
                    }))
        }
        return entries
    }

    /// A scratch directory with a tree in `src` and a content store; removed by the caller.
    static func setUp(_ stem: String) throws -> (root: String, content: ContentStore) {
        let root = ImageArchiveTests.temp(stem)
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        try makeTree(root + "/src")
        return (root, ContentStore(root: root + "/store"))
    }

    static func ingestIsEmpty(_ content: ContentStore) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: content.ingestDirectory)) ?? []).isEmpty
    }

    @Test func theTarHoldsEveryKindInOCIForm() throws {
        let (root, content) = try Self.setUp("lw-tar")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layer = try LayerWriter.write(directory: root + "/src", content: content)
        #expect(!layer.isEmpty)
        #expect(layer.descriptor.mediaType == MediaType.ociLayerGzip)
        let entries = try Self.readTar(content.path(layer.descriptor.digest))
        #expect(
            entries.map(\.path) == [
                "caf\u{E9}", "dev/", "dev/fifo", "dev/null", "etc/", "etc/big", "etc/empty", "etc/hard", "etc/hello",
                "etc/link", "etc/tagged", "home/", "home/user/", "home/user/.profile", "opt/", "opt/app/",
                "opt/app/.wh..wh..opq", "opt/app/-early", "opt/app/new", "usr/", "usr/bin/", "usr/bin/ping",
                "usr/bin/tool", "var/", "var/.wh.gone", "var/keep",
            ])
        let byPath = Dictionary(uniqueKeysWithValues: entries.map { ($0.path, $0) })
        let src = root + "/src/"
        for entry in entries {
            #expect(!entry.hasUname, "\(entry.path) names its owner")
            let source = src + entry.path.replacingOccurrences(of: ".wh.gone", with: "gone")
            var st = stat()
            guard !entry.path.hasSuffix(".wh..wh..opq"), lstat(source, &st) == 0 else { continue }
            #expect(entry.mtime == [st.st_mtim.tv_sec, st.st_mtim.tv_nsec], "\(entry.path)")
            #expect(entry.uid == Int64(st.st_uid) && entry.gid == Int64(st.st_gid), "\(entry.path)")
        }
        // Nanoseconds kept even where no other attribute needs an extended header.
        #expect(byPath["etc/hard"]?.mtime == [1_600_000_000, 123_456_789])
        #expect(byPath["usr/bin/"]?.mtime == [1_600_000_000, 123_456_789])
        let whiteout = try #require(byPath["var/.wh.gone"])
        #expect(whiteout.type == 0o100000 && whiteout.size == 0)
        let opaque = try #require(byPath["opt/app/.wh..wh..opq"])
        #expect(opaque.type == 0o100000 && opaque.size == 0 && opaque.xattrs.isEmpty)
        #expect(byPath["opt/app/"]?.xattrs.isEmpty == true)  // the marker instead of the attribute
        #expect(byPath["etc/"]?.xattrs.isEmpty == true)  // trusted.overlay.impure left out
        #expect(byPath["etc/hard"]?.size == 3 && byPath["etc/hard"]?.hardlink == nil)
        #expect(byPath["etc/hello"]?.hardlink == "etc/hard" && byPath["etc/hello"]?.size == 0)
        #expect(byPath["etc/big"]?.size == Int64(Self.big.count))
        #expect(byPath["etc/link"]?.type == 0o120000 && byPath["etc/link"]?.symlink == "hello")
        #expect(byPath["etc/tagged"]?.xattrs == ["user.color": Array("blue".utf8)])
        #expect(byPath["usr/bin/ping"]?.xattrs == ["security.capability": Self.capability])
        #expect(byPath["usr/bin/tool"]?.mode == 0o4755)
        #expect(byPath["usr/bin/tool"]?.uid == 1000 && byPath["usr/bin/tool"]?.gid == 50)
        #expect(byPath["home/user/"]?.mode == 0o700 && byPath["home/user/"]?.uid == 1000)
        #expect(byPath["home/user/"]?.type == 0o040000 && byPath["home/user/"]?.gid == 1000)
        #expect(byPath["dev/fifo"]?.type == 0o010000 && byPath["dev/fifo"]?.mode == 0o600)
        #expect(byPath["dev/null"]?.type == 0o020000 && byPath["dev/null"]?.mode == 0o666)
        #expect(byPath["dev/null"].map { $0.rdev == (1, 3) } == true)

        // Attributes as pax SCHILY.xattr records.
        let plain = try Self.gunzip(content.path(layer.descriptor.digest))
        #expect(Self.contains(plain, "SCHILY.xattr.user.color=blue"))
        #expect(!Self.contains(plain, "trusted.overlay"))
        #expect(!Self.contains(plain, "uname") && !Self.contains(plain, "gname"))
    }

    @Test func theLayerUnpacksToTheSameTree() throws {
        let (root, content) = try Self.setUp("lw-roundtrip")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layer = try LayerWriter.write(directory: root + "/src", content: content)
        try FileManager.default.createDirectory(atPath: root + "/out", withIntermediateDirectories: true)
        let diffID = try LayerUnpacker(blob: content.path(layer.descriptor.digest), destination: root + "/out")
            .unpack()
        #expect(diffID == layer.diffID)
        var (expected, _) = try Self.scan(root + "/src")
        expected["etc/tagged"]?.xattrs["trusted.overlay.origin"] = nil
        expected["etc"]?.xattrs["trusted.overlay.impure"] = nil
        let (unpacked, inodes) = try Self.scan(root + "/out")
        #expect(unpacked.keys.sorted() == expected.keys.sorted())
        // Every entry as it was, directories' times too (restored after their contents).
        for (path, node) in expected {
            #expect(unpacked[path] == node, "\(path): \(unpacked[path].map { "\($0)" } ?? "missing") != \(node)")
        }
        #expect(unpacked["opt/app"]?.xattrs["trusted.overlay.opaque"] == Array("y".utf8))
        #expect(inodes["etc/hard"] == inodes["etc/hello"])
    }

    @Test func theDiffIDIsTheTarsDigestAndTheBlobIsStored() throws {
        let (root, content) = try Self.setUp("lw-digest")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layer = try LayerWriter.write(directory: root + "/src", content: content)
        let path = content.path(layer.descriptor.digest)
        #expect(content.contains(layer.descriptor.digest))
        #expect(content.size(layer.descriptor.digest) == layer.descriptor.size)
        #expect(Digest(of: try content.read(layer.descriptor.digest)) == layer.descriptor.digest)
        let plain = try Self.gunzip(path)
        #expect(Digest(of: plain) == layer.diffID)
        #expect(try LayerUnpacker.plainDigest(path) == layer.diffID)
        // The tar ends with its two zero blocks, unpadded; the gzip stream has no timestamp.
        #expect(plain.count % 512 == 0 && plain.suffix(1024).allSatisfy { $0 == 0 })
        #expect(try content.read(layer.descriptor.digest)[4..<8].allSatisfy { $0 == 0 })
        #expect(Self.ingestIsEmpty(content))
        // The same tree, the same blob.
        let again = try LayerWriter.write(directory: root + "/src", content: content)
        #expect(again.descriptor == layer.descriptor && again.diffID == layer.diffID)
    }

    @Test func skippedPathsAreLeftOutWithWhatIsUnderThem() throws {
        let (root, content) = try Self.setUp("lw-skip")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layer = try LayerWriter.write(
            directory: root + "/src", content: content, skip: ["etc/hard", "opt", "/var/gone", "./usr/bin/"])
        let entries = try Self.readTar(content.path(layer.descriptor.digest))
        #expect(
            entries.map(\.path) == [
                "caf\u{E9}", "dev/", "dev/fifo", "dev/null", "etc/", "etc/big", "etc/empty", "etc/hello", "etc/link",
                "etc/tagged", "home/", "home/user/", "home/user/.profile", "usr/", "var/", "var/keep",
            ])
        // The other name of a skipped file is the one with the content.
        let hello = try #require(entries.first { $0.path == "etc/hello" })
        #expect(hello.hardlink == nil && hello.size == 3)
    }

    @Test func anEmptyDirectoryIsAnEmptyLayer() throws {
        let root = ImageArchiveTests.temp("lw-empty")
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        let content = ContentStore(root: root + "/store")
        let layer = try LayerWriter.write(directory: root + "/src", content: content)
        #expect(layer.isEmpty)
        // Docker's empty layer: two zero blocks.
        #expect(layer.diffID == Digest(of: [UInt8](repeating: 0, count: 1024)))
        #expect(layer.diffID.hex == "5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef")
        #expect(content.contains(layer.descriptor.digest))
        #expect(try Self.gunzip(content.path(layer.descriptor.digest)) == [UInt8](repeating: 0, count: 1024))

        try FileManager.default.createDirectory(atPath: root + "/src/only", withIntermediateDirectories: true)
        #expect(!(try LayerWriter.write(directory: root + "/src", content: content).isEmpty))
        #expect(try LayerWriter.write(directory: root + "/src", content: content, skip: ["only"]).isEmpty)
    }

    @Test func aFailureLeavesNothingInTheStore() throws {
        let root = ImageArchiveTests.temp("lw-fail")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let content = ContentStore(root: root + "/store")
        let error = #expect(throws: StoreError.self) {
            _ = try LayerWriter.write(directory: root + "/missing", content: content)
        }
        #expect(error?.description.contains(root + "/missing") == true)
        #expect(Self.ingestIsEmpty(content))
        #expect(try FileManager.default.contentsOfDirectory(atPath: content.blobs).isEmpty)
    }

    @Test func anAdoptedDirectoryIsTheSnapshot() throws {
        let (root, _) = try Self.setUp("lw-adopt")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let snapshots = Snapshotter(root: root + "/store")
        let chain = Digest(of: Array("chain".utf8))
        var (expected, _) = try Self.scan(root + "/src")
        expected["etc/tagged"]?.xattrs["trusted.overlay.origin"] = nil
        expected["etc"]?.xattrs["trusted.overlay.impure"] = nil

        try snapshots.adopt(root + "/src", chain: chain)
        #expect(!FileManager.default.fileExists(atPath: root + "/src"))
        #expect(snapshots.contains(chain))
        let (adopted, _) = try Self.scan(snapshots.path(chain))
        #expect(adopted == expected)
        #expect(adopted["opt/app"]?.xattrs["trusted.overlay.opaque"] == Array("y".utf8))
        #expect(adopted["etc/tagged"]?.xattrs["trusted.overlay.origin"] == nil)
        let short = root + "/store/l/" + Snapshotter.shortName(chain)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: short) == "../snapshots/\(chain.hex)/fs")
        #expect(FileManager.default.fileExists(atPath: short + "/etc/hello"))

        // Adopting the same chain again keeps the first and removes the second directory.
        try FileManager.default.createDirectory(atPath: root + "/second", withIntermediateDirectories: true)
        try Self.write(root + "/second/other", Array("2".utf8))
        try snapshots.adopt(root + "/second", chain: chain)
        #expect(!FileManager.default.fileExists(atPath: root + "/second"))
        #expect(!FileManager.default.fileExists(atPath: snapshots.path(chain) + "/other"))
        #expect(FileManager.default.fileExists(atPath: snapshots.path(chain) + "/etc/hello"))
        let names = try FileManager.default.contentsOfDirectory(atPath: root + "/store/snapshots")
        #expect(names.sorted() == [chain.hex, chain.hex + ".lock"])
    }

    @Test func adoptingAcrossFilesystemsIsRefused() throws {
        var shm = stat()
        var tmp = stat()
        let store = ImageArchiveTests.temp("lw-exdev")
        try FileManager.default.createDirectory(atPath: store, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: store) }
        guard stat("/dev/shm", &shm) == 0, stat(store, &tmp) == 0, shm.st_dev != tmp.st_dev else { return }
        let upper = "/dev/shm/berth-lw-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: upper, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: upper) }
        try Self.write(upper + "/file", Array("f".utf8))
        let chain = Digest(of: Array("elsewhere".utf8))
        let error = #expect(throws: StoreError.self) { try Snapshotter(root: store).adopt(upper, chain: chain) }
        #expect(error?.description.contains("not on the filesystem") == true, "\(error.map { "\($0)" } ?? "")")
        #expect(FileManager.default.fileExists(atPath: upper + "/file"))  // left where it was
        #expect(!Snapshotter(root: store).contains(chain))
        let names = try FileManager.default.contentsOfDirectory(atPath: store + "/snapshots")
        #expect(!names.contains { $0.hasPrefix(".tmp-") })
    }

    static func gunzip(_ path: String) throws -> [UInt8] {
        let raw = try Archive.openRaw(path)
        defer { archive_read_free(raw.archive) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = archive_read_data(raw.archive, &buffer, buffer.count)
            try #require(n >= 0)
            if n == 0 { return result }
            result += buffer[0..<n]
        }
    }

    static func contains(_ bytes: [UInt8], _ text: String) -> Bool {
        Data(bytes).range(of: Data(text.utf8)) != nil
    }
}
