import BerthSpec
import Foundation

/// What berth records about a container when it creates it (container.json), written once by
/// the creator and never changed; the supervisor's `state` says what became of it.
public struct ContainerRecord: Codable, Sendable {
    public var id: String
    public var name: String
    public var image: String
    public var argv: [String]
    /// Nanoseconds since the epoch.
    public var created: UInt64
    public var rootfs: String
    public var hostname: String
    public var user: String?
    public var workdir: String?
    public var network: String
    public var env: [String]
    /// "cli" for `berth run`; later the spec file that owns the container.
    public var owner: String
    /// The named volumes it mounts (nil in records written before volumes were recorded).
    public var volumes: [String]? = nil
}

/// A container found on disk: its record, its last state, and whether its supervisor lives.
public struct ContainerInfo: Sendable {
    public var record: ContainerRecord
    public var state: ContainerState?
    public var supervisorAlive: Bool
    public var layout: ContainerLayout

    public var isRunning: Bool { supervisorAlive && state?.status == "running" }

    /// Docker's words: created, running, exited.
    public var status: String {
        if isRunning { return "running" }
        if state == nil { return supervisorAlive ? "starting" : "created" }
        return "exited"
    }
}

public enum ContainerStore {
    /// Every container under `root`, newest first.
    public static func list(root: String) -> [ContainerInfo] {
        let dir = root + "/containers"
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        return ids.filter { $0.count == 64 }.compactMap { load(root: root, id: $0) }
            .sorted { $0.record.created > $1.record.created }
    }

    public static func load(root: String, id: String) -> ContainerInfo? {
        let layout = ContainerLayout(root: root, id: id)
        guard let data = FileManager.default.contents(atPath: layout.recordFile),
            let record = try? JSONDecoder().decode(ContainerRecord.self, from: data)
        else { return nil }
        let state = Files.readText(layout.stateFile).flatMap(ContainerState.init(parsing:))
        return ContainerInfo(record: record, state: state, supervisorAlive: supervisorHoldsLock(layout), layout: layout)
    }

    /// By name, by full ID, or by an unambiguous ID prefix, as Docker resolves them.
    public static func find(root: String, _ reference: String) throws(RuntimeError) -> ContainerInfo {
        let link = ContainerLayout.nameLink(root: root, name: reference)
        if ContainerSpec.isValidName(reference),
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
            let info = load(root: root, id: String(target.split(separator: "/").last ?? ""))
        {
            return info
        }
        let matches = list(root: root).filter { $0.record.id.hasPrefix(reference) && !reference.isEmpty }
        guard matches.count == 1 else {
            throw RuntimeError(
                matches.isEmpty ? 125 : 125,
                matches.isEmpty
                    ? "no such container: \(reference)"
                    : "\(reference) matches \(matches.count) containers; give more of the ID")
        }
        return matches[0]
    }

    /// The supervisor holds `state.lock` for its whole life: if we can take it, it is gone.
    static func supervisorHoldsLock(_ layout: ContainerLayout) -> Bool {
        let fd = open(layout.stateFile + ".lock", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }
}
