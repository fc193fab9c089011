import CSeccomp
import Foundation

/// Docker's default filter, compiled once per capability set and kept under berth's root:
/// compiling it with libseccomp costs about 10 ms, a third of a container's start. The file's
/// name is everything the program depends on, so a stale entry is never used.
enum SeccompCache {
    /// Raise whenever `SeccompProfile.dockerDefault` or the way it is compiled changes.
    static let revision = 1

    static func defaultFilter(root: String, capabilities: Set<String>, mask: UInt64) throws -> String {
        var uts = utsname()
        uname(&uts)
        let kernel = withUnsafeBytes(of: &uts.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let library = seccomp_version().map { "\($0.pointee.major).\($0.pointee.minor).\($0.pointee.micro)" } ?? "0"
        let name = "docker-r\(revision)-k\(kernel)-s\(library)-caps\(String(mask, radix: 16)).bpf"
            .map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" }
        let dir = root + "/cache/seccomp"
        let path = dir + "/" + String(name)
        if FileManager.default.fileExists(atPath: path) { return path }
        let program = try Seccomp.compile(profile: Seccomp.defaultProfile(), capabilities: capabilities)
        try Files.makeDirectories([dir])
        // A temp name of our own: two berths filling the cache at once each rename a whole file.
        try Files.write(path, program, temp: path + ".tmp-\(getpid())")
        return path
    }
}
