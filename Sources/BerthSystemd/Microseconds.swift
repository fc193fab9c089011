extension Duration {
    /// Whole nanoseconds, saturating as `microseconds` does: wall-clock deadlines and the
    /// durations kept in records.
    public var nanoseconds: UInt64 {
        guard self > .zero else { return 0 }
        let (seconds, attoseconds) = components
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        let (sum, overflow2) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000))
        return overflow || overflow2 ? .max : sum
    }

    /// Whole microseconds, the unit of every systemd time value, saturating: a negative duration
    /// is 0 and one too long for UInt64 is UInt64.max (systemd's "infinity").
    var microseconds: UInt64 {
        guard self > .zero else { return 0 }
        // Both components are non-negative for a positive duration.
        let (seconds, attoseconds) = components
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000)
        let (sum, overflow2) = whole.addingReportingOverflow(UInt64(attoseconds / 1_000_000_000_000))
        return overflow || overflow2 ? .max : sum
    }
}
