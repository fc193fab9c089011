import Foundation

/// One inotify event, as read(2) returns them: `struct inotify_event { int wd; uint32_t mask,
/// cookie, len; char name[]; }`.
public struct InotifyEvent: Sendable {
    public var watch: Int32
    public var mask: UInt32
    public var name: String

    public func has(_ flag: Int32) -> Bool { mask & UInt32(flag) != 0 }

    /// Every event queued on a non-blocking inotify descriptor; empty when none is.
    public static func readAll(_ fd: Int32) -> [InotifyEvent] {
        var events: [InotifyEvent] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = read(fd, &buffer, buffer.count)
            guard n > 0 else { return events }
            var offset = 0
            while offset + 16 <= n {
                let wd = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: Int32.self) }
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                let length = Int(
                    buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                let nameBytes = buffer[(offset + 16)..<min(n, offset + 16 + length)].prefix { $0 != 0 }
                events.append(InotifyEvent(watch: wd, mask: mask, name: String(decoding: nameBytes, as: UTF8.self)))
                offset += 16 + length
            }
        }
    }
}
