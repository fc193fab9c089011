import BerthSystemd
import Foundation

/// The memory limit a scope really has, read from its cgroup: MemoryMax is memory.max on cgroup
/// v2 and memory.limit_in_bytes on v1, where the kernel rounds it to pages and where setting it
/// can fail without systemd saying so.
enum CgroupMemory {
    /// The limit in bytes (nil: unlimited), or throws when no memory cgroup can be found.
    static func limit(controlGroup: String) throws(RuntimeError) -> UInt64? {
        let candidates = [
            ("/sys/fs/cgroup" + controlGroup + "/memory.max", "max"),
            ("/sys/fs/cgroup/unified" + controlGroup + "/memory.max", "max"),
            ("/sys/fs/cgroup/memory" + controlGroup + "/memory.limit_in_bytes", "9223372036854771712"),
        ]
        for (path, unlimited) in candidates {
            guard let text = Files.readText(path)?.trimmingCharacters(in: .whitespacesAndNewlines) else { continue }
            if text == unlimited || text == "max" { return nil }
            if let value = UInt64(text) { return value }
        }
        throw RuntimeError(125, "no memory cgroup for \(controlGroup): is the memory controller enabled?")
    }

    /// Checks that a started scope's memory limit is the one asked for (to the page).
    static func verify(bus: SystemdBus, unit: String, expected: UInt64) throws(RuntimeError) {
        let controlGroup: String
        do {
            guard
                let value = try bus.getProperty(
                    unit: unit, interface: "org.freedesktop.systemd1.Scope", name: "ControlGroup")?.stringValue,
                !value.isEmpty
            else { throw RuntimeError(125, "the scope \(unit) has no control group") }
            controlGroup = value
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "cannot read the control group of \(unit): \(error)")
        }
        let actual = try limit(controlGroup: controlGroup)
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        guard let actual, actual / page == expected / page else {
            throw RuntimeError(
                125,
                "the memory limit is not in effect: asked for \(expected) bytes, the cgroup \(controlGroup) has "
                    + (actual.map { "\($0)" } ?? "no limit"))
        }
    }
}
