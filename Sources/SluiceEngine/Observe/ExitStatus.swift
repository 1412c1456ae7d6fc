/// The exit statuses of `host`, in one list. `host run --help` is written from it, the C
/// guard's SG_EXIT_* constants (Sources/SluiceGuard/include/sluice_guard.h) mirror it, and
/// the table in docs/pipelines.md (`host run FILE`, "Exit codes") and README's sentence
/// list it: ExitStatusTests fails when any of them disagrees with this enum.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case ok = 0
    case failed = 1
    case invalid = 2
    case undelivered = 3
    case stopped = 4
    case usage = 64
    case pluginExit = 70

    /// What the status says about a `host run`, in one line (Markdown: `code` in backticks).
    public var meaning: String {
        switch self {
        case .ok: "the run completed and every alert was published"
        case .failed: "a stage failed (it could not be created, or a call failed for good) or the source's position could not be saved; the run stopped and the failed batch was not committed. Also: another host holds the pipeline's run lock (nothing ran)"
        case .invalid: "the pipeline file is invalid"
        case .undelivered: "the run completed but some alerts could not be published: refused, lost, or waiting in a spool for the next run (`host spool FILE` lists them)"
        case .stopped: "a signal (SIGINT, SIGTERM, SIGHUP) stopped the run before its input ended; status `stopped`"
        case .usage: "a usage error"
        case .pluginExit: "a plugin called `exit()` during the run; the host names the stage and call"
        }
    }

    /// Every status with its meaning, as `--help` prints them: "0 the run completed …; 1 …".
    public static var helpList: String {
        // (Filtered, not Foundation's replacingOccurrences: every `host` start builds this
        // text, for `run`'s help, and that call cost a quarter of a millisecond.)
        allCases.map { "\($0.rawValue) \($0.meaning.filter { $0 != "`" })" }.joined(separator: "; ")
    }
}
