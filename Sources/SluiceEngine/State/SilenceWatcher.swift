#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A running host's view of its pipeline's silences: `refresh` re-reads
/// `<state folder>/silences.json` when the file changed (one stat when it did not, so it
/// can be called every 200 ms), and `silence(for:at:)` says whether an alert is silenced.
/// A file that cannot be read keeps the silences read before; no file is no silences.
/// Times are passed in (milliseconds since 1970), so tests choose them. Safe from any
/// thread.
public final class SilenceWatcher: @unchecked Sendable {
    public let path: String

    private let lock = NSLock()
    // Guarded by `lock`:
    /// The version of the file last read, good or bad (nil: none, or no file).
    private var seen: SilenceFile.Identity?
    /// The last reason the file could not even be looked at (stat), said once.
    private var statProblem: String?
    /// The silences of the last good version that had not ended when it was read.
    private var silences: [Silence] = []

    public init(folder: String) {
        path = SilenceStore(folder: folder).path
    }

    /// Reads the file again if it changed since the last call. Returns a warning (once
    /// per version of the file that cannot be read; the silences read before stay), nil
    /// otherwise.
    public func refresh(now: Int64) -> String? {
        var st = stat()
        if stat(path, &st) != 0 {
            let why = errno
            lock.lock()
            defer { lock.unlock() }
            if why == ENOENT {
                seen = nil
                statProblem = nil
                silences = []
                return nil
            }
            let problem = "cannot read \(path): \(String(cString: strerror(why)))"
            guard problem != statProblem else { return nil }
            statProblem = problem
            return keeping(problem)
        }
        let identity = SilenceFile.Identity(st)
        lock.lock()
        let unchanged = identity == seen
        lock.unlock()
        if unchanged { return nil }

        let read: Result<(SilenceFile.Identity?, [Silence]), SilenceError>
        do {
            if let (data, version) = try SilenceFile.read(path) {
                read = .success((version, try SilenceFile.parse(data, path: path)))
            } else {
                read = .success((nil, []))
            }
        } catch {
            read = .failure(error)
        }
        lock.lock()
        defer { lock.unlock() }
        statProblem = nil
        switch read {
        case .success(let (version, found)):
            seen = version
            silences = found.filter { $0.endsAt > now }
            return nil
        case .failure(let error):
            seen = identity
            return keeping(error.messages.joined(separator: "; "))
        }
    }

    /// The first silence active at `now` (startsAt ≤ now < endsAt) all of whose matchers
    /// match the alert's labels; `labels(name)` is nil for a label the alert does not have.
    public func silence(for labels: (String) -> String?, at now: Int64) -> Silence? {
        current.first { $0.state(at: now) == .active && $0.matches(labels) }
    }

    /// The ids of the silences active at `now`: when one that was there is gone, a
    /// silence ended (or was expired), and alerts it held back that still fire are due.
    public func activeIDs(at now: Int64) -> Set<String> {
        Set(current.filter { $0.state(at: now) == .active }.map(\.id))
    }

    /// The silences last read that had not ended then, pending ones included.
    public var current: [Silence] {
        lock.lock()
        defer { lock.unlock() }
        return silences
    }

    /// The warning, in one line. Called with the lock held.
    private func keeping(_ problem: String) -> String {
        "\(problem); the \(silences.count) silence(s) read before stay in force until the file can be read"
    }
}
