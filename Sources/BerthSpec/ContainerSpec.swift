/// One container as a spec file declares it, after drop-ins are merged and every field is
/// validated. Plain values: comparing two specs tells the reconciler what changed.
public struct ContainerSpec: Sendable, Equatable {
    public var name: String
    /// The image to run or, with `build`, the tag the built image gets.
    public var image: ImageReference?
    public var build: BuildSpec?
    public var pull: PullPolicy = .missing
    /// nil keeps the image's entrypoint; [] clears it (Docker's `--entrypoint ""`).
    public var entrypoint: [String]?
    /// nil keeps the image's command.
    public var command: [String]?
    public var env: [String: String] = [:]
    /// Absolute paths (relative ones are resolved against the spec file's folder), read in order.
    public var envFile: [String] = []
    public var workdir: String?
    public var user: String?
    public var groupAdd: [String] = []
    public var hostname: String?
    /// `init` in the file: run a small init as PID 1 that reaps zombies and forwards signals.
    public var useInit = false
    public var tty = false
    public var ports: [PortMapping] = []
    public var volumes: [VolumeMount] = []
    public var tmpfs: [TmpfsMount] = []
    public var network: NetworkMode = .bridge
    public var resources = Resources()
    public var sysctls: [String: String] = [:]
    public var restart = RestartPolicy()
    public var healthcheck: HealthCheck?
    public var dependsOn: [Dependency] = []
    public var security = Security()
    public var stopSignal: Signal?
    public var stopTimeout: Duration?
    public var labels: [String: String] = [:]
    /// The labels of berth's own a spec may set (the rest of `berth.` is reserved), and the
    /// values each takes: `berth.autoupdate=registry` puts the container under `berth auto-update`.
    public static let berthLabels: [String: [String]] = ["berth.autoupdate": ["registry"]]

    public init(name: String) { self.name = name }

    /// Container names become part of unit names (`berth-NAME.scope`), hostnames and paths.
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), isLowerAlnum(bytes[0]) else { return false }
        return bytes.allSatisfy {
            isLowerAlnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                || $0 == UInt8(ascii: "-")
        }
    }

    private static func isLowerAlnum(_ b: UInt8) -> Bool {
        (0x61...0x7A).contains(b) || (0x30...0x39).contains(b)
    }
}

public struct BuildSpec: Sendable, Equatable {
    /// Absolute path of the build context (relative paths are resolved against the spec's folder).
    public var context: String
    /// The Containerfile, relative to the context; nil means Containerfile, else Dockerfile.
    public var file: String?
    public var args: [String: String] = [:]
}

public enum PullPolicy: String, Sendable, Equatable, CaseIterable {
    case missing, always, never, newer
}

public enum NetworkMode: String, Sendable, Equatable, CaseIterable {
    case bridge, host, none
}

public enum TransportProtocol: String, Sendable, Equatable, CaseIterable {
    case tcp, udp
}

/// A published port, or a range of `count` consecutive ports mapped one to one.
public struct PortMapping: Sendable, Equatable, Hashable {
    public var hostPort: UInt16
    public var containerPort: UInt16
    public var proto: TransportProtocol = .tcp
    /// nil means every address of the host.
    public var address: IPAddress?
    public var count: UInt16 = 1

    public var hostPorts: ClosedRange<Int> { Int(hostPort)...Int(hostPort) + Int(count) - 1 }
    public var containerPorts: ClosedRange<Int> {
        Int(containerPort)...Int(containerPort) + Int(count) - 1
    }

    /// Two maps collide when they share a protocol, a host port and an address; a wildcard
    /// address (unset, 0.0.0.0 or ::) overlaps every address.
    public func overlaps(_ other: PortMapping) -> Bool {
        guard proto == other.proto, hostPorts.overlaps(other.hostPorts) else { return false }
        guard let a = address, let b = other.address, !a.isUnspecified, !b.isUnspecified else {
            return true
        }
        return a == b
    }
}

public struct VolumeMount: Sendable, Equatable, Hashable {
    public enum Source: Sendable, Equatable, Hashable {
        /// An absolute host path, bind-mounted.
        case bind(String)
        /// A named volume under berth's root, created on first use.
        case volume(String)
    }
    public var source: Source
    public var target: String
    public var readonly = false

    public init(source: Source, target: String, readonly: Bool = false) {
        self.source = source
        self.target = target
        self.readonly = readonly
    }
}

public struct TmpfsMount: Sendable, Equatable, Hashable {
    public var target: String
    /// Bytes; nil is the kernel's default (half of RAM).
    public var size: Int64?
    /// Permission bits; nil is 1777 as Docker does.
    public var mode: UInt32?
}

public struct Resources: Sendable, Equatable {
    /// Bytes.
    public var memory: Int64?
    /// CPUs, e.g. 0.5 for half of one.
    public var cpus: Double?
    public var pids: Int64?
    /// Bytes of /dev/shm; nil means 64 MiB as Docker.
    public var shmSize: Int64?
    public var ulimits: [String: Ulimit] = [:]
}

public struct Ulimit: Sendable, Equatable {
    /// -1 means unlimited.
    public var soft: Int64
    public var hard: Int64
}

public struct RestartPolicy: Sendable, Equatable {
    public enum Policy: String, Sendable, Equatable, CaseIterable {
        case no
        case onFailure = "on-failure"
        case always
        case unlessStopped = "unless-stopped"
    }
    public var policy: Policy = .no
    /// Only with on-failure; nil means no limit.
    public var maxRetries: Int?
}

public struct HealthCheck: Sendable, Equatable {
    public enum Test: Sendable, Equatable {
        /// `["CMD", args...]`: run directly.
        case exec([String])
        /// `["CMD-SHELL", cmd]` or a plain string: run with /bin/sh -c.
        case shell(String)
        /// `["NONE"]`: the image's health check is turned off.
        case none
    }
    public enum FailureAction: String, Sendable, Equatable, CaseIterable {
        case none, kill, restart, stop
    }
    public var test: Test?
    public var interval: Duration = .seconds(30)
    public var timeout: Duration = .seconds(30)
    public var retries = 3
    public var startPeriod: Duration = .zero
    public var startInterval: Duration = .seconds(5)
    public var disable = false
    public var onFailure: FailureAction = .none

    public init(test: Test? = nil) { self.test = test }
}

public struct Dependency: Sendable, Equatable, Hashable {
    public enum Condition: String, Sendable, Equatable, CaseIterable {
        case started, healthy, completed
    }
    public var name: String
    public var condition: Condition = .started
}

public struct Security: Sendable, Equatable {
    public enum Seccomp: Sendable, Equatable {
        case `default`
        case unconfined
        /// A profile in Docker's JSON format; absolute (resolved against the spec's folder).
        case profile(String)
    }
    public var readonlyRootfs = false
    /// Canonical names without the CAP_ prefix, upper case; "ALL" allowed.
    public var capAdd: [String] = []
    public var capDrop: [String] = []
    public var seccomp: Seccomp = .default
    public var noNewPrivileges = false
}
