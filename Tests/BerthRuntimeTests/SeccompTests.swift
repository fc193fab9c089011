import BerthRuntime
import BerthSpec
import Foundation
import Testing

/// The seccomp profile (Docker's format and default) and its compilation to BPF. The programs are
/// checked by running them in a small classic-BPF interpreter, never by loading them.
struct SeccompTests {
    #if arch(x86_64)
        static let onAMD64 = true
    #else
        static let onAMD64 = false
    #endif
    static let docker = Set(Capability.dockerDefault)

    @Test func defaultProfileMatchesDocker() throws {
        let profile = Seccomp.defaultProfile()
        #expect(profile.defaultAction == .errno)
        #expect(profile.defaultErrnoRet == 1)
        let rules = profile.syscalls ?? []
        #expect(rules.allSatisfy { $0.action != .kill && $0.action != .killThread && $0.action != .killProcess })
        let unconditional = rules.filter { $0.includes == nil && $0.excludes == nil && $0.args == nil }
        #expect(unconditional.flatMap(\.allNames).count == 361)
        let clone3 = try #require(rules.first { $0.allNames == ["clone3"] && $0.action == .errno })
        #expect(clone3.errnoRet == 38)
        #expect(clone3.excludes?.caps == ["CAP_SYS_ADMIN"])
        let admin = try #require(rules.first { $0.includes?.caps == ["CAP_SYS_ADMIN"] })
        #expect(admin.allNames.contains("mount") && admin.allNames.contains("unshare"))
    }

    @Test func defaultProfileRoundTripsThroughJSON() throws {
        let profile = Seccomp.defaultProfile()
        let data = try JSONEncoder().encode(profile)
        #expect(try Seccomp.parse(data) == profile)
    }

    @Test func defaultProfileCompiles() throws {
        let bpf = try Seccomp.compile(profile: Seccomp.defaultProfile(), capabilities: Self.docker)
        #expect(!bpf.isEmpty)
        #expect(bpf.count % 8 == 0)
        #expect(bpf.count / 8 <= 4096)  // BPF_MAXINSNS
    }

    @Test func sysAdminChangesTheProgram() throws {
        let profile = Seccomp.defaultProfile()
        let plain = try Seccomp.compile(profile: profile, capabilities: Self.docker)
        let admin = try Seccomp.compile(profile: profile, capabilities: Self.docker.union(["SYS_ADMIN"]))
        let prefixed = try Seccomp.compile(profile: profile, capabilities: Self.docker.union(["CAP_SYS_ADMIN"]))
        #expect(plain != admin)
        #expect(admin == prefixed)
    }

    // System call numbers of x86_64.
    @Test(.enabled(if: onAMD64)) func defaultProgramBehavesLikeDocker() throws {
        let program = try BPF(try Seccomp.compile(profile: Seccomp.defaultProfile(), capabilities: Self.docker))
        #expect(try program.run(nr: 0) == .allow)  // read
        #expect(try program.run(nr: 59) == .allow)  // execve
        #expect(try program.run(nr: 165) == .errno(1))  // mount
        #expect(try program.run(nr: 272) == .errno(1))  // unshare
        #expect(try program.run(nr: 175) == .errno(1))  // init_module
        #expect(try program.run(nr: 101) == .allow)  // ptrace: allowed from kernel 4.8
        #expect(try program.run(nr: 435) == .errno(38))  // clone3: ENOSYS, so libc falls back to clone
        #expect(try program.run(nr: 56, args: [0x1200011]) == .allow)  // clone for fork
        #expect(try program.run(nr: 56, args: [0x1000_0000]) == .errno(1))  // clone(CLONE_NEWUSER)
        #expect(try program.run(nr: 56, args: [0x2_0000]) == .errno(1))  // clone(CLONE_NEWNS)
        #expect(try program.run(nr: 135, args: [0]) == .allow)  // personality(PER_LINUX)
        #expect(try program.run(nr: 135, args: [0xFFFF_FFFF]) == .allow)  // personality query
        #expect(try program.run(nr: 135, args: [1]) == .errno(1))
        #expect(try program.run(nr: 41, args: [2]) == .allow)  // socket(AF_INET)
        #expect(try program.run(nr: 41, args: [40]) == .errno(1))  // socket(AF_VSOCK)
        #expect(try program.run(nr: 158) == .allow)  // arch_prctl on amd64
        #expect(try program.run(nr: 999) == .errno(1))  // unknown
        #expect(try program.run(nr: 462) == .allow)  // mseal, newer than libseccomp 2.5.4
        #expect(try program.run(nr: 457) == .allow)  // statmount
    }

    // System call numbers of x86_64.
    @Test(.enabled(if: onAMD64)) func capabilitiesOpenTheirSystemCalls() throws {
        let caps = Self.docker.union(["SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE"])
        let program = try BPF(try Seccomp.compile(profile: Seccomp.defaultProfile(), capabilities: caps))
        #expect(try program.run(nr: 165) == .allow)  // mount
        #expect(try program.run(nr: 272) == .allow)  // unshare
        #expect(try program.run(nr: 435) == .allow)  // clone3
        #expect(try program.run(nr: 56, args: [0x1000_0000]) == .allow)  // clone(CLONE_NEWUSER)
        #expect(try program.run(nr: 101) == .allow)  // ptrace
        #expect(try program.run(nr: 175) == .allow)  // init_module
        #expect(try program.run(nr: 169) == .errno(1))  // reboot needs SYS_BOOT
    }

    @Test func x86ProgramsAreCovered() throws {
        #if arch(x86_64)
            let program = try BPF(try Seccomp.compile(profile: Seccomp.defaultProfile(), capabilities: Self.docker))
            #expect(try program.run(nr: 3, arch: BPF.x86) == .allow)  // read on i386
            #expect(try program.run(nr: 21, arch: BPF.x86) == .errno(1))  // mount on i386
            #expect(try program.run(nr: 0x4000_0000, arch: BPF.amd64) == .allow)  // read on x32
            #expect(try program.run(nr: 0, arch: 0xC000_00B7) == .errno(1))  // aarch64: not in the filter
        #endif
    }

    @Test func unknownSyscallsAreSkipped() throws {
        let profile = SeccompProfile(
            defaultAction: .errno,
            syscalls: [.init(names: ["read", "no_such_call", "write"], action: .allow)])
        #expect(Seccomp.unknownSyscalls(in: profile) == ["no_such_call"])
        #expect(!(try Seccomp.compile(profile: profile, capabilities: [])).isEmpty)
    }

    @Test func repeatedArgumentsAreAlternatives() throws {
        let profile = SeccompProfile(
            defaultAction: .errno, defaultErrnoRet: 13,
            syscalls: [
                .init(
                    names: ["personality"], action: .allow,
                    args: [.init(index: 0, value: 0, op: .equal), .init(index: 0, value: 8, op: .equal)])
            ])
        let program = try BPF(try Seccomp.compile(profile: profile, capabilities: []))
        #expect(try program.run(nr: 135, args: [0]) == .allow)
        #expect(try program.run(nr: 135, args: [8]) == .allow)
        #expect(try program.run(nr: 135, args: [9]) == .errno(13))
    }

    @Test func userProfileParses() throws {
        let json = """
            {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
             "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "no"},
                          {"name": "chmod", "action": "SCMP_ACT_ERRNO"}]}
            """
        let path = try write(json)
        let profile = try Seccomp.load(path: path)
        #expect(profile.defaultAction == .allow)
        #expect(profile.syscalls?.map(\.allNames) == [["mkdir"], ["chmod"]])
        let program = try BPF(try Seccomp.compile(profile: profile, capabilities: []))
        #if arch(x86_64)
            #expect(try program.run(nr: 83) == .errno(13))  // mkdir
            #expect(try program.run(nr: 90) == .errno(1))  // chmod
            #expect(try program.run(nr: 0) == .allow)
        #endif
    }

    @Test func unknownActionIsReported() throws {
        let path = try write(
            #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_PERMIT"}]}"#)
        let error = try #require(throws: SeccompError.self) { try Seccomp.load(path: path) }
        let text = "\(error)"
        #expect(text.contains(path))
        #expect(text.contains("syscalls[0].action"))
        #expect(text.contains("unknown action \"SCMP_ACT_PERMIT\""))
    }

    @Test func badJSONIsReported() throws {
        let path = try write(#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [}"#)
        let error = try #require(throws: SeccompError.self) { try Seccomp.load(path: path) }
        #expect("\(error)".hasPrefix("invalid seccomp profile \(path): not valid JSON at line 1, column "), "\(error)")
    }

    @Test func wrongShapesAreReported() throws {
        let cases: [(String, String)] = [
            (#"{"syscalls": []}"#, "missing key \"defaultAction\""),
            (#"{"defaultAction": 1}"#, "defaultAction: expected a string"),
            (
                #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
                "argument index 7"
            ),
            (
                #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_IS"}]}]}"#,
                "unknown operator \"SCMP_CMP_IS\""
            ),
            (
                #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}"#,
                "invalid kernel version \"4\""
            ),
            (#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, "SCMP_ACT_NOTIFY is not supported"),
            (
                #"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}"#,
                "syscalls[0]: the rule names no system call"
            ),
        ]
        for (json, message) in cases {
            let error = try #require(throws: SeccompError.self) { try Seccomp.parse(Data(json.utf8)) }
            #expect("\(error)".contains(message), "\(error)")
        }
    }

    @Test func missingFileIsReported() throws {
        let error = try #require(throws: SeccompError.self) {
            try Seccomp.load(path: "/nonexistent/berth/profile.json")
        }
        #expect(
            "\(error)" == "cannot read the seccomp profile /nonexistent/berth/profile.json: No such file or directory")
    }

    @Test func unknownArchitectureIsReported() throws {
        let profile = SeccompProfile(defaultAction: .errno, architectures: ["SCMP_ARCH_PDP11"])
        let error = try #require(throws: SeccompError.self) { try Seccomp.compile(profile: profile, capabilities: []) }
        #expect("\(error)".contains("unknown architecture \"SCMP_ARCH_PDP11\""))
    }

    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "berth-seccomp-\(UInt32.random(in: 0...UInt32.max)).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// A classic-BPF interpreter for seccomp programs: enough of the instruction set for what
/// libseccomp generates, run over a `struct seccomp_data`.
private struct BPF {
    static let amd64: UInt32 = 0xC000_003E
    static let x86: UInt32 = 0x4000_0003

    enum Verdict: Equatable {
        case allow
        case errno(UInt32)
        case other(UInt32)
    }

    struct Instruction {
        var code: UInt16
        var jt: UInt8
        var jf: UInt8
        var k: UInt32
    }

    let instructions: [Instruction]

    init(_ bytes: [UInt8]) throws {
        try #require(bytes.count % 8 == 0 && !bytes.isEmpty)
        instructions = stride(from: 0, to: bytes.count, by: 8).map { i in
            func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
            func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
            return Instruction(code: u16(i), jt: bytes[i + 2], jf: bytes[i + 3], k: u32(i + 4))
        }
    }

    func run(nr: UInt32, arch: UInt32 = BPF.native, args: [UInt64] = []) throws -> Verdict {
        var data: [UInt32] = [nr, arch, 0, 0]  // nr, arch, instruction pointer (64 bits)
        for i in 0..<6 {
            let value = i < args.count ? args[i] : 0
            data += [UInt32(truncatingIfNeeded: value), UInt32(truncatingIfNeeded: value >> 32)]
        }
        var a: UInt32 = 0
        var x: UInt32 = 0
        var memory = [UInt32](repeating: 0, count: 16)
        var pc = 0
        while pc < instructions.count {
            let ins = instructions[pc]
            pc += 1
            func jump(_ condition: Bool) { pc += Int(condition ? ins.jt : ins.jf) }
            switch ins.code {
            case 0x20: a = data[Int(ins.k) / 4]  // ld [k]
            case 0x00: a = ins.k  // ld #k
            case 0x01: x = ins.k  // ldx #k
            case 0x60: a = memory[Int(ins.k)]  // ld M[k]
            case 0x61: x = memory[Int(ins.k)]  // ldx M[k]
            case 0x02: memory[Int(ins.k)] = a  // st M[k]
            case 0x03: memory[Int(ins.k)] = x  // stx M[k]
            case 0x54: a &= ins.k  // and #k
            case 0x5c: a &= x  // and x
            case 0x07: x = a  // tax
            case 0x87: a = x  // txa
            case 0x05: pc += Int(ins.k)  // ja
            case 0x15: jump(a == ins.k)  // jeq #k
            case 0x25: jump(a > ins.k)  // jgt #k
            case 0x35: jump(a >= ins.k)  // jge #k
            case 0x45: jump(a & ins.k != 0)  // jset #k
            case 0x1d: jump(a == x)  // jeq x
            case 0x2d: jump(a > x)  // jgt x
            case 0x3d: jump(a >= x)  // jge x
            case 0x06: return verdict(ins.k)  // ret #k
            case 0x16: return verdict(a)  // ret a
            default:
                Issue.record("BPF instruction \(String(ins.code, radix: 16)) not interpreted")
                return .other(0)
            }
        }
        Issue.record("BPF program fell off its end")
        return .other(0)
    }

    private func verdict(_ k: UInt32) -> Verdict {
        if k == 0x7FFF_0000 { return .allow }
        if k & 0xFFFF_0000 == 0x0005_0000 { return .errno(k & 0xFFFF) }
        return .other(k)
    }

    #if arch(x86_64)
        static let native = amd64
    #else
        static let native: UInt32 = 0xC000_00B7  // aarch64
    #endif
}
