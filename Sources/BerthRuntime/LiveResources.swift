import BerthSpec
import BerthSystemd
import Foundation

extension Runtime {
    /// Changes a container's memory, CPU and task limits (the reconciler's update in place): the
    /// record first, so its next start has them, then, when it runs, its scope's properties over
    /// sd-bus with SetUnitProperties, live. A limit no longer given is lifted (systemd's
    /// "infinity", UINT64_MAX). The supervisor counts in the scope, as at creation.
    public static func setResources(_ info: ContainerInfo, to resources: Resources) throws(RuntimeError) {
        var record = info.record
        var scope = record.scope ?? ScopeSettings()
        scope.memory = resources.memory.map { UInt64($0) }
        scope.pids = resources.pids.map { UInt64($0) }
        scope.cpus = resources.cpus
        record.scope = scope
        try record.write(to: info.layout)
        guard info.supervisorAlive else { return }
        let properties: [UnitProperty] = [
            .memoryMax(scope.memory.map { $0 + supervisorMemory } ?? .max),
            .tasksMax(scope.pids.map { $0 + 1 } ?? .max),
            .cpuQuotaPerSec(microseconds: scope.cpus.map { UInt64($0 * 1_000_000) } ?? .max),
        ]
        do {
            let bus = try SystemdBus()
            try bus.setUnitProperties(name: record.unitName, properties: properties)
            if let memory = scope.memory {
                try CgroupMemory.verify(bus: bus, unit: record.unitName, expected: memory + supervisorMemory)
            }
        } catch let error as RuntimeError {
            throw error
        } catch {
            throw RuntimeError(125, "cannot change the limits of \(record.unitName): \(error)")
        }
    }

    /// Rewrites the spec a berthd container was made from, after an update in place changed it.
    public static func recordApplied(_ info: ContainerInfo, _ applied: AppliedSpec) throws(RuntimeError) {
        var record = info.record
        record.specOrigin = applied.origin
        try Files.write(info.layout.appliedSpecFile, applied.document)
        try record.write(to: info.layout)
    }
}
