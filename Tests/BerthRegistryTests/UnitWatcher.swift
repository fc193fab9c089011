import CSystemd
import Foundation

/// Watches systemd, from outside berth, for units as they appear: the manager's UnitNew signal
/// over its own sd-bus connection on its own thread. A build step that ran made a scope, so a
/// build that made none ran no step, whatever the build itself reports.
final class UnitWatcher: @unchecked Sendable {
    private let bus: OpaquePointer
    private let lock = NSLock()
    private var seen: [String] = []
    private var running = true
    private var thread: Thread?
    private let prefix: String

    init(prefix: String) throws {
        self.prefix = prefix
        var bus: OpaquePointer?
        guard sd_bus_open_system(&bus) >= 0, let bus else { throw WatcherError.noBus }
        self.bus = bus
        let context = Unmanaged.passUnretained(self).toOpaque()
        let matched = sd_bus_match_signal(
            bus, nil, "org.freedesktop.systemd1", "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
            "UnitNew",
            { message, context, _ in
                var name: UnsafePointer<CChar>?
                guard sd_bus_message_read_basic(message, CChar(UInt8(ascii: "s")), &name) >= 0, let name else {
                    return 0
                }
                Unmanaged<UnitWatcher>.fromOpaque(context!).takeUnretainedValue().saw(String(cString: name))
                return 0
            }, context)
        guard matched >= 0 else { throw WatcherError.noBus }
        // systemd sends unit signals only to subscribed clients.
        var call: OpaquePointer?
        var reply: OpaquePointer?
        var error = sd_bus_error()
        guard
            sd_bus_message_new_method_call(
                bus, &call, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                "org.freedesktop.systemd1.Manager", "Subscribe") >= 0,
            sd_bus_call(bus, call, 0, &error, &reply) >= 0
        else { throw WatcherError.noBus }
        sd_bus_message_unref(call)
        sd_bus_message_unref(reply)
        let thread = Thread { [self] in loop() }
        self.thread = thread
        thread.start()
    }

    private func saw(_ name: String) {
        guard name.hasPrefix(prefix) else { return }
        lock.withLock { seen.append(name) }
    }

    private func loop() {
        while lock.withLock({ running }) {
            let r = sd_bus_process(bus, nil)
            if r == 0 { _ = sd_bus_wait(bus, 50_000) }
            if r < 0 { return }
        }
    }

    /// The matching units seen so far; waits a little first, so signals on their way arrive.
    func units() -> [String] {
        Thread.sleep(forTimeInterval: 0.3)
        return lock.withLock { seen }
    }

    func reset() { lock.withLock { seen = [] } }

    func stop() {
        lock.withLock { running = false }
        while thread?.isFinished == false { Thread.sleep(forTimeInterval: 0.01) }
        sd_bus_flush_close_unref(bus)
    }

    enum WatcherError: Error { case noBus }
}
