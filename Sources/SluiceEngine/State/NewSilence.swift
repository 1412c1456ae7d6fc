import Foundation

/// What `host silence add` asks for, checked: every problem of the command line at once,
/// each naming the option it is about.
public struct NewSilence: Sendable, Equatable {
    public var matchers: [SilenceMatcher]
    public var startsAt: Int64
    public var endsAt: Int64
    public var createdBy: String
    public var comment: String

    public init(matchers: [SilenceMatcher], startsAt: Int64, endsAt: Int64, createdBy: String, comment: String) {
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
    }

    /// `matches`: the --match texts; `duration` (--for) or `until`, one of them; `start`:
    /// nil for `now`; `comment` is required. Throws every problem (`invalid`).
    public static func check(matches: [String], duration: String?, until: String?, start: String?, comment: String?,
                             author: String, now: Int64) throws(SilenceError) -> NewSilence {
        var problems: [String] = []
        var matchers: [SilenceMatcher] = []
        for text in matches {
            do {
                matchers.append(try SilenceMatcher.parse(text))
            } catch {
                problems += error.messages.map { "--match \(quoted(text)): \($0)" }
            }
        }
        if matches.isEmpty {
            problems.append("--match is required: at least one, such as --match store_id=store7")
        } else if matchers.count == matches.count, let why = Silence.matchersProblem(matchers) {
            problems.append("--match: \(why)")
        }

        func time(_ option: String, _ text: String?) -> Int64? {
            guard let text else { return nil }
            switch SilenceTime.milliseconds(time: text) {
            case .success(let ms): return ms
            case .failure(let e):
                problems.append("\(option) \(quoted(text)): \(e.description)")
                return nil
            }
        }
        let startsAt = time("--start", start) ?? now
        // Each value given is read, so that a bad one is named even beside another problem.
        var length: Int64?
        if let duration {
            switch SilenceTime.milliseconds(duration: duration) {
            case .success(let ms): length = ms
            case .failure(let e): problems.append("--for \(quoted(duration)): \(e.description)")
            }
        }
        let end = time("--until", until)
        var endsAt: Int64?
        switch (duration, until) {
        case (nil, nil): problems.append("--for DURATION or --until TIME is required: how long the silence lasts")
        case (_?, _?): problems.append("--for and --until: give one of them, not both")
        case (_?, nil): endsAt = length.map { startsAt + $0 }
        case (nil, let u?):
            if let end, end <= startsAt {
                problems.append("--until \(quoted(u)): is not after the start, \(SilenceTime.format(time: startsAt))")
            } else {
                endsAt = end
            }
        }
        if let endsAt, endsAt <= now {
            problems.append("the silence would end at \(SilenceTime.format(time: endsAt)), which has passed")
        }

        let why = comment?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if why.isEmpty { problems.append("--comment is required: say why, for whoever finds the silence (`host silence list` shows it)") }
        if author.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { problems.append("--author must not be empty") }

        guard problems.isEmpty, let endsAt else { throw SilenceError(.invalid, problems) }
        return NewSilence(matchers: matchers, startsAt: startsAt, endsAt: endsAt, createdBy: author, comment: comment ?? "")
    }

    private static func quoted(_ text: String) -> String { "'" + RunReport.printable(text) + "'" }
}
