#if canImport(Glibc)
import Glibc
#endif

public enum ResourceUsage {
    /// The process's peak resident set size, in bytes.
    public static var peakRSSBytes: Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024  // Linux reports KiB
    }

    /// A monotonic clock, in nanoseconds.
    @inline(__always)
    public static func nowNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
