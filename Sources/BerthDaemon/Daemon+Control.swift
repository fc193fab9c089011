import BerthReconciler
import BerthRuntime
import BerthStore
import CLinux
import Foundation

extension Daemon {
    /// The control socket: root and the `berth` group only (0660, and the group when it exists).
    static func listen(_ path: String) throws -> Int32 {
        let fd = socket(
            AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw ControlError("socket: \(String(cString: strerror(errno)))") }
        // Only one berthd runs per root (its lock), so a socket file left here is a dead one's.
        unlink(path)
        var address = try ControlSocket.unixAddress(path)
        let old = umask(0o117)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(old)
        guard bound == 0, Glibc.listen(fd, 64) == 0 else {
            let text = String(cString: strerror(errno))
            close(fd)
            throw ControlError("cannot listen on \(path): \(text)")
        }
        chmod(path, 0o660)
        if let group = getgrnam("berth") { chown(path, 0, group.pointee.gr_gid) }
        return fd
    }

    func accept() {
        while true {
            let fd = clinux_accept(listener)
            guard fd >= 0 else { return }
            // A reply is small; a client that does not read it cannot hold berthd for long.
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            clients[fd] = []
        }
    }

    func readClient(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if n > 0 { clients[fd, default: []] += buffer[0..<n] }
        let line = clients[fd] ?? []
        if n > 0 && !line.contains(UInt8(ascii: "\n")) && line.count < 65536 { return }
        clients[fd] = nil
        guard let request = try? JSONDecoder().decode(ControlRequest.self, from: Data(line.prefix { $0 != 10 })) else {
            respond(fd, ControlReply(error: "berthd did not understand the request"))
            return
        }
        handle(request, fd)
    }

    private func handle(_ request: ControlRequest, _ fd: Int32) {
        switch request.command {
        case .status:
            respond(fd, statusReply())
        case .stop, .start, .restart, .remove:
            userCommand(request, fd)
        case .apply:
            contextsToCheck = true
            let names = request.names.isEmpty ? nil : withDependencies(Set(request.names))
            var options = PlanOptions(noRecreate: request.noRecreate)
            if request.forceRecreate { options.forceRecreate = names.map { .only($0) } ?? .all }
            let began = ContinuousClock.now
            let (dispatched, decided, blocked) = reconcile(Request(names: names, options: options))
            let took = ContinuousClock.now - began
            var reply = ControlReply(diagnostics: specs.diagnostics.map(\.description))
            let (seconds, attoseconds) = took.components
            reply.passMicroseconds = Int(seconds * 1_000_000 + attoseconds / 1_000_000_000_000)
            reply.outcomes = decided
            for name in names ?? [] where !specs.declaredNames.contains(name) {
                reply.outcomes.append(Outcome(name: name, done: "failed", error: "no spec declares \(name)"))
            }
            if dispatched.isEmpty && blocked.isEmpty {
                respond(fd, reply)
            } else {
                pending.append(
                    PendingApply(
                        fd: fd, waiting: dispatched, reply: reply, blocked: blocked,
                        deadline: Timestamp.nanoseconds() + Self.dependencyWait))
            }
        }
    }

    /// `berth stop|start|restart|rm` of berthd's containers: done on a worker like berthd's own
    /// actions, so the two never act on one container at once. A container whose spec still
    /// declares it is not removed (berthd would make it again): its spec file is.
    private func userCommand(_ request: ControlRequest, _ fd: Int32) {
        var reply = ControlReply()
        var waiting: Set<String> = []
        for reference in request.names {
            guard let info = try? ContainerStore.find(root: config.root, reference) else {
                reply.outcomes.append(
                    Outcome(name: reference, done: "failed", error: "no such container: \(reference)"))
                continue
            }
            let name = info.record.name
            if let busy = inFlight[name] {
                reply.outcomes.append(
                    Outcome(
                        name: name, done: "failed",
                        error: "berthd is busy with it (\(busy)); try again when that is done"))
                continue
            }
            if request.command == .remove, let loaded = declared[name] {
                reply.outcomes.append(
                    Outcome(
                        name: name, done: "failed",
                        error: "\(name) is declared by \(loaded.file.path): remove that file to remove it, or stop it"))
                continue
            }
            if request.command == .remove, info.supervisorAlive, !request.force {
                reply.outcomes.append(
                    Outcome(name: name, done: "failed", error: "container \(name) is running: stop it first, or use -f")
                )
                continue
            }
            waiting.insert(name)
            runUserCommand(request.command, name: name, why: "asked by berth")
        }
        if waiting.isEmpty {
            respond(fd, reply)
        } else {
            pending.append(PendingApply(fd: fd, waiting: waiting, reply: reply))
        }
    }

    func statusReply() -> ControlReply {
        let infos = Observation.containers(root: config.root)
        var reply = ControlReply(diagnostics: specs.diagnostics.map(\.description))
        reply.status = StatusReport.rows(specs: specs, containers: infos, memory: memory)
        for index in reply.status.indices where inFlight[reply.status[index].name] != nil {
            reply.status[index].state += " (" + inFlight[reply.status[index].name]! + " under way)"
        }
        return reply
    }

    func respond(_ fd: Int32, _ reply: ControlReply) {
        if var data = try? JSONEncoder().encode(reply) {
            data.append(UInt8(ascii: "\n"))
            try? ControlSocket.writeAll(fd, Array(data))
        }
        close(fd)
    }
}
