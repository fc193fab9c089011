import Foundation

/// A seccomp profile in Docker's JSON format (`docker run --security-opt seccomp=FILE`): the OCI
/// runtime spec's `linux.seccomp` plus Docker's `archMap` and the conditional rules (`includes`,
/// `excludes`) that depend on the container's capabilities, the architecture and the kernel.
///
/// Keys this type does not know (`comment`, `flags`, `listenerPath`, ...) are ignored, as Docker
/// ignores them; values of known keys are checked when decoding (actions, operators, argument
/// indexes, kernel versions), so a mistake in a profile is reported when it is loaded.
public struct SeccompProfile: Codable, Sendable, Equatable {
    /// What a system call no rule matches gets.
    public var defaultAction: Action
    /// The errno for a default action of `SCMP_ACT_ERRNO` or `SCMP_ACT_TRACE` (EPERM if absent).
    public var defaultErrnoRet: UInt32?
    /// Architectures to add to the filter besides the native one (`SCMP_ARCH_X86`, ...).
    public var architectures: [String]?
    /// For each native architecture, the sub-architectures to add (Docker's default adds x86 and
    /// x32 on x86_64, arm on aarch64).
    public var archMap: [ArchitectureMap]?
    /// The rules, in order.
    public var syscalls: [Syscall]?

    public init(
        defaultAction: Action, defaultErrnoRet: UInt32? = nil, architectures: [String]? = nil,
        archMap: [ArchitectureMap]? = nil, syscalls: [Syscall]? = nil
    ) {
        self.defaultAction = defaultAction
        self.defaultErrnoRet = defaultErrnoRet
        self.architectures = architectures
        self.archMap = archMap
        self.syscalls = syscalls
    }

    /// A seccomp action, by its libseccomp name.
    public enum Action: String, Codable, Sendable, CaseIterable {
        case kill = "SCMP_ACT_KILL"
        case killProcess = "SCMP_ACT_KILL_PROCESS"
        case killThread = "SCMP_ACT_KILL_THREAD"
        case trap = "SCMP_ACT_TRAP"
        case errno = "SCMP_ACT_ERRNO"
        case trace = "SCMP_ACT_TRACE"
        case allow = "SCMP_ACT_ALLOW"
        case log = "SCMP_ACT_LOG"
        case notify = "SCMP_ACT_NOTIFY"

        public init(from decoder: any Decoder) throws { self = try decodeName(decoder, kind: "action") }
    }

    /// A comparison of a system call argument, by its libseccomp name.
    public enum Operator: String, Codable, Sendable, CaseIterable {
        case notEqual = "SCMP_CMP_NE"
        case lessThan = "SCMP_CMP_LT"
        case lessOrEqual = "SCMP_CMP_LE"
        case equal = "SCMP_CMP_EQ"
        case greaterOrEqual = "SCMP_CMP_GE"
        case greaterThan = "SCMP_CMP_GT"
        case maskedEqual = "SCMP_CMP_MASKED_EQ"

        public init(from decoder: any Decoder) throws { self = try decodeName(decoder, kind: "operator") }
    }

    /// A native architecture and the architectures added with it.
    public struct ArchitectureMap: Codable, Sendable, Equatable {
        public var architecture: String
        public var subArchitectures: [String]?

        public init(architecture: String, subArchitectures: [String]? = nil) {
            self.architecture = architecture
            self.subArchitectures = subArchitectures
        }
    }

    /// One rule: an action for some system calls, maybe only for some argument values, maybe only
    /// for some capabilities, architectures or kernels.
    public struct Syscall: Codable, Sendable, Equatable {
        public var names: [String]?
        /// The single name of old profiles; `names` is used instead when both are present.
        public var name: String?
        public var action: Action
        /// The errno for `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` (EPERM if absent).
        public var errnoRet: UInt32?
        /// Conditions on the arguments, all of which must hold (conditions on the same argument
        /// are alternatives, each its own rule, as runc does).
        public var args: [Argument]?
        /// The rule applies only if all of these hold.
        public var includes: Filter?
        /// The rule does not apply if any of these holds.
        public var excludes: Filter?

        public init(
            names: [String], action: Action, errnoRet: UInt32? = nil, args: [Argument]? = nil,
            includes: Filter? = nil, excludes: Filter? = nil
        ) {
            self.names = names
            self.action = action
            self.errnoRet = errnoRet
            self.args = args
            self.includes = includes
            self.excludes = excludes
        }

        /// `names`, else `name`.
        public var allNames: [String] {
            if let names, !names.isEmpty { return names }
            return name.map { [$0] } ?? []
        }
    }

    /// A condition on one argument: `value` is compared with argument `index`; for
    /// `SCMP_CMP_MASKED_EQ`, `value` is the mask and `valueTwo` what the masked argument must equal.
    public struct Argument: Codable, Sendable, Equatable {
        public var index: UInt32
        public var value: UInt64
        public var valueTwo: UInt64?
        public var op: Operator

        public init(index: UInt32, value: UInt64, valueTwo: UInt64? = nil, op: Operator) {
            self.index = index
            self.value = value
            self.valueTwo = valueTwo
            self.op = op
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            index = try c.decode(UInt32.self, forKey: .index)
            value = try c.decode(UInt64.self, forKey: .value)
            valueTwo = try c.decodeIfPresent(UInt64.self, forKey: .valueTwo)
            op = try c.decode(Operator.self, forKey: .op)
            guard index < 6 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .index, in: c, debugDescription: "argument index \(index) is out of range 0...5")
            }
        }
    }

    /// Conditions of a rule: capabilities (`CAP_SYS_ADMIN`), architectures in Docker's names
    /// (`amd64`, `arm64`, `x86`, `x32`, `arm`, `s390x`, ...) and a minimum kernel
    /// (`"<kernel>.<major>"`).
    public struct Filter: Codable, Sendable, Equatable {
        public var caps: [String]?
        public var arches: [String]?
        public var minKernel: String?

        public init(caps: [String]? = nil, arches: [String]? = nil, minKernel: String? = nil) {
            self.caps = caps
            self.arches = arches
            self.minKernel = minKernel
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            caps = try c.decodeIfPresent([String].self, forKey: .caps)
            arches = try c.decodeIfPresent([String].self, forKey: .arches)
            let kernel = try c.decodeIfPresent(String.self, forKey: .minKernel)
            minKernel = kernel?.isEmpty == true ? nil : kernel
            if let minKernel, KernelVersion(minKernel) == nil {
                throw DecodingError.dataCorruptedError(
                    forKey: .minKernel, in: c,
                    debugDescription: "invalid kernel version \"\(minKernel)\", expected \"<kernel>.<major>\"")
            }
        }
    }
}

/// A kernel version as Docker compares it: the version and major revision only.
struct KernelVersion: Comparable, Sendable {
    var kernel: UInt
    var major: UInt

    /// From `"4.8"` (a profile) or `"6.1.0-13-amd64"` (uname, when `release` is true).
    init?(_ text: String, release: Bool = false) {
        let parts = text.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, release || parts.count == 2 else { return nil }
        let majorDigits = release ? parts[1].prefix(while: \.isNumber) : parts[1]
        guard let k = UInt(parts[0]), let m = UInt(majorDigits), k != 0 || m != 0 else { return nil }
        kernel = k
        major = m
    }

    static func < (a: KernelVersion, b: KernelVersion) -> Bool {
        (a.kernel, a.major) < (b.kernel, b.major)
    }
}

extension SeccompProfile {
    /// Docker's default profile (moby/profiles seccomp v0.2.3, the profile of `docker run` without
    /// `--security-opt seccomp=`): every system call not listed fails with EPERM; `clone3` fails
    /// with ENOSYS without CAP_SYS_ADMIN, so that C libraries fall back to `clone`, whose namespace
    /// flags are then denied; the administrative calls are allowed only with their capability.
    public static let dockerDefault = SeccompProfile(
        defaultAction: .errno, defaultErrnoRet: 1,
        archMap: [
            ArchitectureMap(architecture: "SCMP_ARCH_X86_64", subArchitectures: ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
            ArchitectureMap(architecture: "SCMP_ARCH_AARCH64", subArchitectures: ["SCMP_ARCH_ARM"]),
            ArchitectureMap(
                architecture: "SCMP_ARCH_MIPS64", subArchitectures: ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
            ArchitectureMap(
                architecture: "SCMP_ARCH_MIPS64N32", subArchitectures: ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
            ArchitectureMap(
                architecture: "SCMP_ARCH_MIPSEL64", subArchitectures: ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
            ArchitectureMap(
                architecture: "SCMP_ARCH_MIPSEL64N32", subArchitectures: ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
            ArchitectureMap(architecture: "SCMP_ARCH_S390X", subArchitectures: ["SCMP_ARCH_S390"]),
            ArchitectureMap(architecture: "SCMP_ARCH_RISCV64"),
            ArchitectureMap(architecture: "SCMP_ARCH_LOONGARCH64"),
        ],
        syscalls: [
            Syscall(names: allowedByDefault, action: .allow),
            Syscall(
                names: ["process_vm_readv", "process_vm_writev", "ptrace"], action: .allow,
                includes: Filter(minKernel: "4.8")),
            Syscall(names: ["socket"], action: .allow, args: [Argument(index: 0, value: 38, op: .lessThan)]),
            Syscall(names: ["socket"], action: .allow, args: [Argument(index: 0, value: 39, op: .equal)]),
            Syscall(names: ["socket"], action: .allow, args: [Argument(index: 0, value: 40, op: .greaterThan)]),
            Syscall(names: ["personality"], action: .allow, args: [Argument(index: 0, value: 0, op: .equal)]),
            Syscall(names: ["personality"], action: .allow, args: [Argument(index: 0, value: 8, op: .equal)]),
            Syscall(names: ["personality"], action: .allow, args: [Argument(index: 0, value: 0x2_0000, op: .equal)]),
            Syscall(names: ["personality"], action: .allow, args: [Argument(index: 0, value: 0x2_0008, op: .equal)]),
            Syscall(names: ["personality"], action: .allow, args: [Argument(index: 0, value: 0xFFFF_FFFF, op: .equal)]),
            Syscall(names: ["sync_file_range2", "swapcontext"], action: .allow, includes: Filter(arches: ["ppc64le"])),
            Syscall(
                names: [
                    "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
                    "set_tls",
                ], action: .allow, includes: Filter(arches: ["arm", "arm64"])),
            Syscall(names: ["arch_prctl"], action: .allow, includes: Filter(arches: ["amd64", "x32"])),
            Syscall(names: ["modify_ldt"], action: .allow, includes: Filter(arches: ["amd64", "x32", "x86"])),
            Syscall(
                names: ["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"], action: .allow,
                includes: Filter(arches: ["s390", "s390x"])),
            Syscall(names: ["riscv_flush_icache"], action: .allow, includes: Filter(arches: ["riscv64"])),
            Syscall(names: ["open_by_handle_at"], action: .allow, includes: Filter(caps: ["CAP_DAC_READ_SEARCH"])),
            Syscall(
                names: [
                    "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
                    "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
                    "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
                    "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare",
                ], action: .allow, includes: Filter(caps: ["CAP_SYS_ADMIN"])),
            Syscall(
                names: ["clone"], action: .allow, args: [Argument(index: 0, value: 0x7E02_0000, op: .maskedEqual)],
                excludes: Filter(caps: ["CAP_SYS_ADMIN"], arches: ["s390", "s390x"])),
            // s390 parameter ordering for clone is different
            Syscall(
                names: ["clone"], action: .allow, args: [Argument(index: 1, value: 0x7E02_0000, op: .maskedEqual)],
                includes: Filter(arches: ["s390", "s390x"]), excludes: Filter(caps: ["CAP_SYS_ADMIN"])),
            Syscall(names: ["clone3"], action: .errno, errnoRet: 38, excludes: Filter(caps: ["CAP_SYS_ADMIN"])),
            Syscall(names: ["reboot"], action: .allow, includes: Filter(caps: ["CAP_SYS_BOOT"])),
            Syscall(names: ["chroot"], action: .allow, includes: Filter(caps: ["CAP_SYS_CHROOT"])),
            Syscall(
                names: ["delete_module", "init_module", "finit_module"], action: .allow,
                includes: Filter(caps: ["CAP_SYS_MODULE"])),
            Syscall(names: ["acct"], action: .allow, includes: Filter(caps: ["CAP_SYS_PACCT"])),
            Syscall(
                names: ["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"],
                action: .allow, includes: Filter(caps: ["CAP_SYS_PTRACE"])),
            Syscall(names: ["iopl", "ioperm"], action: .allow, includes: Filter(caps: ["CAP_SYS_RAWIO"])),
            Syscall(
                names: ["settimeofday", "stime", "clock_settime", "clock_settime64"], action: .allow,
                includes: Filter(caps: ["CAP_SYS_TIME"])),
            Syscall(names: ["vhangup"], action: .allow, includes: Filter(caps: ["CAP_SYS_TTY_CONFIG"])),
            Syscall(
                names: ["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"], action: .allow,
                includes: Filter(caps: ["CAP_SYS_NICE"])),
            Syscall(names: ["syslog"], action: .allow, includes: Filter(caps: ["CAP_SYSLOG"])),
            Syscall(names: ["bpf"], action: .allow, includes: Filter(caps: ["CAP_BPF"])),
            Syscall(names: ["perf_event_open"], action: .allow, includes: Filter(caps: ["CAP_PERFMON"])),
        ])

    /// The system calls Docker allows every container.
    private static let allowedByDefault: [String] = [
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget", "capset", "chdir",
        "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres", "clock_getres_time64",
        "clock_gettime", "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
        "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl",
        "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
        "execve", "execveat", "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64",
        "fallocate", "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
        "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
        "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
        "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat", "getcpu", "getcwd",
        "getdents", "getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
        "getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
        "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list",
        "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday", "getuid",
        "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init", "inotify_init1",
        "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents", "io_pgetevents",
        "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit", "ipc", "kill",
        "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr",
        "link", "linkat", "listen", "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr",
        "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier", "memfd_create",
        "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap",
        "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
        "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv",
        "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat",
        "_newselect", "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
        "preadv2", "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2",
        "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64",
        "recvmsg", "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
        "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
        "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_get_priority_max",
        "sched_get_priority_min", "sched_getscheduler", "sched_rr_get_interval", "sched_rr_get_interval_time64",
        "sched_setaffinity", "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
        "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64",
        "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
        "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32", "setresgid",
        "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list",
        "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr", "setxattrat",
        "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd", "signalfd4", "sigprocmask",
        "sigreturn", "socketcall", "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statmount",
        "statx", "symlink", "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
        "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
        "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
        "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink",
        "unlinkat", "uretprobe", "utime", "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4",
        "waitid", "waitpid", "write", "writev",
    ]
}

/// A libseccomp name (an action or an operator), refused with the list of valid names.
private func decodeName<Name: RawRepresentable & CaseIterable>(_ decoder: any Decoder, kind: String) throws -> Name
where Name.RawValue == String {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard let name = Name(rawValue: text) else {
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: decoder.codingPath,
                debugDescription: "unknown \(kind) \"\(text)\", expected one of "
                    + Name.allCases.map(\.rawValue).joined(separator: ", ")))
    }
    return name
}
