import BerthReconciler
import BerthRuntime
import BerthSpec
import BerthStore
import BerthSystemd
import CLinux
import Foundation

/// berthd: specs in, containers out. One thread waits in poll(2) on everything that can change
/// the world (spec files, containers' state, signals, the control socket, finished work, the
/// earliest restart due) and plans; the actions run on a pool of workers, at most one per name.
/// Nothing wakes it while nothing happens, but the watchdog's ping.
public final class Daemon {
    public struct Configuration: Sendable {
        public var root: String
        public var specDirectories: [String]
        /// The control socket and the boot marker (a tmpfs: emptied by a reboot).
        public var runDirectory: String
        public var supervisor: String
        public var workers = 8
        public var insecureRegistries: Set<String> = []

        public init(root: String, specDirectories: [String], runDirectory: String, supervisor: String) {
            self.root = root
            self.specDirectories = specDirectories
            self.runDirectory = runDirectory
            self.supervisor = supervisor
        }
    }

    /// An action done; `action` is nil for what a user asked (`berth stop`, ...), which is
    /// neither retried nor counted against the name.
    struct Finished: Sendable {
        var name: String
        var action: Action?
        var outcome: Outcome
    }

    /// An `apply` request waiting for the actions it started.
    struct PendingApply {
        var fd: Int32
        var waiting: Set<String>
        var reply: ControlReply
        /// Names waiting for their dependencies: acted on in a later pass (then waited for),
        /// or reported as still waiting at `deadline`.
        var blocked: [String: String] = [:]
        var deadline: UInt64 = 0
    }

    /// How long `berth apply NAME` waits for NAME's dependencies before it answers.
    static let dependencyWait: UInt64 = 120_000_000_000

    let config: Configuration
    let executor: Executor
    let watcher: SpecWatcher
    let containerEvents: Int32
    var containerWatches: [Int32: String] = [:]
    let signals: Int32
    let listener: Int32
    let pool: WorkerPool
    let finished: Mailbox<Finished>
    let contexts: ContextWatcher
    let builds: Mailbox<BuildDone>
    var buildTracks: [String: BuildTrack] = [:]
    let probePool: WorkerPool
    let probes: Mailbox<ProbeDone>
    var probeTimers: [String: ProbeTimer] = [:]
    var healthStates: [String: HealthState] = [:]
    var unhealthyRestartAt: [String: UInt64] = [:]
    var rollouts: [String: Rollout] = [:]
    /// Another pass right away: watches on new containers' directories were just added, and a
    /// state change between the pass's read and the watch would otherwise go unseen.
    var passSoon = false
    var toldTruncated: Set<String> = []
    /// Whether a build context may have changed since the last pass looked (a context's or a
    /// spec's event, a reload, an apply, the start): only then are contexts fingerprinted,
    /// not on the passes a container's exit or a probe brings.
    var contextsToCheck = true
    let lockFD: Int32

    /// The specs as the last pass read them, and the valid ones by container name.
    var specs = SpecSet() {
        didSet { declared = Dictionary(specs.specs.map { ($0.spec.name, $0) }, uniquingKeysWith: { a, _ in a }) }
    }
    var declared: [String: LoadedSpec] = [:]
    /// What is under way for each name, as `describe` says it.
    var inFlight: [String: String] = [:]
    var memory: [String: NameMemory] = [:]
    var restartBackoff: [String: RestartBackoff] = [:]
    /// The exit (its finishedAt) each name's current restart delay was computed for.
    var exitSeen: [String: UInt64] = [:]
    /// After an action failed: when to try again, and the back-off that says so.
    var failureBackoff: [String: RestartBackoff] = [:]
    var retryAt: [String: UInt64] = [:]
    var pending: [PendingApply] = []
    var clients: [Int32: [UInt8]] = [:]
    var appliedCache: [String: (stamp: String, spec: ContainerSpec?)] = [:]
    var strayScopes: Set<String> = []
    /// The first start since the machine booted: every spec'd container starts, whatever stopped it.
    var boot: Bool
    var lastStatus = ""
    var ready = false
    var watchdogEvery: Duration?
    var nextWatchdog = ContinuousClock.now

    public init(_ config: Configuration) throws {
        self.config = config
        executor = Executor(
            root: config.root, supervisor: config.supervisor, insecureRegistries: config.insecureRegistries)
        try FileManager.default.createDirectory(atPath: config.root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: config.runDirectory, withIntermediateDirectories: true)
        // One berthd per root: a second would act on the same containers.
        lockFD = open(config.root + "/berthd.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lockFD >= 0, flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            throw ControlError("another berthd runs on \(config.root) (berthd.lock is held)")
        }
        let marker = config.runDirectory + "/berthd.started"
        boot = !FileManager.default.fileExists(atPath: marker)
        _ = FileManager.default.createFile(atPath: marker, contents: nil)

        // Signals arrive on a descriptor; they are blocked before any thread exists, so every
        // thread inherits the mask (berthd's main blocks them first of all, see `blockSignals`).
        var mask = Self.handledSignals()
        signals = clinux_signalfd(&mask)
        guard signals >= 0 else { throw ControlError("signalfd: \(String(cString: strerror(errno)))") }
        watcher = try SpecWatcher(directories: config.specDirectories)
        containerEvents = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        guard containerEvents >= 0 else { throw ControlError("inotify_init1: \(String(cString: strerror(errno)))") }
        // A container made by `berth run` appears here: a pass then watches it (and probes it);
        // one whose directory is deleted goes (its own watch may not say so while its
        // supervisor holds the directory open).
        let containers = config.root + "/containers"
        try FileManager.default.createDirectory(atPath: containers, withIntermediateDirectories: true)
        _ = inotify_add_watch(
            containerEvents, containers,
            UInt32(IN_CREATE) | UInt32(IN_MOVED_TO) | UInt32(IN_DELETE) | UInt32(IN_MOVED_FROM) | UInt32(IN_ONLYDIR))
        listener = try Self.listen(ControlSocket.path(runDirectory: config.runDirectory))
        pool = WorkerPool(threads: config.workers)
        finished = try Mailbox()
        contexts = try ContextWatcher()
        builds = try Mailbox()
        probePool = WorkerPool(threads: 4)
        probes = try Mailbox()
        if let interval = try? SystemdNotify.watchdogInterval() { watchdogEvery = interval / 2 }
        buildTracks = loadBuildTracks()
    }

    static func handledSignals() -> sigset_t {
        var mask = sigset_t()
        sigemptyset(&mask)
        for s in [SIGHUP, SIGTERM, SIGINT, SIGCHLD] { sigaddset(&mask, s) }
        return mask
    }

    /// Call first in main, before any thread starts.
    public static func blockSignals() {
        var mask = handledSignals()
        pthread_sigmask(SIG_BLOCK, &mask, nil)
    }

    /// Runs until SIGTERM or SIGINT. The containers stay: they live in their own scopes.
    public func run() {
        // What a crash (kill -9) of an earlier berthd left half made: only berthd makes these.
        ContainerStore.collectIncomplete(root: config.root, owner: ObservedContainer.berthdOwner)
        Runtime.sweepNetwork(root: config.root)
        for line in Runtime.republishMissing(root: config.root) { log(4, line) }
        log(
            6,
            "berthd started on \(config.root), specs in \(config.specDirectories.joined(separator: ", "))"
                + (boot ? " (first start since boot: every spec'd container is started)" : ""))
        reconcile()
        boot = false
        ready = true
        _ = try? SystemdNotify.ready(status: lastStatus)
        while loopOnce() {}
        _ = try? SystemdNotify.stopping()
        log(6, "berthd stopping; \(inFlight.count) actions in flight are abandoned, the containers stay")
    }

    /// One wait and what it brought; false when it is time to exit.
    private func loopOnce() -> Bool {
        var fds = [
            pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
            pollfd(fd: watcher.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: containerEvents, events: Int16(POLLIN), revents: 0),
            pollfd(fd: finished.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
            pollfd(fd: contexts.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: builds.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: probes.fd, events: Int16(POLLIN), revents: 0),
        ]
        let clientFDs = Array(clients.keys)
        fds += clientFDs.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let r = poll(&fds, nfds_t(fds.count), timeoutMilliseconds())
        if r < 0 && errno != EINTR { log(3, "poll: \(String(cString: strerror(errno)))") }
        pingWatchdog()
        var wanted = passSoon
        passSoon = false
        if fds[0].revents != 0 {
            switch handleSignals() {
            case .exit: return false
            case .reload:
                let usec = UInt64(monotonicNanoseconds(CLOCK_MONOTONIC) / 1000)
                _ = try? SystemdNotify.notify("RELOADING=1\nMONOTONIC_USEC=\(usec)")
                log(6, "reloading (SIGHUP)")
                contextsToCheck = true
                watcher.rescan()
                reconcile()
                _ = try? SystemdNotify.ready(status: lastStatus)
            case .none: break
            }
        }
        if fds[1].revents != 0 {
            _ = watcher.wait(timeout: .zero)
            contextsToCheck = true
            wanted = true
        }
        if fds[2].revents != 0 {
            drainContainerEvents()
            wanted = true
        }
        if fds[3].revents != 0 {
            for item in finished.take() { complete(item) }
            wanted = true
        }
        if fds[4].revents != 0 { accept() }
        if fds[5].revents != 0 {
            // A burst (a checkout, an editor's save) is one pass: drained until 20 ms are quiet.
            var quiet = pollfd(fd: contexts.fd, events: Int16(POLLIN), revents: 0)
            while contexts.drain() && poll(&quiet, 1, 20) > 0 {}
            contextsToCheck = true
            wanted = true
        }
        if fds[6].revents != 0 {
            completeBuilds()
            wanted = true
        }
        if fds[7].revents != 0, completeProbes() { wanted = true }
        for (index, fd) in clientFDs.enumerated() where fds[8 + index].revents != 0 { readClient(fd) }
        runDueProbes()
        restartUnhealthy()
        // A restart or a retry that came due.
        let now = Timestamp.nanoseconds()
        if memory.values.contains(where: { ($0.restartAt ?? .max) <= now })
            || retryAt.values.contains(where: { $0 <= now })
        {
            wanted = true
        }
        if wanted { reconcile() }
        return true
    }

    private enum SignalResult { case none, reload, exit }

    private func handleSignals() -> SignalResult {
        var result = SignalResult.none
        while case let signal = clinux_read_signal(signals), signal > 0 {
            switch signal {
            case SIGCHLD:
                // Supervisors are berthd's children until they exit; reap them.
                var status: Int32 = 0
                while waitpid(-1, &status, WNOHANG) > 0 {}
            case SIGHUP: if result == .none { result = .reload }
            default: result = .exit
            }
        }
        return result
    }

    private func timeoutMilliseconds() -> Int32 {
        var deadlines: [UInt64] = memory.values.compactMap(\.restartAt) + Array(retryAt.values)
        deadlines += probeTimers.values.filter { !$0.probing }.map(\.due) + Array(unhealthyRestartAt.values)
        deadlines += pending.filter { !$0.blocked.isEmpty }.map(\.deadline) + rolloutDeadlines
        var timeout = Int64.max
        let now = Timestamp.nanoseconds()
        if let next = deadlines.min() { timeout = next > now ? Int64((next - now) / 1_000_000) + 1 : 0 }
        if watchdogEvery != nil {
            let left = nextWatchdog - ContinuousClock.now
            timeout = min(
                timeout,
                max(0, Int64(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000)))
        }
        deadlines.removeAll()
        if passSoon { return 0 }
        return timeout == .max ? -1 : Int32(min(timeout, Int64(Int32.max)))
    }

    private func pingWatchdog() {
        guard let every = watchdogEvery, ContinuousClock.now >= nextWatchdog else { return }
        _ = try? SystemdNotify.watchdog()
        nextWatchdog = ContinuousClock.now + every
    }

    /// Exits and starts of containers: their supervisors rename `state` into place.
    private func drainContainerEvents() {
        for event in InotifyEvent.readAll(containerEvents) where event.has(IN_IGNORED) {
            containerWatches[event.watch] = nil
        }
    }

    /// An inotify watch on every container's directory, those still being made (no record
    /// yet: its record and state are renamed in later) included; a new watch means another
    /// pass at once, since a change between this pass's read and the watch went unseen.
    func watchContainers(_ infos: [ContainerInfo]) {
        let containers = config.root + "/containers"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: containers)) ?? []
        let directories = Set(infos.map(\.layout.directory) + entries.map { containers + "/" + $0 })
        let known = Set(containerWatches.values)
        for directory in directories.subtracting(known) {
            let wd = inotify_add_watch(
                containerEvents, directory, UInt32(IN_MOVED_TO) | UInt32(IN_DELETE_SELF) | UInt32(IN_ONLYDIR))
            if wd >= 0 {
                containerWatches[wd] = directory
                let info = infos.first { $0.layout.directory == directory }
                if info?.isRunning != true { passSoon = true }
            }
        }
    }

    /// A line for journald (the priority as a <N> prefix, which journald reads from a service's
    /// stderr) or for the terminal.
    func log(_ priority: Int, _ text: String) {
        let prefix = ProcessInfo.processInfo.environment["JOURNAL_STREAM"] != nil ? "<\(priority)>" : ""
        FileHandle.standardError.write(Data((prefix + text + "\n").utf8))
    }
}

private func monotonicNanoseconds(_ clock: clockid_t) -> UInt64 {
    var ts = timespec()
    clock_gettime(clock, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
