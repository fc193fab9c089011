import CArchive
import Foundation

/// Layers unpacked once, keyed by chain ID (as containerd does), and shared by every image and
/// container whose stack agrees up to them:
///
///     ROOT/snapshots/CHAIN/fs      the layer's tree, in overlay form
///     ROOT/snapshots/CHAIN/link    its short name
///     ROOT/l/SHORT -> ../snapshots/CHAIN/fs
///
/// A container's overlay names its lower layers by their short links, so even a deep stack
/// fits the one page a mount's options may take. A layer is unpacked into
/// ROOT/snapshots/.tmp-*, synced, and renamed into place whole: no half-unpacked layer is ever
/// used. A flock per chain ID makes two pulls that share a layer unpack it once. A build step's
/// upper directory, already in overlay form, becomes a snapshot the same way (`adopt`).
public struct Snapshotter: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    var directory: String { root + "/snapshots" }
    var links: String { root + "/l" }

    public func path(_ chain: Digest) -> String { directory + "/" + chain.hex + "/fs" }
    static func shortName(_ chain: Digest) -> String { String(chain.hex.prefix(12)) }

    public func contains(_ chain: Digest) -> Bool { access(directory + "/" + chain.hex + "/link", F_OK) == 0 }

    /// Unpacks what is missing of an image's layers; returns its lower directories (short
    /// links), topmost first. Call with the store lock held (shared).
    public func prepare(_ image: Image, content: ContentStore) throws(StoreError) -> [String] {
        let diffIDs = image.config.rootfs.diffIDs
        guard diffIDs.count == image.manifest.layers.count else {
            throw StoreError(
                "image \(image.name): its config names \(diffIDs.count) layers, its manifest \(image.manifest.layers.count)"
            )
        }
        let chains = ChainID.chain(diffIDs)
        for (index, chain) in chains.enumerated() where !contains(chain) {
            try unpack(image.manifest.layers[index], diffID: diffIDs[index], chain: chain, content: content)
        }
        return chains.reversed().map { links + "/" + Self.shortName($0) }
    }

    /// Unpacks one layer of a stack (its chain ID names it) unless it is there already. Layers
    /// are independent in overlay form, so a pull unpacks each as soon as its blob is stored,
    /// several at once; `prepare` then finds them.
    public func unpack(_ layer: Descriptor, diffID: Digest, chain: Digest, content: ContentStore)
        throws(StoreError)
    {
        try withChainLock(chain) { () throws(StoreError) in
            guard content.contains(layer.digest) else {
                throw StoreError("layer \(layer.digest) is not in the store")
            }
            let temp = temporary(chain)
            let fs = temp + "/fs"
            guard mkdir(temp, 0o700) == 0, mkdir(fs, 0o755) == 0 else { throw StoreError.system("cannot create", fs) }
            do throws(StoreError) {
                let unpacked = try LayerUnpacker(blob: content.path(layer.digest), destination: fs).unpack()
                guard unpacked == diffID else {
                    throw StoreError("layer \(layer.digest) unpacks to \(unpacked), not the \(diffID) its image names")
                }
                try store(temp, chain: chain)
            } catch {
                removeTree(temp)
                throw error
            }
        }
    }

    /// Runs `body` holding the chain's flock, unless the snapshot is there already or another
    /// process stored it while we waited for the lock. Returns whether `body` ran.
    @discardableResult
    func withChainLock(_ chain: Digest, _ body: () throws(StoreError) -> Void) throws(StoreError) -> Bool {
        if contains(chain) { return false }
        try Directories.create(directory)
        try Directories.create(links)
        let lockPath = directory + "/" + chain.hex + ".lock"
        let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw StoreError.system("cannot open", lockPath) }
        defer { close(lock) }
        guard flock(lock, LOCK_EX) == 0 else { throw StoreError.system("cannot lock", lockPath) }
        if contains(chain) { return false }  // another pull unpacked it while we waited
        try body()
        return true
    }

    /// A fresh name under snapshots/ for a snapshot being made (GC removes leftovers).
    func temporary(_ chain: Digest) -> String {
        directory + "/.tmp-" + chain.hex.prefix(16) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
    }

    /// Makes `temp` (its tree in `temp`/fs) the snapshot of `chain`: its link file, a sync, its
    /// short link, and the rename that makes it visible. Call with the chain's lock held; the
    /// caller removes `temp` if this fails.
    func store(_ temp: String, chain: Digest) throws(StoreError) {
        let fs = temp + "/fs"
        let short = Self.shortName(chain)
        try write(temp + "/link", short)
        // Everything on disk before the rename that makes it visible.
        let fd = open(fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            _ = berth_syncfs(fd)
            close(fd)
        }
        unlink(links + "/" + short)
        guard symlink("../snapshots/" + chain.hex + "/fs", links + "/" + short) == 0 else {
            throw StoreError.system("cannot link", links + "/" + short)
        }
        guard rename(temp, directory + "/" + chain.hex) == 0 else {
            throw StoreError.system("cannot store the layer", directory + "/" + chain.hex)
        }
    }

    private func write(_ path: String, _ text: String) throws(StoreError) {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
            throw StoreError.system("cannot write", path)
        }
    }

    func removeTree(_ path: String) {
        let parent = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        try? Paths.remove(parent, Array((path as NSString).lastPathComponent.utf8))
    }

    /// Removes every snapshot not in `keep`, every interrupted unpack, and links to nothing.
    /// Called by GC with the store lock held exclusively. Returns (snapshots removed, bytes).
    func collectGarbage(keep: Set<Digest>) -> (removed: Int, bytes: Int64) {
        var removed = 0
        var bytes: Int64 = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            if name.hasSuffix(".lock") {
                if Digest("sha256:" + name.dropLast(5)).map({ !keep.contains($0) }) ?? true {
                    unlink(directory + "/" + name)
                }
                continue
            }
            if let chain = Digest("sha256:" + name), keep.contains(chain) { continue }
            bytes += Self.size(directory + "/" + name)
            removeTree(directory + "/" + name)
            if !name.hasPrefix(".tmp-") { removed += 1 }
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: links)) ?? [] {
            var st = stat()
            if stat(links + "/" + name, &st) != 0 { unlink(links + "/" + name) }
        }
        return (removed, bytes)
    }

    static func size(_ path: String) -> Int64 {
        var total: Int64 = 0
        let files = FileManager.default.enumerator(atPath: path)?.compactMap { $0 as? String } ?? []
        for file in files {
            var st = stat()
            if lstat(path + "/" + file, &st) == 0 && st.st_mode & S_IFMT == S_IFREG {
                total += Int64(st.st_blocks) * 512
            }
        }
        return total
    }
}
