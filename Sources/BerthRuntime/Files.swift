import Foundation

/// Small file operations with the guarantees berth's state needs: whole-file writes by temp file
/// and rename, so a crash leaves the old content or the new, never half.
enum Files {
    /// Creates each path with its parents; `mode` is then set on the last directory of each.
    static func makeDirectories(_ paths: [String], mode: mode_t? = nil) throws(RuntimeError) {
        for path in paths {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw RuntimeError(125, "cannot create \(path): \(error.localizedDescription)")
            }
            if let mode, chmod(path, mode) != 0 {
                throw RuntimeError(125, "cannot set the mode of \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func write(_ path: String, _ text: String) throws(RuntimeError) { try write(path, Array(text.utf8)) }

    static func write(_ path: String, _ bytes: [UInt8], temp: String? = nil) throws(RuntimeError) {
        let temp = temp ?? path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RuntimeError(125, "cannot write \(path): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                close(fd)
                throw RuntimeError(125, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        fsync(fd)
        close(fd)
        guard rename(temp, path) == 0 else {
            throw RuntimeError(125, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }

    static func readText(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }
}
