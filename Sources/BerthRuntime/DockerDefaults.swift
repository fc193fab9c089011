import BerthSpec

/// What Docker gives every container unless told otherwise; berth matches it so images behave
/// the same under both.
enum DockerDefaults {
    static let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Hidden from the container: /dev/null over files, an empty tmpfs over directories.
    static let maskedPaths = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]

    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    static let devices = ["null", "zero", "full", "random", "urandom", "tty"]

    static let deviceLinks = [
        ("/dev/ptmx", "pts/ptmx"), ("/dev/fd", "/proc/self/fd"), ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"), ("/dev/stderr", "/proc/self/fd/2"), ("/dev/core", "/proc/kcore"),
    ]

    static let shmSize: Int64 = 64 << 20
    static let stopTimeout: Duration = .seconds(10)

    /// The bitmask of capabilities for a spec: Docker's default set, then capDrop, then capAdd
    /// (so `capDrop: ["ALL"], capAdd: ["NET_BIND_SERVICE"]` keeps just that one).
    static func capabilitySet(_ security: Security) -> Set<String> {
        var caps = Set(Capability.dockerDefault)
        if security.capDrop.contains("ALL") { caps.removeAll() }
        caps.subtract(security.capDrop)
        if security.capAdd.contains("ALL") { caps.formUnion(Capability.all) }
        caps.formUnion(security.capAdd.filter { $0 != "ALL" })
        return caps
    }

    static func capabilities(_ security: Security) -> UInt64 {
        capabilitySet(security).compactMap(Capability.number).reduce(0) { $0 | (1 << UInt64($1)) }
    }
}

/// mount(2) flags, as the supervisor passes them through.
enum MountFlags {
    static let readonly: UInt = 1
    static let nosuid: UInt = 2
    static let nodev: UInt = 4
    static let noexec: UInt = 8
    static let strictatime: UInt = 1 << 24
}
