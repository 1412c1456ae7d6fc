import Foundation

/// One line of a publisher's `--input` in `host test-plugin`: an alert to wrap in an
/// envelope. A line is either
///
///   - the alert's payload, a JSON object (`{"store_id": "s1", "bad_events": 7}`): a plain
///     alert, its key made of the whole payload; or
///   - an *envelope-like* object — an object `payload` and nothing but these members:
///
///         {"payload": {"store_id": "s1", "bad_events": "7"}, "keyFields": ["store_id"],
///          "status": "resolved", "notification": "resolved", "severity": "critical",
///          "incident": 0, "startsAt": "2026-11-21T06:00:00.000Z", "endsAt": "2026-11-21T06:42:00.000Z"}
///
///     `keyFields` are the payload fields its key is made of (a stage's `groupBy`): the same
///     store's notifications then share one key whatever else their payloads say. With any
///     of `status`, `notification`, `severity`, `incident`, `startsAt`, `endsAt` it is a
///     notification of an alert's life (ABI 1.5, written by `EnvelopeWriter.write(…, life:)`
///     as a run writes them): `status` "firing" or "resolved", `notification` "firing",
///     "renotify", "refresh" or "resolved" (each defaults from the other; "firing" when
///     neither is given), `startsAt` when the incident began (default: now; required when
///     resolved), `endsAt` when it ended (required when resolved, and only then), times in
///     the envelope's form `2026-11-21T06:00:00.000Z` (the milliseconds may be left out),
///     `incident` the key's incident number (default 0).
///
///   An object with an object `payload` and one of those names besides is held to this
///   form: an unknown member is an error, not a payload field.
struct HarnessAlert {
    var line: Int
    var payload: [(String, String)]
    var keyFields: [String]?
    var life: EnvelopeWriter.Life?

    static let lifeMembers = ["status", "notification", "severity", "incident", "startsAt", "endsAt"]
    static let members = ["payload", "keyFields"] + lifeMembers

    /// The alert of one line, or why the line is not one (without the file and line).
    static func parse(_ bytes: Data, line: Int, nowMs: Int64) -> Result<HarnessAlert, InputProblem> {
        guard case .object(let fields)? = try? JSONValue.parse(bytes) else {
            return .failure(InputProblem("an alert is a JSON object (its payload), e.g. {\"store_id\": \"s1\", \"count\": 3}, "
                + "or an envelope-like object, e.g. {\"payload\": {\"store_id\": \"s1\"}, \"status\": \"resolved\", \"startsAt\": \"…\", \"endsAt\": \"…\"}"))
        }
        let names = fields.map(\.0)
        guard case .object(let payload)? = fields.first(where: { $0.0 == "payload" })?.1,
              names.allSatisfy({ members.contains($0) }) || names.contains(where: { $0 != "payload" && members.contains($0) }) else {
            return .success(HarnessAlert(line: line, payload: pairs(fields), keyFields: nil, life: nil))
        }
        if let unknown = names.first(where: { !members.contains($0) }) {
            return .failure(InputProblem("'\(unknown)' is not a member of an envelope-like line (it has an object 'payload' and "
                + "\(names.filter { $0 != "payload" && members.contains($0) }.map { "'\($0)'" }.joined(separator: ", ")); "
                + "it takes only \(members.joined(separator: ", ")))"))
        }
        var alert = HarnessAlert(line: line, payload: pairs(payload), keyFields: nil, life: nil)
        func text(_ name: String) -> Result<String?, InputProblem> {
            switch fields.first(where: { $0.0 == name })?.1 {
            case nil: return .success(nil)
            case .string(let s)?: return .success(s)
            case let other?: return .failure(InputProblem("\(name) must be a string, not \(other.kind)"))
            }
        }
        func time(_ name: String) -> Result<Int64?, InputProblem> {
            text(name).flatMap { s in
                guard let s else { return .success(nil) }
                // The envelope's form; the milliseconds may be left out.
                let full = s.utf8.count == 20 && s.hasSuffix("Z") ? String(s.dropLast()) + ".000Z" : s
                guard let ms = Timestamp.milliseconds(iso8601: full) else {
                    return .failure(InputProblem("\(name) \"\(s)\" is not a time like 2026-11-21T06:00:00.000Z (UTC)"))
                }
                return .success(ms)
            }
        }
        do {
            if let value = fields.first(where: { $0.0 == "keyFields" })?.1 {
                guard case .array(let items) = value else { throw InputProblem("keyFields must be a list of payload field names, not \(value.kind)") }
                alert.keyFields = try items.map { item in
                    guard case .string(let s) = item else { throw InputProblem("keyFields must be a list of payload field names (strings)") }
                    return s
                }
            }
            guard names.contains(where: { lifeMembers.contains($0) }) else { return .success(alert) }
            let status = try text("status").get(), notification = try text("notification").get()
            if let status, status != "firing" && status != "resolved" {
                throw InputProblem("status \"\(status)\": firing or resolved")
            }
            var kind: EnvelopeWriter.Life.Notification
            if let notification {
                guard let n = EnvelopeWriter.Life.Notification(rawValue: notification) else {
                    throw InputProblem("notification \"\(notification)\": firing, renotify, refresh or resolved")
                }
                kind = n
            } else {
                kind = status == "resolved" ? .resolved : .firing
            }
            if let status, (status == "resolved") != (kind == .resolved) {
                throw InputProblem("status \"\(status)\" with notification \"\(kind.rawValue)\": a resolved notification has status resolved, the others status firing")
            }
            let starts = try time("startsAt").get(), ends = try time("endsAt").get()
            var incident: UInt32 = 0
            switch fields.first(where: { $0.0 == "incident" })?.1 {
            case nil: break
            case .number(let d)? where d >= 0 && d < 4_294_967_296 && d == d.rounded(): incident = UInt32(d)
            case let other?: throw InputProblem("incident must be a whole number from 0 (the key's incident), not \(other.jsonText)")
            }
            var life = EnvelopeWriter.Life(notification: kind, severity: try text("severity").get() ?? "", incident: incident,
                                           startsAtMs: starts ?? nowMs)
            if kind == .resolved {
                guard let starts, let ends else {
                    throw InputProblem("a resolved alert needs startsAt and endsAt (when its incident began and ended)")
                }
                guard ends >= starts else { throw InputProblem("endsAt is before startsAt") }
                life.endsAtMs = ends
            } else if ends != nil {
                throw InputProblem("endsAt is for a resolved alert; this one is \(kind.rawValue) (status firing)")
            }
            alert.life = life
            return .success(alert)
        } catch let problem as InputProblem {
            return .failure(problem)
        } catch {
            return .failure(InputProblem("\(error)"))
        }
    }

    /// A JSON object's members as payload pairs: strings as they are, other values as
    /// their JSON text.
    private static func pairs(_ fields: [(String, JSONValue)]) -> [(String, String)] {
        fields.map { ($0.0, $0.1.scalarText ?? $0.1.jsonText) }
    }
}

/// What is wrong with one input line.
struct InputProblem: Error {
    let text: String
    init(_ text: String) { self.text = text }
}
