import BerthSystemd
import Foundation

/// Stopping, signalling and removing containers. Stopping goes through systemd, as
/// `systemctl stop` would: the scope's KillSignal reaches the container and the supervisor,
/// which records the stop and SIGKILLs after stopTimeout.
extension Runtime {
    public static func stop(_ info: ContainerInfo) throws(RuntimeError) {
        if info.isLost {
            try recoverLost(info)
            return
        }
        guard info.supervisorAlive else { return }
        try stopScope(info.record.unitName)
    }

    static func stopScope(_ unit: String) throws(RuntimeError) {
        do {
            try SystemdBus().stopUnit(name: unit)
        } catch let error as SystemdError where error.busError == "org.freedesktop.systemd1.NoSuchUnit" {
            return
        } catch {
            throw RuntimeError(125, "cannot stop \(unit): \(error)")
        }
    }

    /// A container whose supervisor was killed (kill -9) while it ran: its processes may still
    /// be in the scope. They are stopped with the scope, and the end is recorded in the
    /// supervisor's place, under its lock, so a supervisor that still lives is never overruled.
    static func recoverLost(_ info: ContainerInfo) throws(RuntimeError) {
        let fd = open(info.layout.stateFile + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw RuntimeError(125, "cannot open the state lock: \(errnoText())") }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return }  // it lives after all
        try stopScope(info.record.unitName)
        guard var state = info.state else { return }
        state.status = "exited"
        state.finishedAt = UInt64(Date().timeIntervalSince1970 * 1e9)
        state.exitCode = 137
        state.signal = SIGKILL
        state.error = "its supervisor was killed; stopped with its scope"
        try Files.write(info.layout.stateFile, state.serialized)
    }

    /// Waits until the container's supervisor has recorded the end and exited.
    public static func waitForSupervisor(_ layout: ContainerLayout) throws(RuntimeError) {
        let deadline = Date().addingTimeInterval(10)
        while ContainerStore.supervisorHoldsLock(layout) {
            guard Date() < deadline else { throw RuntimeError(125, "the container's supervisor did not exit") }
            usleep(10_000)
        }
    }

    /// Sends a signal to the container's PID 1 through its supervisor (as `docker kill`: a
    /// signal, not a stop; the stop timeout is not armed).
    /// Stopped as `systemctl stop` would (if running), its supervisor waited for, then
    /// started again: `berth restart`, and berthd's for a user's restart or an unhealthy one.
    public mutating func restart(_ info: ContainerInfo) throws(RuntimeError) {
        try Self.stop(info)
        try Self.waitForSupervisor(info.layout)
        _ = try start(try ContainerStore.find(root: root, info.record.id), attach: nil)
    }

    public static func kill(_ info: ContainerInfo, signal: Int32) throws(RuntimeError) {
        guard info.isRunning else { throw RuntimeError(125, "container \(info.record.name) is not running") }
        try SupervisorConnection.connect(info.layout).send("signal \(signal)")
    }

    /// Removes a container's state and frees its name; a running one only with `force`
    /// (then it is killed first, as `docker rm -f` does).
    public static func remove(root: String, _ info: ContainerInfo, force: Bool) throws(RuntimeError) {
        if info.isLost {
            guard force else {
                throw RuntimeError(
                    125, "container \(info.record.name) may still run (its supervisor was killed): use -f")
            }
            try recoverLost(info)
        }
        if info.supervisorAlive {
            guard force else {
                throw RuntimeError(125, "container \(info.record.name) is running: stop it first, or use -f")
            }
            if let pid = info.state?.pid, pid > 0 { _ = Glibc.kill(pid, SIGKILL) }
            try stop(info)
            try waitForSupervisor(info.layout)
        }
        remove(root: root, name: info.record.name, id: info.record.id)
    }
}
