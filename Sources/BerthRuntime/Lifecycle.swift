import BerthSystemd
import Foundation

/// Stopping, signalling and removing containers. Stopping goes through systemd, as
/// `systemctl stop` would: the scope's KillSignal reaches the container and the supervisor,
/// which records the stop and SIGKILLs after stopTimeout.
extension Runtime {
    public static func stop(_ info: ContainerInfo) throws(RuntimeError) {
        guard info.supervisorAlive else { return }
        do {
            try SystemdBus().stopUnit(name: ContainerLayout.unitName(info.record.name))
        } catch let error as SystemdError where error.busError == "org.freedesktop.systemd1.NoSuchUnit" {
            return
        } catch {
            throw RuntimeError(125, "cannot stop \(info.record.name): \(error)")
        }
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
    public static func kill(_ info: ContainerInfo, signal: Int32) throws(RuntimeError) {
        guard info.isRunning else { throw RuntimeError(125, "container \(info.record.name) is not running") }
        try SupervisorConnection.connect(info.layout).send("signal \(signal)")
    }

    /// Removes a container's state and frees its name; a running one only with `force`
    /// (then it is killed first, as `docker rm -f` does).
    public static func remove(root: String, _ info: ContainerInfo, force: Bool) throws(RuntimeError) {
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
