import BerthSpec
import Foundation

/// Named volumes under ROOT/volumes (see VolumeLayout): created whole or not at all, listed,
/// removed when no container uses them.
public struct VolumeStore: Sendable {
    public let root: String

    public init(root: String) { self.root = root }

    public var directory: String { VolumeLayout.volumes(root: root) }

    public func layout(_ name: String) -> VolumeLayout { VolumeLayout(root: root, name: name) }

    public static func isValidName(_ name: String) -> Bool { VolumeMount.isValidVolumeName(name) }

    /// A new name as Docker gives an anonymous volume: 64 hex digits.
    public static func randomName() -> String { Runtime.newID() }

    /// Prefixes of the leftovers of a create or a remove that was interrupted.
    static let newPrefix = ".new-"
    static let removingPrefix = ".removing-"

    /// The volume's record; nil when there is no such volume. A volume made before records
    /// were kept gets one made up from its directory.
    public func record(_ name: String) -> VolumeRecord? {
        guard Self.isValidName(name) else { return nil }
        let layout = layout(name)
        if let data = FileManager.default.contents(atPath: layout.recordFile),
            let record = try? JSONDecoder().decode(VolumeRecord.self, from: data)
        {
            return record
        }
        var st = stat()
        guard stat(layout.directory, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return nil }
        return VolumeRecord(layout: layout, created: Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec)))
    }

    /// Every volume, by name.
    public func list() -> [VolumeRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.sorted().compactMap(record)
    }

    /// Which containers use each volume (running or not), by volume name.
    public func users() -> [String: [String]] { VolumeUsers.scan(root: root) }

    /// Creates the volume unless it exists: built in a directory of its own beside the others
    /// and renamed into place, so it appears whole (record, `_data`, lock) or not at all.
    /// Returns its record, and whether this call created it.
    @discardableResult
    public func create(_ name: String, labels: [String: String] = [:]) throws(RuntimeError) -> (
        record: VolumeRecord, created: Bool
    ) {
        guard Self.isValidName(name) else {
            throw RuntimeError(125, "invalid volume name \"\(name)\": \(VolumeMount.volumeNameRule)")
        }
        if let existing = record(name) { return (existing, false) }
        let layout = layout(name)
        let record = VolumeRecord(layout: layout, labels: labels)
        try Files.makeDirectories([directory])
        let temp = Array((Self.newPrefix + Runtime.newID().prefix(16)).utf8)
        guard let volumes = OpenFile.directory(path: directory),
            temp.withCName({ mkdirat(volumes.raw, $0, 0o701) }) == 0,
            let building = OpenFile.directory(volumes.raw, temp)
        else { throw RuntimeError(125, "cannot create the volume \(name): \(errorText())") }
        do throws(RuntimeError) {
            // Held until the rename, so that a prune does not take this for a leftover.
            let lock = openat(building.raw, VolumeLayout.lockName, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard lock >= 0, flock(lock, LOCK_EX) == 0 else {
                throw RuntimeError(125, "cannot create the volume \(name): \(errorText())")
            }
            defer { close(lock) }
            try Files.write(directory + "/" + temp.shown + "/" + VolumeLayout.recordName, record.bytes)
            guard VolumeLayout.dataName.withCName({ mkdirat(building.raw, $0, 0o755) }) == 0 else {
                throw RuntimeError(125, "cannot create the volume \(name): \(errorText())")
            }
            if try Self.renameNoReplace(volumes.raw, temp, volumes.raw, Array(name.utf8)) {
                return (record, true)
            }
        } catch {
            try? DirectoryTree.remove(volumes.raw, temp)
            throw error
        }
        // Another berth created it first.
        try? DirectoryTree.remove(volumes.raw, temp)
        guard let existing = self.record(name) else {
            throw RuntimeError(125, "cannot create the volume \(name): it was removed while being created")
        }
        return (existing, false)
    }

    /// Removes the volume unless a container uses it; false when there is no such volume.
    @discardableResult
    public func remove(_ name: String) throws(RuntimeError) -> Bool {
        guard Self.isValidName(name), let lock = try VolumeLock.acquire(layout(name)) else { return false }
        // Under the volume's lock: a container being created has claimed it by now, or it will
        // find the volume gone and create it afresh.
        if let containers = users()[name], !containers.isEmpty {
            throw RuntimeError(
                1,
                "remove \(name): volume is in use by container\(containers.count == 1 ? "" : "s") "
                    + containers.joined(separator: ", "))
        }
        try discard(name, lock)
        return true
    }

    /// Removes every volume no container uses, and what interrupted creates and removes left;
    /// returns the names removed and the bytes each held.
    public func prune() throws(RuntimeError) -> [(name: String, size: UInt64)] {
        cleanLeftovers()
        var locked: [(String, VolumeLock)] = []
        for record in list() {
            if let lock = try VolumeLock.acquire(layout(record.name)) { locked.append((record.name, lock)) }
        }
        let users = users()
        var removed: [(name: String, size: UInt64)] = []
        for (name, lock) in locked where users[name]?.isEmpty ?? true {
            let data = OpenFile.directory(lock.directory.raw, VolumeLayout.dataName)
            let size = data.map { DirectoryTree.size($0.raw) } ?? 0
            try discard(name, lock)
            removed.append((name, size))
        }
        return removed
    }

    /// Renames the volume's directory away (the volume is gone at that instant, for every
    /// reader), then deletes it; a crash in between leaves only a leftover for prune.
    private func discard(_ name: String, _ lock: VolumeLock) throws(RuntimeError) {
        let away = Array((Self.removingPrefix + Runtime.newID().prefix(16)).utf8)
        guard let volumes = OpenFile.directory(path: directory), volumes.rename(Array(name.utf8), to: away) else {
            throw RuntimeError(125, "cannot remove the volume \(name): \(errorText())")
        }
        try withExtendedLifetime(lock) { () throws(RuntimeError) in try DirectoryTree.remove(volumes.raw, away) }
    }

    /// Leftovers of creates and removes that were killed, unless someone still works on them.
    private func cleanLeftovers() {
        guard let volumes = OpenFile.directory(path: directory) else { return }
        for name in (try? DirectoryTree.names(volumes.raw)) ?? [] {
            guard name.starts(with: Array(Self.newPrefix.utf8)) || name.starts(with: Array(Self.removingPrefix.utf8)),
                let leftover = OpenFile.directory(volumes.raw, name),
                let lock = VolumeLock.tryAcquire(leftover)
            else { continue }
            withExtendedLifetime(lock) { try? DirectoryTree.remove(volumes.raw, name) }
        }
    }

    /// rename that fails instead of replacing; false when the destination exists.
    static func renameNoReplace(_ fromDirectory: Int32, _ from: [UInt8], _ toDirectory: Int32, _ to: [UInt8])
        throws(RuntimeError) -> Bool
    {
        let r = from.withCName { old in
            to.withCName { LinuxCalls.renameat2(fromDirectory, old, toDirectory, $0, LinuxCalls.renameNoReplace) }
        }
        if r == 0 { return true }
        if errno == EEXIST { return false }
        guard errno == EINVAL else { throw RuntimeError(125, "cannot rename \(from.shown): \(errorText())") }
        // A filesystem without RENAME_NOREPLACE: check, then rename. Only a name that appears in
        // between could be replaced, and rename never replaces a directory that is not empty.
        var st = stat()
        if to.withCName({ fstatat(toDirectory, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0 { return false }
        guard from.withCName({ old in to.withCName { renameat(fromDirectory, old, toDirectory, $0) } }) == 0 else {
            if errno == ENOTEMPTY || errno == EEXIST { return false }
            throw RuntimeError(125, "cannot rename \(from.shown): \(errorText())")
        }
        return true
    }
}
