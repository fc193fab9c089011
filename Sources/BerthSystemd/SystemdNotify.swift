import CSystemd

/// sd-daemon: telling systemd about a service's state, and socket activation.
public enum SystemdNotify {
    /// Sends a state such as "READY=1", "RELOADING=1", "STOPPING=1", "WATCHDOG=1" or
    /// "STATUS=…"; false when not run by systemd (no NOTIFY_SOCKET).
    @discardableResult
    public static func notify(_ state: String) throws -> Bool {
        let r = sd_notify(0, state)
        if r < 0 { throw SystemdError(operation: "sd_notify", code: r) }
        return r > 0
    }

    public static func ready(status: String? = nil) throws {
        try notify(status.map { "READY=1\nSTATUS=\($0)" } ?? "READY=1")
    }

    /// File descriptors passed by socket activation, starting at SD_LISTEN_FDS_START (3).
    public static func listenFDs() throws -> [Int32] {
        let n = sd_listen_fds(0)
        if n < 0 { throw SystemdError(operation: "sd_listen_fds", code: n) }
        return (0..<n).map { 3 + $0 }
    }

    /// Whether this system was booted with systemd as its init.
    public static var booted: Bool { sd_booted() > 0 }
}
