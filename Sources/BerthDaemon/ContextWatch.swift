import BerthReconciler
import BerthSpec
import Foundation

/// A build context's state as one value: every entry's path, type, mode, size, mtime, inode
/// and (for a link) target, the Containerfile's too when it lies outside, and the build args.
/// Equal values mean nothing a build reads has changed; a changed value means a build, whose
/// layer cache then decides what actually changed. Only stat(2), never the contents. Stable
/// across runs (FNV-1a), so a restarted berthd does not build again what it built.
enum ContextFingerprint {
    static let maximumEntries = 200_000

    /// nil when the context cannot be read or holds more than `maximumEntries`.
    static func of(_ build: BuildSpec) -> String? {
        var hasher = StableHasher()
        var count = 0
        guard walk(build.context, relative: "", into: &hasher, count: &count) else { return nil }
        for name in [build.file].compactMap({ $0 }) + ["Containerfile", "Dockerfile"] {
            let path = name.hasPrefix("/") ? name : build.context + "/" + name
            hash(path, as: name, into: &hasher)
        }
        for (key, value) in build.args.sorted(by: { $0.key < $1.key }) {
            hasher.combine(key)
            hasher.combine(value)
        }
        return String(hasher.value, radix: 16)
    }

    private static func walk(
        _ directory: String, relative: String, into hasher: inout StableHasher, count: inout Int
    )
        -> Bool
    {
        guard let dir = opendir(directory) else { return relative != "" }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names.sorted() {
            count += 1
            guard count <= maximumEntries else { return false }
            let path = directory + "/" + name
            if hash(path, as: relative + name, into: &hasher) == S_IFDIR {
                guard walk(path, relative: relative + name + "/", into: &hasher, count: &count) else { return false }
            }
        }
        return true
    }

    @discardableResult
    private static func hash(_ path: String, as name: String, into hasher: inout StableHasher) -> mode_t {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            hasher.combine(name)
            hasher.combine(-1)
            return 0
        }
        hasher.combine(name)
        hasher.combine(Int(st.st_mode))
        hasher.combine(Int(st.st_size))
        hasher.combine(Int(st.st_mtim.tv_sec))
        hasher.combine(Int(st.st_mtim.tv_nsec))
        hasher.combine(Int(bitPattern: UInt(st.st_ino)))
        if st.st_mode & S_IFMT == S_IFLNK {
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &target, target.count - 1)
            if n > 0 { hasher.combine(String(decoding: target[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return st.st_mode & S_IFMT
    }
}

/// FNV-1a, 64 bits: the same value in every process (Swift's Hasher is seeded per process).
struct StableHasher {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func combine(_ text: String) {
        for byte in text.utf8 { mix(byte) }
        mix(0)
    }

    mutating func combine(_ number: Int) {
        withUnsafeBytes(of: number.littleEndian) { for byte in $0 { mix(byte) } }
    }

    private mutating func mix(_ byte: UInt8) {
        value = (value ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
    }
}

/// Wakes berthd when a file in a build context changes: inotify on every directory of each
/// context (new directories are watched as they appear). Events only make a pass happen; the
/// fingerprint then says whether a build is due.
final class ContextWatcher {
    static let maximumDirectories = 8192
    static let mask: UInt32 =
        UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_MOVED_FROM) | UInt32(IN_CREATE)
        | UInt32(IN_DELETE) | UInt32(IN_ATTRIB) | UInt32(IN_DELETE_SELF) | UInt32(IN_ONLYDIR)

    let fd: Int32
    private var watches: [Int32: String] = [:]
    private var contexts: Set<String> = []
    /// Contexts too large to watch whole, told once each.
    private(set) var truncated: [String] = []

    init() throws {
        fd = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        guard fd >= 0 else { throw ControlError("inotify_init1: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    /// Watches exactly these contexts' trees from now on.
    func watch(_ wanted: Set<String>) {
        guard wanted != contexts else { return }
        for (wd, path) in watches where !wanted.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) {
            inotify_rm_watch(fd, wd)
            watches[wd] = nil
        }
        for context in wanted.subtracting(contexts) { addTree(context, context: context) }
        contexts = wanted
    }

    private func addTree(_ directory: String, context: String) {
        var queue = [directory]
        while let next = queue.popLast() {
            if watches.count >= Self.maximumDirectories {
                if !truncated.contains(context) { truncated.append(context) }
                return
            }
            let wd = inotify_add_watch(fd, next, Self.mask)
            guard wd >= 0 else { continue }
            watches[wd] = next
            guard let dir = opendir(next) else { continue }
            while let entry = readdir(dir) {
                guard entry.pointee.d_type == DT_DIR else { continue }
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name != "." && name != ".." { queue.append(next + "/" + name) }
            }
            closedir(dir)
        }
    }

    /// Reads what is queued (a directory made or moved in gets its watches); true when
    /// anything came.
    func drain() -> Bool {
        let events = InotifyEvent.readAll(fd)
        for event in events {
            if event.has(IN_IGNORED) { watches[event.watch] = nil }
            if event.has(IN_ISDIR), event.has(IN_CREATE) || event.has(IN_MOVED_TO), let parent = watches[event.watch],
                let context = contexts.first(where: { parent == $0 || parent.hasPrefix($0 + "/") })
            {
                addTree(parent + "/" + event.name, context: context)
            }
        }
        return !events.isEmpty
    }
}
