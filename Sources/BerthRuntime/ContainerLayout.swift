/// Where a container's state lives under berth's root:
///
///     ROOT/containers/ID/           one directory per container
///         container.json            what it was created as (written once by berth, renamed into place)
///         owner                     who creates it ("cli", "berthd"), written before the name is claimed
///         spec.json                 berthd's: the spec document it applied (drop-ins merged)
///         supervisor.conf           the supervisor's input
///         state, state.lock         written only by the supervisor (temp file + rename); the lock
///                                   is held for the supervisor's lifetime
///         hostname hosts resolv.conf  bind-mounted into the container
///         upper/ work/ merged/      its writable layer and overlay mount point
///     ROOT/containers/names/NAME -> ../ID   the name, claimed atomically with symlink(2)
///         attach.sock               the supervisor's socket for attach and exec (message.h)
///         seccomp.bpf               the compiled seccomp filter
///     ROOT/volumes/NAME/            named volumes (_data, volume.json, lock)
///     ROOT/builds/ID/               a build's RUN step: the same, without a name
public struct ContainerLayout: Sendable {
    public let root: String
    public let id: String
    /// "containers", or "builds" for a build's steps (which `ps` never lists).
    public let group: String

    public init(root: String, id: String, group: String = "containers") {
        self.root = root
        self.id = id
        self.group = group
    }

    public var containers: String { root + "/" + group }
    public var directory: String { containers + "/" + id }
    public var stateFile: String { directory + "/state" }
    public var configFile: String { directory + "/supervisor.conf" }
    public var recordFile: String { directory + "/container.json" }
    /// Who is creating it, written before the name is claimed.
    public var ownerFile: String { directory + "/owner" }
    /// berthd's: the spec it was made from (AppliedSpec), rewritten after an update in place.
    public var appliedSpecFile: String { directory + "/spec.json" }
    public var upper: String { directory + "/upper" }
    public var work: String { directory + "/work" }
    public var merged: String { directory + "/merged" }
    public static func nameLink(root: String, name: String) -> String { root + "/containers/names/" + name }
    public func volumePath(_ name: String) -> String { root + "/volumes/" + name + "/_data" }

    /// The scope a container runs in.
    public static func unitName(_ containerName: String) -> String { "berth-\(containerName).scope" }
    /// The scope of a build's step: a prefix no container's scope has (theirs all begin with
    /// "berth-"), in a slice of its own.
    public static func buildStepUnitName(_ id: String) -> String { "berthbuild-\(id.prefix(16)).scope" }
    public static let buildSlice = "berth-build.slice"
}

/// The supervisor's record of a container, from its state file.
public struct ContainerState: Sendable, Equatable {
    public var status: String
    public var pid: Int32
    public var supervisorPid: Int32
    public var startedAt: UInt64
    public var finishedAt: UInt64
    public var exitCode: Int32
    public var signal: Int32
    /// The stop signal the supervisor received (systemctl stop, berth stop), or 0.
    public var stopSignal: Int32
    public var error: String?

    public init?(parsing text: String) {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard let status = fields["status"] else { return nil }
        self.status = status
        pid = Int32(fields["pid"] ?? "") ?? 0
        supervisorPid = Int32(fields["supervisorPid"] ?? "") ?? 0
        startedAt = UInt64(fields["startedAt"] ?? "") ?? 0
        finishedAt = UInt64(fields["finishedAt"] ?? "") ?? 0
        exitCode = Int32(fields["exitCode"] ?? "") ?? 0
        signal = Int32(fields["signal"] ?? "") ?? 0
        stopSignal = Int32(fields["stopSignal"] ?? "") ?? 0
        error = fields["error"]
    }

    /// The state file's form, as the supervisor writes it.
    var serialized: String {
        var text = "status=\(status)\nsupervisorPid=\(supervisorPid)\npid=\(pid)\nstartedAt=\(startedAt)\n"
        text += "finishedAt=\(finishedAt)\nexitCode=\(exitCode)\nsignal=\(signal)\nstopSignal=\(stopSignal)\n"
        if let error { text += "error=" + error.replacingOccurrences(of: "\n", with: " ") + "\n" }
        return text
    }
}
