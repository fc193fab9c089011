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

    /// Sends a signal to the container's PID 1 through its supervisor, which forwards it.
    public static func kill(_ info: ContainerInfo, signal: Int32) throws(RuntimeError) {
        guard info.isRunning, let supervisor = info.state?.supervisorPid, supervisor > 0 else {
            throw RuntimeError(125, "container \(info.record.name) is not running")
        }
        if Glibc.kill(supervisor, signal) != 0 {
            throw RuntimeError(125, "cannot signal \(info.record.name): \(String(cString: strerror(errno)))")
        }
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
            let deadline = Date().addingTimeInterval(10)
            while ContainerStore.supervisorHoldsLock(info.layout) && Date() < deadline { usleep(20_000) }
        }
        remove(root: root, name: info.record.name, id: info.record.id)
    }
}
