import BerthNetwork
import BerthSpec
import BerthStore
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
    /// "cli" for `berth run`, "berthd" for a spec's container ("build" for a build's step).
    public var owner: String
    /// The named volumes it mounts (nil in records written before volumes were recorded).
    public var volumes: [String]? = nil
    /// How its process runs, for `exec` and `start` (nil in older records).
    public var process: ProcessSettings? = nil
    /// Its scope's settings, for every start (nil in older records: Docker's defaults).
    public var scope: ScopeSettings? = nil
    /// What `inspect` shows of the spec (nil in older records).
    public var host: HostSettings? = nil
    /// The manifest of the image it runs (nil for a --rootfs directory): kept by GC.
    public var imageManifest: String? = nil
    /// Its address and published ports on the bridge network.
    public var attachment: NetworkAttachment? = nil
    /// Its scope and slice when not `berth-NAME.scope` in berth.slice (a build's step).
    public var unit: String? = nil
    public var slice: String? = nil
    /// berthd's: the path of the spec file whose document is in spec.json.
    public var specOrigin: String? = nil
    /// The health check to probe (the spec's, else the image's); nil: none.
    public var healthcheck: HealthSettings? = nil
    /// The image's HEALTHCHECK, which a spec's check without a test falls back on.
    public var imageHealthcheck: ImageConfig.HealthConfig? = nil

    /// The transient scope it runs in.
    public var unitName: String { unit ?? ContainerLayout.unitName(name) }
}

/// The spec's choices that `inspect` reports as Docker's HostConfig, Config and Mounts do.
public struct HostSettings: Codable, Sendable {
    public struct Mount: Codable, Sendable {
        public var type: String
        public var name: String?
        public var source: String
        public var destination: String
        public var readWrite: Bool
    }
    public var mounts: [Mount]
    public var capAdd: [String]
    public var capDrop: [String]
    public var securityOpt: [String]
    public var readonlyRootfs: Bool
    public var initProcess: Bool
    public var labels: [String: String]
    public var stopSignal: String
    public var shmSize: Int64

    public init(spec: ContainerSpec, root: String) {
        mounts =
            spec.volumes.map { v in
                switch v.source {
                case .bind(let path):
                    Mount(type: "bind", name: nil, source: path, destination: v.target, readWrite: !v.readonly)
                case .volume(let name):
                    Mount(
                        type: "volume", name: name, source: ContainerLayout(root: root, id: "").volumePath(name),
                        destination: v.target, readWrite: !v.readonly)
                }
            } + spec.tmpfs.map { Mount(type: "tmpfs", name: nil, source: "", destination: $0.target, readWrite: true) }
        capAdd = spec.security.capAdd
        capDrop = spec.security.capDrop
        var options: [String] = []
        if spec.security.noNewPrivileges { options.append("no-new-privileges") }
        switch spec.security.seccomp {
        case .default: break
        case .unconfined: options.append("seccomp=unconfined")
        case .profile(let path): options.append("seccomp=" + path)
        }
        securityOpt = options
        readonlyRootfs = spec.security.readonlyRootfs
        initProcess = spec.useInit
        labels = spec.labels
        stopSignal = spec.stopSignal?.description ?? "SIGTERM"
        shmSize = spec.resources.shmSize ?? DockerDefaults.shmSize
    }
}

/// The container's process as created: its user, resolved against the image, and the
/// options of `berth run` beside the spec.
public struct ProcessSettings: Codable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    public var tty: Bool
    public var openStdin: Bool
    public var autoRemove: Bool
}

/// What the container's transient scope is created with, each time it starts.
public struct ScopeSettings: Codable, Sendable {
    public var image = "rootfs"
    public var killSignal: Int32 = 15
    /// Seconds from the stop signal to SIGKILL.
    public var stopTimeout: Int64 = 10
    public var memory: UInt64? = nil
    public var pids: UInt64? = nil
    public var cpus: Double? = nil

    public init() {}

    public init(spec: ContainerSpec) {
        image = spec.image?.description ?? "rootfs"
        killSignal = spec.stopSignal?.number ?? 15
        stopTimeout = (spec.stopTimeout ?? DockerDefaults.stopTimeout).components.seconds
        memory = spec.resources.memory.map { UInt64($0) }
        pids = spec.resources.pids.map { UInt64($0) }
        cpus = spec.resources.cpus
    }
}

/// A container found on disk: its record, its last state, and whether its supervisor lives.
public struct ContainerInfo: Sendable {
    public var record: ContainerRecord
    public var state: ContainerState?
    public var supervisorAlive: Bool
    public var layout: ContainerLayout

    public var isRunning: Bool { supervisorAlive && state?.status == "running" }
    /// Recorded as running, but its supervisor is gone (killed): `stop`, `rm -f` or `start`
    /// recover it.
    public var isLost: Bool { !supervisorAlive && state?.status == "running" }

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

    /// What a crash during `create` leaves: a directory without container.json (and the name
    /// pointing to it), or a name pointing nowhere. Only ones older than `minimumAge`, so a
    /// create still under way is never touched; with `owner`, that owner's at any age (berthd,
    /// the only creator of its containers, collects its own when it starts).
    public static func collectIncomplete(root: String, minimumAge: TimeInterval = 60, owner: String? = nil) {
        let dir = root + "/containers"
        let now = Date()
        for id in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where id.count == 64 {
            let layout = ContainerLayout(root: root, id: id)
            guard !FileManager.default.fileExists(atPath: layout.recordFile) else { continue }
            let ours = owner != nil && Files.readText(layout.ownerFile)?.trimmingCharacters(in: .newlines) == owner
            guard
                ours
                    || ((try? FileManager.default.attributesOfItem(atPath: layout.directory))?[.modificationDate]
                        as? Date).map({ now.timeIntervalSince($0) >= minimumAge }) == true
            else { continue }
            Files.removeTree(layout.directory)
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir + "/names")) ?? [] {
            let link = ContainerLayout.nameLink(root: root, name: name)
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
                !FileManager.default.fileExists(atPath: dir + "/names/" + target)
            else { continue }
            // A name is claimed after its directory exists, so one pointing nowhere is no create
            // under way; the age is kept for the CLI's sake (and one removal racing another).
            if owner == nil, let attributes = try? FileManager.default.attributesOfItem(atPath: link),
                let modified = attributes[.modificationDate] as? Date, now.timeIntervalSince(modified) < minimumAge
            {
                continue
            }
            unlink(link)
        }
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

extension ContainerRecord {
    /// Written over the container's record (whole, as Files.write writes: a reader never sees
    /// half of it).
    func write(to layout: ContainerLayout) throws(RuntimeError) {
        do {
            try Files.write(layout.recordFile, Array(JSONEncoder().encode(self)))
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "cannot record the container: \(error)")
        }
    }
}
