import BerthSpec

/// The supervisor's input file: NUL-terminated KEY=VALUE records (see
/// Sources/berth-supervisor/config.h), so the C side parses no JSON.
struct SupervisorConfig {
    var records: [String] = []

    mutating func set(_ key: String, _ value: String) { records.append("\(key)=\(value)") }

    /// A mount: fields separated by the unit separator, which no path may contain.
    mutating func mount(type: String, source: String, target: String, flags: UInt = 0, data: String = "") {
        set("MOUNT", [type, source, target, String(flags), data].joined(separator: "\u{1F}"))
    }

    var bytes: [UInt8] { records.flatMap { Array($0.utf8) + [0] } }

    /// Everything but the layers: how the spec becomes a process, as Docker defines it.
    static func make(
        spec: ContainerSpec, layout: ContainerLayout, lowerDirs: [String], user: ResolvedUser,
        environment: [String], argv: [String], seccompPath: String?
    ) -> SupervisorConfig {
        var c = SupervisorConfig()
        c.set("ID", layout.id)
        c.set("NAME", spec.name)
        c.set("IMAGE", spec.image?.description ?? "")
        c.set("STATE", layout.stateFile)
        // An image's layers are links in ROOT/l/: named relative to ROOT (the supervisor mounts
        // from there), a stack of 128 layers still fits the one page mount options may take.
        let base = layout.root + "/l/"
        if !lowerDirs.isEmpty && lowerDirs.allSatisfy({ $0.hasPrefix(base) }) {
            c.set("LOWERBASE", layout.root)
            for dir in lowerDirs { c.set("LOWER", String(dir.dropFirst(layout.root.count + 1))) }
        } else {
            for dir in lowerDirs { c.set("LOWER", dir) }
        }
        c.set("UPPER", layout.upper)
        c.set("WORK", layout.work)
        c.set("MERGED", layout.merged)
        c.set("READONLY", spec.security.readonlyRootfs ? "1" : "0")
        c.set("NET", spec.network == .host ? "host" : "none")
        c.set("NNP", spec.security.noNewPrivileges ? "1" : "0")
        c.set("INIT", spec.useInit ? "1" : "0")
        c.set("TTY", spec.tty ? "1" : "0")
        c.set("HOSTNAME", spec.hostname ?? String(layout.id.prefix(12)))
        c.set("CWD", spec.workdir ?? "/")
        c.set("UID", String(user.uid))
        c.set("GID", String(user.gid))
        for g in user.groups { c.set("GROUP", String(g)) }
        c.set("CAPS", "0x" + String(DockerDefaults.capabilities(spec.security), radix: 16))
        c.set("STOPSIGNAL", String(spec.stopSignal?.number ?? 15))
        c.set("STOPTIMEOUT", String((spec.stopTimeout ?? DockerDefaults.stopTimeout).components.seconds))
        if let seccompPath { c.set("SECCOMP", seccompPath) }
        for arg in argv { c.set("ARG", arg) }
        for variable in environment { c.set("ENV", variable) }

        let hidden = MountFlags.nosuid | MountFlags.nodev | MountFlags.noexec
        c.mount(type: "proc", source: "proc", target: "/proc", flags: hidden)
        c.mount(
            type: "tmpfs", source: "tmpfs", target: "/dev", flags: MountFlags.nosuid | MountFlags.strictatime,
            data: "mode=755,size=65536k")
        for device in DockerDefaults.devices {
            c.mount(type: "dev", source: "/dev/\(device)", target: "/dev/\(device)")
        }
        c.mount(
            type: "devpts", source: "devpts", target: "/dev/pts", flags: MountFlags.nosuid | MountFlags.noexec,
            data: "newinstance,ptmxmode=0666,mode=0620,gid=5")
        for (link, destination) in DockerDefaults.deviceLinks {
            c.mount(type: "symlink", source: destination, target: link)
        }
        c.mount(
            type: "tmpfs", source: "shm", target: "/dev/shm", flags: hidden,
            data: "mode=1777,size=\(spec.resources.shmSize ?? DockerDefaults.shmSize)")
        c.mount(type: "mqueue", source: "mqueue", target: "/dev/mqueue", flags: hidden)
        c.mount(type: "sysfs", source: "sysfs", target: "/sys", flags: hidden | MountFlags.readonly)
        for t in spec.tmpfs {
            var data = "mode=" + String(t.mode ?? 0o1777, radix: 8)
            if let size = t.size { data += ",size=\(size)" }
            c.mount(
                type: "tmpfs", source: "tmpfs", target: t.target, flags: MountFlags.nosuid | MountFlags.nodev,
                data: data)
        }
        for v in spec.volumes {
            let source: String
            switch v.source {
            case .bind(let path): source = path
            case .volume(let name): source = layout.volumePath(name)
            }
            c.mount(
                type: "bind", source: source, target: v.target,
                flags: v.readonly ? MountFlags.readonly | MountFlags.nosuid | MountFlags.nodev : 0)
        }
        // After the volumes, as Docker: a volume on /etc still gets the container's own files.
        for file in ["hostname", "hosts", "resolv.conf"] {
            c.mount(type: "bind", source: layout.directory + "/" + file, target: "/etc/" + file)
        }
        for (key, value) in spec.sysctls.sorted(by: { $0.key < $1.key }) { c.set("SYSCTL", "\(key)=\(value)") }
        for path in DockerDefaults.maskedPaths { c.set("MASK", path) }
        for path in DockerDefaults.readonlyPaths { c.set("RO", path) }
        for (name, limit) in spec.resources.ulimits.sorted(by: { $0.key < $1.key }) {
            guard let resource = Rlimits.number(name) else { continue }
            c.set("RLIMIT", "\(resource)\u{1F}\(limit.soft)\u{1F}\(limit.hard)")
        }
        return c
    }
}

/// RLIMIT_* numbers on Linux (x86_64 and arm64 agree).
enum Rlimits {
    static let numbers: [String: Int] = [
        "cpu": 0, "fsize": 1, "data": 2, "stack": 3, "core": 4, "rss": 5, "nproc": 6, "nofile": 7,
        "memlock": 8, "as": 9, "locks": 10, "sigpending": 11, "msgqueue": 12, "nice": 13, "rtprio": 14,
        "rttime": 15,
    ]
    static func number(_ name: String) -> Int? { numbers[name] }
}
