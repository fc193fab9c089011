import Foundation

/// Wall-clock time as berth writes it: nanoseconds since the epoch in its state files, and RFC
/// 3339 with nanoseconds, as Docker writes `created` and health probes' times.
public enum Timestamp {
    public static func nanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    public static func rfc3339(_ nanoseconds: UInt64) -> String {
        var t = time_t(nanoseconds / 1_000_000_000)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
            parts.tm_hour, parts.tm_min, parts.tm_sec, Int(nanoseconds % 1_000_000_000))
    }

    public static func now() -> String { rfc3339(nanoseconds()) }
}
