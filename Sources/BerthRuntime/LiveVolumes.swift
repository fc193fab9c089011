import BerthSpec
import Foundation

extension Runtime {
    /// Adds and removes volumes of a container (berthd's update in place), `spec` being the spec
    /// it is to match: named volumes created (and filled from the image) first, then, when it
    /// runs, each removed target unmounted and each added one mounted in its mount namespace by
    /// its supervisor (livemount.h), its PID unchanged; then its record and its supervisor's
    /// configuration, so the next start mounts the same.
    public static func changeVolumes(
        root: String, _ info: ContainerInfo, spec: ContainerSpec, adding added: [VolumeMount],
        removing removed: [VolumeMount]
    ) throws(RuntimeError) {
        var adding = spec
        adding.volumes = added
        try Volumes.prepare(
            root: root, spec: adding, lowerDirs: info.record.rootfs.split(separator: ":").map(String.init))
        if info.isRunning {
            for mount in removed {
                try liveRequest(info, ["umount", mount.target])
            }
            for mount in added {
                try liveRequest(
                    info, ["mount", source(of: mount, info.layout), mount.target, mount.readonly ? "ro" : "rw"])
            }
        }
        var config = SupervisorConfig(
            parsing: Array(FileManager.default.contents(atPath: info.layout.configFile) ?? Data()))
        config.replaceVolumes(removing: removed.map(\.target), adding: added, layout: info.layout)
        try Files.write(info.layout.configFile, config.bytes)
        var record = info.record
        record.volumes = Volumes.names(in: spec)
        record.host?.mounts = HostSettings(spec: spec, root: root).mounts
        try record.write(to: info.layout)
    }

    static func source(of mount: VolumeMount, _ layout: ContainerLayout) -> String {
        switch mount.source {
        case .bind(let path): path
        case .volume(let name): layout.volumePath(name)
        }
    }

    private static func liveRequest(_ info: ContainerInfo, _ fields: [String]) throws(RuntimeError) {
        let connection = try SupervisorConnection.connect(info.layout)
        try connection.send(fields.flatMap { Array($0.utf8) + [0] }.dropLast())
        switch SupervisorReply(try connection.receive()) {
        case .ok: return
        case .error(let code, let message): throw RuntimeError(code, "\(fields[0]) \(fields.last!): \(message)")
        default: throw RuntimeError(125, "no answer from the supervisor of \(info.record.name) to \(fields[0])")
        }
    }
}

extension SupervisorConfig {
    init(parsing bytes: [UInt8]) {
        self.init()
        for record in bytes.split(separator: 0, omittingEmptySubsequences: true) {
            let text = String(decoding: record, as: UTF8.self)
            guard let eq = text.firstIndex(of: "=") else { continue }
            set(String(text[..<eq]), String(text[text.index(after: eq)...]))
        }
    }

    /// The volumes' bind mounts at `removing` taken out, those of `adding` put in before the
    /// container's own /etc files (which come after the volumes, see `make`).
    mutating func replaceVolumes(removing: [String], adding: [VolumeMount], layout: ContainerLayout) {
        let own = Set(["hostname", "hosts", "resolv.conf"].map { layout.directory + "/" + $0 })
        func fields(_ record: String) -> [Substring]? {
            guard record.hasPrefix("MOUNT=") else { return nil }
            return record.dropFirst(6).split(separator: "\u{1F}", omittingEmptySubsequences: false)
        }
        var kept = records.filter { record in
            guard let f = fields(record), f.count >= 3, f[0] == "bind", !own.contains(String(f[1])) else { return true }
            return !removing.contains(String(f[2]))
        }
        var extra = SupervisorConfig()
        for v in adding {
            extra.mount(
                type: "bind", source: Runtime.source(of: v, layout), target: v.target,
                flags: v.readonly ? MountFlags.readonly | MountFlags.nosuid | MountFlags.nodev : 0)
        }
        let at =
            kept.firstIndex { record in
                guard let f = fields(record), f.count >= 3 else { return false }
                return own.contains(String(f[1]))
            } ?? kept.endIndex
        kept.insert(contentsOf: extra.records, at: at)
        records = kept
    }
}
