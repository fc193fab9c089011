import BerthSpec
import CSeccomp
import Foundation

/// A problem with a seccomp profile or with compiling it.
public enum SeccompError: Error, Equatable, CustomStringConvertible {
    /// The profile file could not be read.
    case unreadable(path: String, reason: String)
    /// The profile is not a valid Docker seccomp profile (`path` is nil for a profile built in code).
    case invalidProfile(path: String?, reason: String)
    /// libseccomp refused a call; `code` is its negative errno.
    case libseccomp(call: String, subject: String, code: Int32)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read the seccomp profile \(path): \(reason)"
        case .invalidProfile(let path, let reason):
            return path.map { "invalid seccomp profile \($0): \(reason)" } ?? "invalid seccomp profile: \(reason)"
        case .libseccomp(let call, let subject, let code):
            return "libseccomp \(call) failed for \(subject): \(String(cString: strerror(-code)))"
        }
    }
}

/// Seccomp profiles compiled to the classic BPF program the supervisor loads with
/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER)`: a raw array of `struct sock_filter` (8 bytes each).
public enum Seccomp {
    /// Docker's default profile.
    public static func defaultProfile() -> SeccompProfile {
        SeccompProfile.dockerDefault
    }

    /// Reads and checks a profile in Docker's JSON format (`security.seccomp`).
    public static func load(path: String) throws -> SeccompProfile {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SeccompError.unreadable(path: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw SeccompError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            if n == 0 { break }
            bytes += chunk[..<n]
            if bytes.count > JSONParser.maxFileSize {
                throw SeccompError.invalidProfile(
                    path: path, reason: "the file is larger than \(JSONParser.maxFileSize) bytes")
            }
        }
        return try parse(Data(bytes), path: path)
    }

    /// Parses and checks a profile in Docker's JSON format; `path` only names it in errors.
    public static func parse(_ data: Data, path: String? = nil) throws -> SeccompProfile {
        // berth's strict JSON parser is the gatekeeper (positions, duplicate keys, ...);
        // JSONDecoder reports no position for a syntax error.
        if case .failure(let diagnostic) = JSONParser.parse([UInt8](data), file: path ?? "<profile>") {
            let at = "line \(diagnostic.location.line), column \(diagnostic.location.column)"
            throw SeccompError.invalidProfile(path: path, reason: "not valid JSON at \(at): \(diagnostic.message)")
        }
        let profile: SeccompProfile
        do {
            profile = try JSONDecoder().decode(SeccompProfile.self, from: data)
        } catch let error as DecodingError {
            throw SeccompError.invalidProfile(path: path, reason: describe(error))
        } catch {
            throw SeccompError.invalidProfile(path: path, reason: "\(error)")
        }
        try check(profile, path: path)
        return profile
    }

    /// Compiles `profile` for the native architecture (and the architectures the profile adds to
    /// it) with the rules that apply to a container holding `capabilities` (`SYS_ADMIN` or
    /// `CAP_SYS_ADMIN`; `ALL` holds every capability) on this kernel. System calls libseccomp
    /// does not know are skipped, as Docker and runc skip them. The filter does not set
    /// no_new_privs: the supervisor sets it when the spec asks.
    public static func compile(profile: SeccompProfile, capabilities: Set<String>) throws -> [UInt8] {
        try compile(profile: profile, capabilities: capabilities, kernel: hostKernel())
    }

    /// The names in `profile` that `compile` skips: unknown to libseccomp (newer than it, or
    /// misspelt) and not among the newer system calls berth knows the number of.
    public static func unknownSyscalls(in profile: SeccompProfile) -> [String] {
        let generic = ["x86_64", "aarch64"].contains(nativeArchitecture().name)
        var seen = Set<String>()
        var unknown: [String] = []
        for rule in profile.syscalls ?? [] {
            for name in rule.allNames
            where resolve(name) == nil && !(generic && newerSyscalls[name] != nil) && seen.insert(name).inserted {
                unknown.append(name)
            }
        }
        return unknown
    }

    // MARK: - Compiling

    static func compile(
        profile: SeccompProfile, capabilities: Set<String>, kernel: KernelVersion?
    ) throws -> [UInt8] {
        try check(profile, path: nil)
        let defaultAction = try action(profile.defaultAction, errno: profile.defaultErrnoRet)
        let native = nativeArchitecture()
        // The native architecture and the others are built as two filters and merged: a rule
        // for a system call libseccomp cannot name (`newerSyscalls`) can only be added to the
        // native one, since libseccomp translates numbers between architectures by name.
        let ctx = try filter(defaultAction)
        defer { seccomp_release(ctx) }
        let others = try architectures(of: profile).filter { $0.token != native.token }
        var otherCtx: scmp_filter_ctx? = nil
        if !others.isEmpty {
            let other = try filter(defaultAction)
            otherCtx = other
            try call("seccomp_arch_remove", native.name) { seccomp_arch_remove(other, native.token) }
            for arch in others {
                let rc = seccomp_arch_add(other, arch.token)
                if rc != 0 && rc != -EEXIST {
                    seccomp_release(other)
                    throw SeccompError.libseccomp(call: "seccomp_arch_add", subject: arch.name, code: rc)
                }
            }
        }

        let held = Set(capabilities.map(Capability.canonical))
        do {
            for rule in profile.syscalls ?? [] {
                guard applies(rule, arch: native.docker, capabilities: held, kernel: kernel) else { continue }
                let act = try action(rule.action, errno: rule.errnoRet)
                // libseccomp refuses a rule whose action is the default one; it would change nothing.
                if act == defaultAction { continue }
                for name in rule.allNames {
                    if let number = resolve(name) {
                        try add(name, number, action: act, args: rule.args ?? [], to: ctx)
                        if let otherCtx { try add(name, number, action: act, args: rule.args ?? [], to: otherCtx) }
                    } else if native.name == "x86_64" || native.name == "aarch64", let number = newerSyscalls[name] {
                        try add(name, number, action: act, args: rule.args ?? [], to: ctx)
                    }
                    // Otherwise unknown to libseccomp and skipped, as runc skips it.
                }
            }
        } catch {
            if let otherCtx { seccomp_release(otherCtx) }
            throw error
        }
        if let otherCtx {
            // seccomp_merge releases the merged filter when it succeeds.
            let rc = seccomp_merge(ctx, otherCtx)
            if rc != 0 {
                seccomp_release(otherCtx)
                throw SeccompError.libseccomp(call: "seccomp_merge", subject: "the architectures' filters", code: rc)
            }
        }
        return try export(ctx)
    }

    /// An empty filter with berth's attributes.
    private static func filter(_ defaultAction: UInt32) throws -> scmp_filter_ctx {
        guard let ctx = seccomp_init(defaultAction) else {
            throw SeccompError.libseccomp(call: "seccomp_init", subject: "the default action", code: -EINVAL)
        }
        do {
            // berth sets no_new_privs itself, only when the spec asks.
            try call("seccomp_attr_set", "SCMP_FLTATR_CTL_NNP") { seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) }
            // A system call of an architecture the filter does not know gets the default action
            // rather than libseccomp's default, killing the thread.
            try call("seccomp_attr_set", "SCMP_FLTATR_ACT_BADARCH") {
                seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, defaultAction)
            }
        } catch {
            seccomp_release(ctx)
            throw error
        }
        return ctx
    }

    private static func add(
        _ name: String, _ number: Int32, action: UInt32, args: [SeccompProfile.Argument], to ctx: scmp_filter_ctx
    ) throws {
        let comparisons = args.map {
            scmp_arg_cmp(arg: $0.index, op: compare($0.op), datum_a: $0.value, datum_b: $0.valueTwo ?? 0)
        }
        // Conditions on the same argument cannot be combined in one rule: runc adds each as its
        // own rule (so they are alternatives), and so does berth.
        let repeated = Set(args.map(\.index)).count != args.count
        let groups = repeated ? comparisons.map { [$0] } : [comparisons]
        for group in groups {
            let rc = group.withUnsafeBufferPointer {
                seccomp_rule_add_array(ctx, action, number, UInt32($0.count), $0.baseAddress)
            }
            if rc != 0 { throw SeccompError.libseccomp(call: "seccomp_rule_add", subject: name, code: rc) }
        }
    }

    private static func export(_ ctx: scmp_filter_ctx) throws -> [UInt8] {
        let fd = berth_seccomp_memfd()
        guard fd >= 0 else {
            throw SeccompError.libseccomp(call: "memfd_create", subject: "the BPF program", code: -errno)
        }
        defer { close(fd) }
        try call("seccomp_export_bpf", "the filter") { seccomp_export_bpf(ctx, fd) }
        let size = lseek(fd, 0, SEEK_END)
        guard size >= 0, lseek(fd, 0, SEEK_SET) == 0 else {
            throw SeccompError.libseccomp(call: "lseek", subject: "the BPF program", code: -errno)
        }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw SeccompError.libseccomp(call: "read", subject: "the BPF program", code: n < 0 ? -errno : -EIO)
            }
            done += n
        }
        return bytes
    }

    private static func call(_ function: String, _ subject: String, _ body: () -> Int32) throws {
        let rc = body()
        if rc != 0 { throw SeccompError.libseccomp(call: function, subject: subject, code: rc) }
    }

    // MARK: - Rules

    /// Docker's conditions: a rule is dropped if any exclusion holds or any inclusion does not.
    static func applies(
        _ rule: SeccompProfile.Syscall, arch: String, capabilities: Set<String>, kernel: KernelVersion?
    ) -> Bool {
        let all = capabilities.contains("ALL")
        func holds(_ cap: String) -> Bool { all || capabilities.contains(Capability.canonical(cap)) }
        func atLeast(_ version: String) -> Bool {
            guard let kernel, let min = KernelVersion(version) else { return false }
            return kernel >= min
        }
        if let ex = rule.excludes {
            if ex.arches?.contains(arch) == true { return false }
            if ex.caps?.contains(where: holds) == true { return false }
            if let min = ex.minKernel, atLeast(min) { return false }
        }
        if let inc = rule.includes {
            if let arches = inc.arches, !arches.isEmpty, !arches.contains(arch) { return false }
            if let caps = inc.caps, !caps.allSatisfy(holds) { return false }
            if let min = inc.minKernel, !atLeast(min) { return false }
        }
        return true
    }

    /// System calls newer than some libseccomp releases (2.5.4 lacks most of these), by the
    /// number they have on x86_64 and aarch64 (the table shared by every architecture from 424
    /// on), for when libseccomp cannot resolve the name. Only the native architecture gets them.
    static let newerSyscalls: [String: Int32] = [
        "clone3": 435, "cachestat": 451, "fchmodat2": 452, "map_shadow_stack": 453, "futex_wake": 454,
        "futex_wait": 455, "futex_requeue": 456, "statmount": 457, "listmount": 458, "lsm_get_self_attr": 459,
        "lsm_set_self_attr": 460, "lsm_list_modules": 461, "mseal": 462, "setxattrat": 463, "getxattrat": 464,
        "listxattrat": 465, "removexattrat": 466,
    ]

    static func resolve(_ name: String) -> Int32? {
        let number = seccomp_syscall_resolve_name(name)
        return number == __NR_SCMP_ERROR ? nil : number
    }

    private static func action(_ action: SeccompProfile.Action, errno: UInt32?) throws -> UInt32 {
        switch action {
        case .kill, .killThread: return SCMP_ACT_KILL_THREAD
        case .killProcess: return SCMP_ACT_KILL_PROCESS
        case .trap: return SCMP_ACT_TRAP
        case .errno: return berth_scmp_act_errno(UInt16(errno ?? UInt32(EPERM)))
        case .trace: return berth_scmp_act_trace(UInt16(errno ?? UInt32(EPERM)))
        case .allow: return SCMP_ACT_ALLOW
        case .log: return SCMP_ACT_LOG
        case .notify:
            throw SeccompError.invalidProfile(path: nil, reason: "SCMP_ACT_NOTIFY is not supported")
        }
    }

    private static func compare(_ op: SeccompProfile.Operator) -> scmp_compare {
        switch op {
        case .notEqual: return SCMP_CMP_NE
        case .lessThan: return SCMP_CMP_LT
        case .lessOrEqual: return SCMP_CMP_LE
        case .equal: return SCMP_CMP_EQ
        case .greaterOrEqual: return SCMP_CMP_GE
        case .greaterThan: return SCMP_CMP_GT
        case .maskedEqual: return SCMP_CMP_MASKED_EQ
        }
    }

    /// What decoding cannot check: actions berth cannot carry out, errno values, rules without names.
    private static func check(_ profile: SeccompProfile, path: String?) throws {
        func fail(_ reason: String) -> SeccompError { .invalidProfile(path: path, reason: reason) }
        if profile.defaultAction == .notify {
            throw fail("defaultAction: SCMP_ACT_NOTIFY is not supported (berth has no seccomp agent)")
        }
        if let e = profile.defaultErrnoRet, e > 0xFFFF {
            throw fail("defaultErrnoRet: \(e) is out of range 0...65535")
        }
        for (i, rule) in (profile.syscalls ?? []).enumerated() {
            if rule.action == .notify {
                throw fail("syscalls[\(i)].action: SCMP_ACT_NOTIFY is not supported (berth has no seccomp agent)")
            }
            if let e = rule.errnoRet, e > 0xFFFF {
                throw fail("syscalls[\(i)].errnoRet: \(e) is out of range 0...65535")
            }
            if rule.allNames.isEmpty {
                throw fail("syscalls[\(i)]: the rule names no system call (\"names\")")
            }
        }
    }

    // MARK: - Architectures

    private struct Architecture {
        var name: String  // libseccomp's: x86_64, aarch64, x86, ...
        var token: UInt32
        /// Docker's name, used by `includes.arches`: amd64, arm64, x86, ...
        var docker: String { name == "x86_64" ? "amd64" : name == "aarch64" ? "arm64" : name }
    }

    private static let knownArchitectures = [
        "x86_64", "x86", "x32", "aarch64", "arm", "ppc64le", "ppc64", "ppc", "s390x", "s390", "riscv64", "mips",
        "mipsel", "mips64", "mips64n32", "mipsel64", "mipsel64n32", "parisc", "parisc64", "loongarch64",
    ]

    private static func nativeArchitecture() -> Architecture {
        let token = seccomp_arch_native()
        let name = knownArchitectures.first { seccomp_arch_resolve_name($0) == token }
        #if arch(x86_64)
            return Architecture(name: name ?? "x86_64", token: token)
        #elseif arch(arm64)
            return Architecture(name: name ?? "aarch64", token: token)
        #else
            return Architecture(name: name ?? "unknown", token: token)
        #endif
    }

    /// The architectures to add: the profile's `architectures` (each must be known to
    /// libseccomp) and the sub-architectures `archMap` gives the native one (skipped if unknown).
    private static func architectures(of profile: SeccompProfile) throws -> [Architecture] {
        func libseccompName(_ profileName: String) -> String {
            let upper = profileName.uppercased()
            return (upper.hasPrefix("SCMP_ARCH_") ? String(upper.dropFirst(10)) : upper).lowercased()
        }
        var result: [Architecture] = []
        for name in profile.architectures ?? [] {
            let token = seccomp_arch_resolve_name(libseccompName(name))
            guard token != 0 else {
                throw SeccompError.invalidProfile(path: nil, reason: "architectures: unknown architecture \"\(name)\"")
            }
            result.append(Architecture(name: libseccompName(name), token: token))
        }
        let native = nativeArchitecture()
        for entry in profile.archMap ?? [] where libseccompName(entry.architecture) == native.name {
            for sub in entry.subArchitectures ?? [] {
                let token = seccomp_arch_resolve_name(libseccompName(sub))
                if token != 0 { result.append(Architecture(name: libseccompName(sub), token: token)) }
            }
        }
        return result
    }

    // MARK: - Helpers

    static func hostKernel() -> KernelVersion? {
        guard let release = try? String(contentsOfFile: "/proc/sys/kernel/osrelease", encoding: .utf8) else {
            return nil
        }
        return KernelVersion(release.trimmingCharacters(in: .whitespacesAndNewlines), release: true)
    }

    /// A decoding error as a JSON path and a sentence.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var text = ""
            for key in keys {
                if let i = key.intValue {
                    text += "[\(i)]"
                } else {
                    text += (text.isEmpty ? "" : ".") + key.stringValue
                }
            }
            return text
        }
        func located(_ context: DecodingError.Context, _ message: String) -> String {
            let location = path(context.codingPath)
            return location.isEmpty ? message : "\(location): \(message)"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return located(context, "expected \(jsonType(type))")
        case .valueNotFound(let type, let context):
            return located(context, "expected \(jsonType(type)), found null")
        case .keyNotFound(let key, let context):
            return located(context, "missing key \"\(key.stringValue)\"")
        case .dataCorrupted(let context):
            return located(context, context.debugDescription)
        @unknown default:
            return "\(error)"
        }
    }

    private static func jsonType(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is UInt32.Type, is UInt64.Type, is Int.Type: return "a non-negative integer"
        case is [String].Type: return "an array of strings"
        default:
            return "\(type)".hasPrefix("Array") ? "an array" : "an object"
        }
    }
}
