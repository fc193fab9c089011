import Foundation

/// Wakes berthd when a spec directory changes: inotify on each directory and on each
/// `NAME.json.d/` inside it. Editors that write a temp file and rename it, and `cp` that writes in
/// place, both end in an event here (IN_MOVED_TO, IN_CLOSE_WRITE); a burst of events is coalesced
/// into one wake-up, which comes once no event has arrived for `debounce` (10 ms). Events for
/// hidden and temp files count too: the reconcile that follows reads the directories again, so a
/// spurious wake-up costs one no-op reconcile and a missed one would cost correctness.
public final class SpecWatcher {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let fd: Int32
    private let directories: [String]
    private var watches: [Int32: String] = [:]

    static let mask: UInt32 =
        UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_MOVED_FROM) | UInt32(IN_CREATE)
        | UInt32(IN_DELETE) | UInt32(IN_ATTRIB) | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
        | UInt32(IN_ONLYDIR)

    public init(directories: [String]) throws {
        fd = inotify_init1(Int32(IN_CLOEXEC) | Int32(IN_NONBLOCK))
        guard fd >= 0 else { throw Failure(description: "inotify_init1: \(String(cString: strerror(errno)))") }
        self.directories = directories
        rescan()
    }

    deinit { close(fd) }

    /// The descriptor to poll, for callers that wait on several things at once.
    public var fileDescriptor: Int32 { fd }

    /// Watches every spec directory that exists and every `*.json.d` in it; directories that
    /// appear later are picked up on the next event in their parent, or by the next rescan.
    public func rescan() {
        for directory in directories {
            add(directory)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            where entry.hasSuffix(".json.d") {
                add(directory + "/" + entry)
            }
        }
    }

    private func add(_ path: String) {
        guard !watches.values.contains(path) else { return }
        let wd = inotify_add_watch(fd, path, Self.mask)
        if wd >= 0 { watches[wd] = path }
    }

    /// Blocks until something changed (or `timeout` passed: false), then until `debounce` passes
    /// with no further event. Never spins: it sleeps in poll(2).
    public func wait(timeout: Duration? = nil, debounce: Duration = .milliseconds(10)) -> Bool {
        guard waitReadable(timeout) else { return false }
        drain()
        while waitReadable(debounce) { drain() }
        return true
    }

    private func waitReadable(_ timeout: Duration?) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ms =
            timeout.map {
                Int32(clamping: $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)
            } ?? -1
        while true {
            let n = poll(&p, 1, ms)
            if n < 0 && errno == EINTR { continue }
            return n > 0
        }
    }

    /// Reads every queued event; a new `*.json.d` directory gets a watch, a watch that went
    /// away (its directory deleted or moved) is forgotten.
    private func drain() {
        for event in InotifyEvent.readAll(fd) {
            if event.has(IN_IGNORED) { watches[event.watch] = nil }
            if event.has(IN_ISDIR), event.name.hasSuffix(".json.d"), let parent = watches[event.watch],
                event.has(IN_CREATE) || event.has(IN_MOVED_TO)
            {
                add(parent + "/" + event.name)
            }
        }
    }
}
