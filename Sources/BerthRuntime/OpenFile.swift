#if canImport(Glibc)
    import Glibc
#endif

/// An open file descriptor, closed when the last reference to it goes.
final class OpenFile {
    let raw: Int32

    init(_ raw: Int32) { self.raw = raw }

    deinit { close(raw) }

    /// Opens a directory below `parent` without following a symbolic link in its place.
    static func directory(_ parent: Int32, _ name: [UInt8]) -> OpenFile? {
        let fd = name.withCName { openat(parent, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        return fd >= 0 ? OpenFile(fd) : nil
    }

    /// Renames `old` in this directory to `new` in `directory` (this one by default).
    func rename(_ old: [UInt8], to new: [UInt8], in directory: OpenFile? = nil) -> Bool {
        old.withCName { o in new.withCName { renameat(raw, o, (directory ?? self).raw, $0) } } == 0
    }

    /// Makes `name` in `directory` a hard link to `existing` (a path below this directory).
    func link(_ existing: [UInt8], as name: [UInt8], in directory: OpenFile) -> Bool {
        existing.withCName { e in name.withCName { linkat(raw, e, directory.raw, $0, 0) } } == 0
    }

    /// Opens a host directory named by a path berth trusts (its root, an image's layer).
    static func directory(path: String) -> OpenFile? {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        return fd >= 0 ? OpenFile(fd) : nil
    }
}

/// File names as the kernel has them: bytes, not necessarily UTF-8 (an image's, a container's).
extension Array where Element == UInt8 {
    /// The bytes as a NUL-terminated C string for the length of `body`.
    func withCName<R, E: Error>(_ body: (UnsafePointer<CChar>) throws(E) -> R) throws(E) -> R {
        let terminated = self + [0]
        return try terminated.withUnsafeBufferPointer { (bytes) throws(E) -> R in
            try bytes.withMemoryRebound(to: CChar.self) { (chars) throws(E) -> R in try body(chars.baseAddress!) }
        }
    }

    /// For messages only: invalid UTF-8 shown repaired.
    var shown: String { String(decoding: self, as: UTF8.self) }

    /// "a/b" from "a" and "b"; "b" from "" and "b".
    func appendingComponent(_ name: [UInt8]) -> [UInt8] { isEmpty ? name : self + [UInt8(ascii: "/")] + name }

    static let dot: [UInt8] = [UInt8(ascii: ".")]
}

/// The current errno as words.
func errorText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }
