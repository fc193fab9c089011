import CSystemd

#if canImport(Glibc)
    import Glibc
#endif

/// Results of the jobs being waited for, by job path, filled by the JobRemoved callback on the
/// connection's thread. Other clients' jobs are ignored, so nothing accumulates.
final class JobTracker {
    var waiting: Set<String> = []
    var results: [String: String] = [:]
}

extension SystemdBus {
    /// Matches the manager's JobRemoved(id, job, unit, result) signal. Installed once, when the
    /// connection opens, so it is in place before any job is started: a job that finishes
    /// before its method call even returns is still seen. sd_bus_match_signal (unlike
    /// sd_bus_add_match with a match string) is not variadic and needs no quoting.
    func watchJobs() throws(SystemdError) {
        let tracker = Unmanaged.passUnretained(jobs).toOpaque()
        let r = sd_bus_match_signal(
            bus, &jobRemovedSlot, Self.destination, Self.managerPath, Interface.manager, "JobRemoved",
            { message, userdata, _ in
                guard let message, let userdata else { return 0 }
                let reader = BusMessageReader(message: message)
                guard let id = try? reader.readBasic("u", UInt32(0)), id > 0,
                    let job = try? reader.readString("o"),
                    (try? reader.readString("s")) != nil,
                    let result = try? reader.readString("s")
                else { return 0 }
                // The tracker lives as long as the connection, and the slot is freed first.
                let jobs = Unmanaged<JobTracker>.fromOpaque(userdata).takeUnretainedValue()
                if jobs.waiting.contains(job) { jobs.results[job] = result }
                return 0
            }, tracker)
        if r < 0 { throw SystemdError(operation: "match JobRemoved", code: r) }
    }

    /// Processes bus traffic until JobRemoved for `job` arrives or `timeout` passes. A result
    /// other than "done" ("failed", "canceled", "timeout", "dependency", "skipped", ...) is an
    /// error naming it.
    func waitForJob(_ job: String, operation: String, unit: String, timeout: Duration) throws(SystemdError) {
        // sd_bus_call queued any signal that arrived before its reply, so a JobRemoved for this
        // job is dispatched only below, after the job is registered here.
        jobs.waiting.insert(job)
        defer {
            jobs.waiting.remove(job)
            jobs.results[job] = nil
        }
        let deadline = ContinuousClock.now + timeout
        while jobs.results[job] == nil {
            let r = sd_bus_process(bus, nil)
            if r < 0 { throw SystemdError(operation: operation, unit: unit, code: r) }
            if r > 0 { continue }  // something was dispatched; there may be more queued
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                throw SystemdError(
                    operation: operation, unit: unit, message: "timed out after \(timeout) waiting for job \(job)",
                    errno: ETIMEDOUT)
            }
            let w = sd_bus_wait(bus, max(left.microseconds, 1))
            if w < 0 && w != -EINTR { throw SystemdError(operation: operation, unit: unit, code: w) }
        }
        if let result = jobs.results[job], result != "done" {
            throw SystemdError(operation: operation, unit: unit, message: "the job finished with result \"\(result)\"")
        }
    }
}
