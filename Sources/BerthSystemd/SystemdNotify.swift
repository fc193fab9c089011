import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// sd-daemon, for a berth daemon run by systemd: telling it about the service's state
/// (Type=notify), the watchdog, and the sockets of socket activation.
public enum SystemdNotify {
    /// Sends newline-separated assignments such as "READY=1" or "STATUS=…" to the service
    /// manager; false when not run by systemd (no NOTIFY_SOCKET), which is not an error.
    @discardableResult
    public static func notify(_ state: String) throws -> Bool {
        let r = sd_notify(0, state)
        if r < 0 { throw SystemdError(operation: "sd_notify", code: r) }
        return r > 0
    }

    /// Start-up is complete (Type=notify services are "active" only now).
    @discardableResult
    public static func ready(status: String? = nil) throws -> Bool {
        try notify(status.map { "READY=1\nSTATUS=\(oneLine($0))" } ?? "READY=1")
    }

    /// A one-line status shown by `systemctl status`.
    @discardableResult
    public static func status(_ text: String) throws -> Bool { try notify("STATUS=\(oneLine(text))") }

    /// Reloading the configuration; send `ready()` when done.
    @discardableResult
    public static func reloading() throws -> Bool { try notify("RELOADING=1") }

    /// Shutting down.
    @discardableResult
    public static func stopping() throws -> Bool { try notify("STOPPING=1") }

    /// Keep-alive for WatchdogSec=; send at least every half of `watchdogInterval()`.
    @discardableResult
    public static func watchdog() throws -> Bool { try notify("WATCHDOG=1") }

    /// The watchdog interval systemd expects pings within, or nil when the watchdog is off.
    public static func watchdogInterval() throws -> Duration? {
        var usec: UInt64 = 0
        let r = sd_watchdog_enabled(0, &usec)
        if r < 0 { throw SystemdError(operation: "sd_watchdog_enabled", code: r) }
        return r > 0 ? .microseconds(usec) : nil
    }

    /// File descriptors passed by socket activation, starting at SD_LISTEN_FDS_START (3); empty
    /// when not socket-activated. They are set close-on-exec.
    public static func listenFDs() throws -> [Int32] {
        let n = sd_listen_fds(0)
        if n < 0 { throw SystemdError(operation: "sd_listen_fds", code: n) }
        return (0..<n).map { SD_LISTEN_FDS_START + $0 }
    }

    /// Passed file descriptors with their FileDescriptorName= (or "unknown"), e.g. to tell an
    /// API socket from a metrics socket.
    public static func listenFDsWithNames() throws -> [(fd: Int32, name: String)] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let n = sd_listen_fds_with_names(0, &names)
        if n < 0 { throw SystemdError(operation: "sd_listen_fds_with_names", code: n) }
        defer {
            if let names {
                for i in 0..<Int(n) { free(names[i]) }
                free(names)
            }
        }
        return (0..<n).map { i in
            // Names come from a unit file (FileDescriptorName=), which systemd keeps to ASCII.
            (SD_LISTEN_FDS_START + i, names?[Int(i)].map { String(cString: $0) } ?? "unknown")
        }
    }

    /// Whether this system was booted with systemd as its init (/run/systemd/system exists).
    public static var booted: Bool { sd_booted() > 0 }

    /// A newline would start a new assignment: a status is one line.
    private static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\n" ? " " : $0 }))
    }
}
