import Foundation
@testable import SluiceEngine
import XCTest

/// Silences (issue 22, item 6): matchers, durations and times, the store in the state
/// folder (writers under silences.lock), the watcher a running host asks, and the
/// `host silence` commands through the real binary. Times are given, never waited for.
final class SilenceTests: XCTestCase {
    /// 2026-12-06T12:00:00Z
    let noon: Int64 = 1_796_558_400_000
    let hour: Int64 = 3_600_000
    let day: Int64 = 86_400_000

    func matcher(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> SilenceMatcher? {
        do {
            return try SilenceMatcher.parse(text)
        } catch {
            XCTFail("\(text): \(error)", file: file, line: line)
            return nil
        }
    }

    func problem(_ text: String) -> String? {
        do {
            _ = try SilenceMatcher.parse(text)
            return nil
        } catch {
            return error.description
        }
    }

    // MARK: matchers

    func testMatchersMatchAsAlertmanagersDo() {
        // (matcher, label value or nil for an absent label, matches)
        let table: [(String, String?, Bool)] = [
            ("store_id=store7", "store7", true), ("store_id=store7", "store70", false), ("store_id=store7", "Store7", false),
            ("store_id=store7", nil, false),
            ("store_id!=store7", "store7", false), ("store_id!=store7", "store8", true), ("store_id!=store7", nil, true),
            ("store_id=~store1.*", "store1", true), ("store_id=~store1.*", "store12", true),
            ("store_id=~store1.*", "xstore1", false), ("store_id=~store1.*", nil, false),
            ("store_id=~store1|store2", "store2", true), ("store_id=~store1|store2", "store2x", false),
            ("store_id=~store1|store2", "xstore1", false),
            ("store_id!~store1.*", "store12", false), ("store_id!~store1.*", "store2", true), ("store_id!~store1.*", nil, true),
            // An absent label matches as the empty string.
            ("x=", nil, true), ("x=\"\"", nil, true), ("x=\"\"", "", true), ("x=\"\"", "a", false),
            ("x!=\"\"", nil, false), ("x!=\"\"", "a", true),
            ("x=~.*", nil, true), ("x=~.+", nil, false), ("x=~.+", "a", true),
            // Quoted values: spaces, an escaped quote, regex backslashes kept.
            ("note=\"a value\"", "a value", true), ("note=\"say \\\"hi\\\"\"", "say \"hi\"", true),
            ("store_id=~\"store\\d+\"", "store12", true), ("store_id=~\"store\\d+\"", "storeX", false),
            ("path=\"a\\\\b\"", "a\\b", true),
            // The value is everything after the operator.
            ("x==y", "=y", true), ("x=a=b", "a=b", true), ("x=~a~b", "a~b", true),
        ]
        for (text, label, expected) in table {
            guard let m = matcher(text) else { continue }
            XCTAssertEqual(m.matches(label), expected, "\(text) against \(label.map { "'\($0)'" } ?? "an absent label")")
        }
        let m = matcher("store_id=~store1.*")
        XCTAssertEqual(m?.name, "store_id")
        XCTAssertEqual(m?.op, .matchesRegex)
        XCTAssertEqual(m?.value, "store1.*")
        XCTAssertEqual(m?.description, "store_id=~\"store1.*\"")
        XCTAssertEqual(m.flatMap { matcher($0.description) }, m, "a matcher as shown reads back the same")
    }

    func testBadMatchersAreRefusedWithTheirReason() {
        XCTAssertEqual(problem("noop"), "no operator: write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX")
        XCTAssertEqual(problem("=store7"), "no label name before '=': write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX")
        XCTAssertEqual(problem("a!b"), "'!' must be followed by = or ~: write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX")
        XCTAssertEqual(problem("store id=7"), "the label name \"store id\" has a space or a control character")
        XCTAssertEqual(problem("a=\"open"), "the value starts with a quote but does not end with one")
        XCTAssertEqual(problem("a=\"x\"y\""), "a quote inside a quoted value must be written \\\"")
        // RE2, as matches() in expressions has it: the reason and its hint.
        XCTAssertEqual(problem("a=~("), "not a valid regular expression: missing ): (")
        XCTAssertTrue(problem("a=~(x)\\1")?.contains("backreferences are not supported") == true, problem("a=~(x)\\1") ?? "")
        XCTAssertTrue(problem("a!~x(?=y)")?.contains("lookahead and lookbehind are not supported") == true, problem("a!~x(?=y)") ?? "")
        XCTAssertTrue(problem("a=~x{,3}")?.contains("RE2 would read this pattern differently from POSIX") == true)
        // Only anchoring would make this a pattern: the pattern as written is checked.
        XCTAssertEqual(problem("a=~x)|(y"), "not a valid regular expression: unexpected ): x)|(y")
        XCTAssertNil(problem("a=~"), "an empty pattern: the empty string only")
        XCTAssertEqual(matcher("a=~")?.matches(nil), true)
        XCTAssertEqual(matcher("a=~")?.matches("x"), false)
    }

    func testASilenceNeedsAMatcherThatNeedsAValue() {
        func problem(_ texts: [String]) -> String? { Silence.matchersProblem(texts.compactMap { matcher($0) }) }
        XCTAssertEqual(problem([]), "a silence needs at least one matcher")
        XCTAssertNotNil(problem(["x!=y"]))
        XCTAssertNotNil(problem(["x=~.*", "y!~z", "w=\"\""]))
        XCTAssertNil(problem(["x!=y", "store_id=store7"]))
        XCTAssertNil(problem(["store_id=~store.+"]))
    }

    // MARK: durations and times

    func testDurations() {
        let good: [(String, Int64)] = [("90s", 90_000), ("15m", 900_000), ("2h", 7_200_000), ("1d", 86_400_000), ("1h30m", 5_400_000),
                                       ("2w", 1_209_600_000), ("500ms", 500), ("1d2h3m4s5ms", 93_784_005), ("3650d", SilenceTime.maxDurationMs)]
        for (text, ms) in good {
            XCTAssertEqual(try SilenceTime.milliseconds(duration: text).get(), ms, text)
        }
        let bad: [(String, String)] = [("", "an empty duration"), ("90", "a number without a unit"), ("2x", "unknown unit 'x'"),
                                       ("2H", "unknown unit 'H'"), ("30m1h", "units go largest first, each once"),
                                       ("1h1h", "units go largest first, each once"), ("h", "a number is missing"),
                                       ("-5m", "a number is missing"), ("0s", "no time at all"), ("1h 30m", "unknown unit 'h '"),
                                       ("3651d", "longer than 3650d, the most a silence may last"),
                                       ("99999999999999999999s", "too long a number")]
        for (text, why) in bad {
            switch SilenceTime.milliseconds(duration: text) {
            case .success(let ms): XCTFail("\(text) read as \(ms)")
            case .failure(let e): XCTAssertEqual(e.description, why + " (durations are written like 90s, 15m, 2h, 1d, 1h30m; units ms s m h d w)", text)
            }
        }
        let formatted: [(Int64, String)] = [(0, "0s"), (500, "500ms"), (90_000, "1m30s"), (5_400_000, "1h30m"), (86_400_000, "1d"),
                                            (1_209_600_000, "14d"), (93_784_005, "1d2h3m4s5ms")]
        for (ms, text) in formatted {
            XCTAssertEqual(SilenceTime.format(duration: ms), text)
            if ms > 0 { XCTAssertEqual(try SilenceTime.milliseconds(duration: text).get(), ms, "\(text) reads back") }
        }
    }

    func testTimes() throws {
        let good: [(String, Int64)] = [("2026-12-06T12:00:00Z", noon), ("2026-12-06T12:00:00.000Z", noon), ("2026-12-06t12:00:00z", noon),
                                       ("2026-12-06T13:00:00+01:00", noon), ("2026-12-06T06:30:00-05:30", noon),
                                       ("2026-12-06T12:00:00.25Z", noon + 250), ("2026-12-06T12:00:00.123987Z", noon + 123),
                                       ("2028-02-29T00:00:00Z", 1_835_395_200_000)]
        for (text, ms) in good {
            XCTAssertEqual(try SilenceTime.milliseconds(time: text).get(), ms, text)
        }
        for text in ["tomorrow", "", "2026-12-06", "2026-12-06T12:00:00", "2026-12-06 12:00:00Z", "2026-12-06T12:00Z",
                     "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-12-00T00:00:00Z", "2026-12-06T24:00:00Z",
                     "2026-12-06T12:60:00Z", "2026-12-06T12:00:00.Z", "2026-12-06T12:00:00+0100", "1969-12-31T23:59:59Z",
                     "2026-12-06T12:00:00Zjunk"] {
            if case .success(let ms) = SilenceTime.milliseconds(time: text) { XCTFail("'\(text)' read as \(ms)") }
        }
        XCTAssertEqual(SilenceTime.format(time: noon + 250), "2026-12-06T12:00:00.250Z")
        XCTAssertEqual(try SilenceTime.milliseconds(time: SilenceTime.format(time: noon + 250)).get(), noon + 250, "a written time reads back")
    }

    // MARK: a command line, checked

    func testAddReportsEveryProblemOfTheCommandLineAtOnce() {
        do {
            _ = try NewSilence.check(matches: ["noop", "a=~(", "store_id=store7"], duration: "2x", until: "tomorrow", start: "soon",
                                     comment: "  ", author: "", now: noon)
            XCTFail("accepted")
        } catch {
            XCTAssertEqual(error.kind, .invalid)
            XCTAssertEqual(error.messages, [
                "--match 'noop': no operator: write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX",
                "--match 'a=~(': not a valid regular expression: missing ): (",
                "--start 'soon': not a time like 2026-12-06T12:00:00Z (RFC 3339: a date, T, a time to the second, then Z for UTC or an offset like +02:00)",
                "--for '2x': unknown unit 'x' (durations are written like 90s, 15m, 2h, 1d, 1h30m; units ms s m h d w)",
                "--until 'tomorrow': not a time like 2026-12-06T12:00:00Z (RFC 3339: a date, T, a time to the second, then Z for UTC or an offset like +02:00)",
                "--for and --until: give one of them, not both",
                "--comment is required: say why, for whoever finds the silence (`host silence list` shows it)",
                "--author must not be empty",
            ])
        }
        func problems(_ matches: [String], duration: String? = "1h", until: String? = nil, start: String? = nil, comment: String? = "why") -> [String] {
            do {
                _ = try NewSilence.check(matches: matches, duration: duration, until: until, start: start, comment: comment, author: "ana", now: noon)
                return []
            } catch {
                return error.messages
            }
        }
        XCTAssertEqual(problems([]), ["--match is required: at least one, such as --match store_id=store7"])
        XCTAssertEqual(problems(["x!=y"]).first?.hasPrefix("--match: every matcher also matches alerts without that label"), true)
        XCTAssertEqual(problems(["a=b"], duration: nil), ["--for DURATION or --until TIME is required: how long the silence lasts"])
        XCTAssertEqual(problems(["a=b"], comment: nil).count, 1)
        XCTAssertEqual(problems(["a=b"], duration: nil, until: "2026-12-06T11:00:00Z"),
                       ["--until '2026-12-06T11:00:00Z': is not after the start, 2026-12-06T12:00:00.000Z"])
        XCTAssertEqual(problems(["a=b"], start: "2026-12-01T00:00:00Z"),
                       ["the silence would end at 2026-12-01T01:00:00.000Z, which has passed"])
    }

    func testAddTakesItsTimesFromTheCommandLine() throws {
        let later = try NewSilence.check(matches: ["store_id=store7"], duration: "2h", until: nil, start: nil, comment: "maintenance",
                                         author: "ana", now: noon)
        XCTAssertEqual(later.startsAt, noon)
        XCTAssertEqual(later.endsAt, noon + 2 * hour)
        XCTAssertEqual(later.matchers.map(\.description), ["store_id=\"store7\""])
        let until = try NewSilence.check(matches: ["store_id=store7"], duration: nil, until: "2026-12-06T15:00:00+01:00", start: nil,
                                         comment: "c", author: "ana", now: noon)
        XCTAssertEqual(until.endsAt, noon + 2 * hour)
        let pending = try NewSilence.check(matches: ["store_id=store7"], duration: "1d", until: nil, start: "2026-12-07T00:00:00Z",
                                           comment: "c", author: "ana", now: noon)
        XCTAssertEqual(pending.startsAt, noon + 12 * hour)
        XCTAssertEqual(pending.endsAt, noon + 36 * hour)
    }

    // MARK: the store

    func new(_ matches: [String], from start: Int64, for length: Int64, comment: String = "why") -> NewSilence {
        NewSilence(matchers: matches.compactMap { matcher($0) }, startsAt: start, endsAt: start + length, createdBy: "ana", comment: comment)
    }

    func testTheStoreAddsExpiresAndForgetsAfterAWeek() throws {
        let dir = try scratchFolder()
        let store = SilenceStore(folder: dir + "/not/yet/there")
        XCTAssertEqual(try store.load(), [], "no file: no silences")
        let a = try store.add(new(["store_id=store7"], from: noon, for: 2 * hour), now: noon)
        let b = try store.add(new(["stage=quality"], from: noon + hour, for: hour), now: noon)
        let c = try store.add(new(["store_id=~store1.*"], from: noon, for: hour), now: noon)
        XCTAssertNotNil(UUID(uuidString: a.id))
        XCTAssertEqual(a.id, a.id.lowercased())
        XCTAssertEqual(try store.load(), [a, b, c], "in the order they were made, read back whole")
        XCTAssertEqual([a, b, c].map { $0.state(at: noon) }, [.active, .pending, .active])

        let ended = try store.expire(ids: [a.id.uppercased(), b.id], now: noon + 30 * 60_000)
        XCTAssertEqual(ended.map(\.before), [.active, .pending])
        let loaded = try store.load()
        XCTAssertEqual(loaded[0].endsAt, noon + 30 * 60_000, "an active silence ends now")
        XCTAssertEqual(loaded[0].startsAt, noon)
        XCTAssertEqual([loaded[1].startsAt, loaded[1].endsAt], [noon + 30 * 60_000, noon + 30 * 60_000], "a pending one starts and ends now")
        XCTAssertEqual(loaded.map { $0.state(at: noon + 30 * 60_000) }, [.expired, .expired, .active])

        let again = try store.expire(ids: [a.id], now: noon + hour)
        XCTAssertEqual(again.first?.before, .expired)
        XCTAssertEqual(try store.load()[0].endsAt, noon + 30 * 60_000, "expiring an ended silence changes nothing")

        let before = try Data(contentsOf: URL(fileURLWithPath: store.path))
        XCTAssertThrowsError(try store.expire(ids: [c.id, "nope", "gone"], now: noon + hour)) { error in
            XCTAssertEqual((error as? SilenceError)?.kind, .invalid)
            XCTAssertEqual((error as? SilenceError)?.messages, [
                "no silence nope in \(store.path) (`host silence list --all` lists them)",
                "no silence gone in \(store.path) (`host silence list --all` lists them)",
            ])
        }
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: store.path)), before, "an unknown id changes nothing, the known one neither")

        // A rewrite forgets what ended more than 7 days before.
        let d = try store.add(new(["store_id=store9"], from: noon + 7 * day, for: hour), now: noon + 7 * day + 30 * 60_000 + 1)
        XCTAssertEqual(try store.load().map(\.id), [c.id, d.id], "a and b ended 7 days and 1 ms before, c 30 minutes after them")
    }

    func testTheFileIsTheDocumentedFormat() throws {
        let dir = try scratchFolder()
        let store = SilenceStore(folder: dir)
        let s = try store.add(new(["store_id=store7", "stage!~test.*"], from: noon, for: 2 * hour, comment: "disk swap"), now: noon)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/silences.json"))) as? [String: Any]
        XCTAssertEqual(json?["version"] as? Int, 1)
        let entry = (json?["silences"] as? [[String: Any]])?.first
        XCTAssertEqual(entry?["id"] as? String, s.id)
        XCTAssertEqual(entry?["startsAt"] as? String, "2026-12-06T12:00:00.000Z")
        XCTAssertEqual(entry?["endsAt"] as? String, "2026-12-06T14:00:00.000Z")
        XCTAssertEqual(entry?["createdAt"] as? String, "2026-12-06T12:00:00.000Z")
        XCTAssertEqual(entry?["createdBy"] as? String, "ana")
        XCTAssertEqual(entry?["comment"] as? String, "disk swap")
        XCTAssertEqual(entry?["matchers"] as? [[String: String]], [["name": "store_id", "op": "=", "value": "store7"],
                                                                    ["name": "stage", "op": "!~", "value": "test.*"]])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/silences.lock"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/silences.json.tmp"))
    }

    func testABadFileNamesEveryProblemAndIsNeverReplaced() throws {
        let dir = try scratchFolder()
        let store = SilenceStore(folder: dir)
        let text = """
            {"version":1,"silences":[
              {"id":"a","matchers":[{"name":"x","op":"=~","value":"("}],"startsAt":"2026-12-06T12:00:00Z","endsAt":"2026-12-06T11:00:00Z","createdBy":"ana","comment":"c","createdAt":"2026-12-06T12:00:00Z"},
              {"id":"b","matchers":[{"name":"x","op":"==","value":"y"}],"startsAt":"noon","endsAt":"2026-12-06T13:00:00Z","createdBy":"ana","createdAt":"2026-12-06T12:00:00Z"},
              {"id":"c","matchers":[{"name":"x","op":"!=","value":"y"}],"startsAt":"2026-12-06T12:00:00Z","endsAt":"2026-12-06T13:00:00Z","createdBy":"ana","comment":"c","createdAt":"2026-12-06T12:00:00Z"}
            ]}
            """
        try text.write(toFile: store.path, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try store.load()) { error in
            XCTAssertEqual((error as? SilenceError)?.kind, .unreadable)
            XCTAssertEqual((error as? SilenceError)?.messages, [
                "\(store.path): silences[0].matchers[0].value: not a valid regular expression: missing ): (",
                "\(store.path): silences[0].endsAt: is before startsAt",
                "\(store.path): silences[1].matchers[0].op: must be one of = != =~ !~, not \"==\"",
                "\(store.path): silences[1].startsAt: not a time like 2026-12-06T12:00:00Z (RFC 3339: a date, T, a time to the second, then Z for UTC or an offset like +02:00)",
                "\(store.path): silences[1].comment: is required",
                "\(store.path): silences[2].matchers: every matcher also matches alerts without that label (or with it empty), so the silence would hold back nearly every alert: at least one must need a value, as NAME=VALUE or NAME=~REGEX that does not match the empty string",
            ])
        }
        XCTAssertThrowsError(try store.add(new(["store_id=store7"], from: noon, for: hour), now: noon)) { error in
            XCTAssertEqual((error as? SilenceError)?.kind, .unreadable)
        }
        XCTAssertEqual(try String(contentsOfFile: store.path, encoding: .utf8), text, "a file that cannot be read is left as it is")

        try "{\"version\":1,\"silences\":[".write(toFile: store.path, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try store.load()) { error in
            XCTAssertEqual((error as? SilenceError)?.description, "\(store.path): not valid JSON: the text ends where a value was expected at line 1, column 26")
        }
        try "{\"version\":2,\"silences\":[]}".write(toFile: store.path, atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try store.load()) { error in
            XCTAssertEqual((error as? SilenceError)?.description, "\(store.path): version: this host reads version 1, not 2")
        }
    }

    func testConcurrentAddsAreAllKept() throws {
        let dir = try scratchFolder()
        let ids = LockedList()
        let silences = (0..<8).map { new(["store_id=store\($0)"], from: noon, for: hour) }
        let now = noon
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            // Each writer opens the lock file itself, as separate processes do.
            let store = SilenceStore(folder: dir)
            do {
                ids.append(try store.add(silences[i], now: now).id)
            } catch {
                ids.append("error: \(error)")
            }
        }
        XCTAssertEqual(Set(try SilenceStore(folder: dir).load().map(\.id)), Set(ids.items))
        XCTAssertEqual(ids.items.count, 8)
    }

    final class LockedList: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [String] = []
        func append(_ s: String) { lock.lock(); list.append(s); lock.unlock() }
        var items: [String] { lock.lock(); defer { lock.unlock() }; return list }
    }

    // MARK: the watcher

    func testTheWatcherMatchesWhatIsActiveNow() throws {
        let dir = try scratchFolder()
        let store = SilenceStore(folder: dir)
        let watcher = SilenceWatcher(folder: dir)
        XCTAssertNil(watcher.refresh(now: noon), "no file: no silences, nothing to say")
        XCTAssertTrue(watcher.current.isEmpty)

        let store7 = try store.add(new(["store_id=store7", "stage=quality"], from: noon, for: hour), now: noon)
        let later = try store.add(new(["store_id=~store1.*"], from: noon + hour, for: hour), now: noon)
        let noStage = try store.add(new(["stage=\"\"", "severity=critical"], from: noon, for: 2 * hour), now: noon)
        XCTAssertNil(watcher.refresh(now: noon))
        XCTAssertEqual(watcher.current.map(\.id), [store7.id, later.id, noStage.id])

        func labels(_ map: [String: String]) -> (String) -> String? { { map[$0] } }
        let alert = labels(["stage": "quality", "store_id": "store7", "severity": "warning"])
        XCTAssertEqual(watcher.silence(for: alert, at: noon)?.id, store7.id)
        XCTAssertEqual(watcher.silence(for: alert, at: noon + hour - 1)?.id, store7.id)
        XCTAssertNil(watcher.silence(for: alert, at: noon + hour), "it ends at endsAt")
        XCTAssertNil(watcher.silence(for: alert, at: noon - 1), "nor before startsAt")
        XCTAssertNil(watcher.silence(for: labels(["stage": "quality", "store_id": "store8"]), at: noon))
        XCTAssertNil(watcher.silence(for: labels(["store_id": "store7"]), at: noon), "stage is absent: it does not equal quality")

        let store12 = labels(["stage": "quality", "store_id": "store12"])
        XCTAssertNil(watcher.silence(for: store12, at: noon + hour - 1), "pending")
        XCTAssertEqual(watcher.silence(for: store12, at: noon + hour)?.id, later.id)
        XCTAssertEqual(watcher.silence(for: labels(["severity": "critical"]), at: noon)?.id, noStage.id, "stage=\"\" matches an absent stage")
        XCTAssertNil(watcher.silence(for: labels(["severity": "critical", "stage": "quality"]), at: noon))

        XCTAssertEqual(watcher.activeIDs(at: noon), [store7.id, noStage.id])
        XCTAssertEqual(watcher.activeIDs(at: noon + hour), [later.id, noStage.id], "store7's silence ended: the host re-sends what still fires")
        XCTAssertEqual(watcher.activeIDs(at: noon + 2 * hour), [])

        _ = try store.expire(ids: [noStage.id], now: noon + 10 * 60_000)
        XCTAssertNil(watcher.refresh(now: noon + 10 * 60_000))
        XCTAssertEqual(watcher.activeIDs(at: noon + 10 * 60_000), [store7.id])
        XCTAssertFalse(watcher.current.contains { $0.id == noStage.id }, "what has ended is not kept in memory")

        try FileManager.default.removeItem(atPath: store.path)
        XCTAssertNil(watcher.refresh(now: noon))
        XCTAssertEqual(watcher.activeIDs(at: noon), [], "the file removed: no silences")
    }

    func testABadFileWarnsOnceAndKeepsTheLastGoodSilences() throws {
        let dir = try scratchFolder()
        let store = SilenceStore(folder: dir)
        let watcher = SilenceWatcher(folder: dir)
        let s = try store.add(new(["store_id=store7"], from: noon, for: hour), now: noon)
        XCTAssertNil(watcher.refresh(now: noon))

        try "{\"version\":1,\"silences\":[{".write(toFile: store.path, atomically: true, encoding: .utf8)
        let warning = watcher.refresh(now: noon)
        XCTAssertEqual(warning, "\(store.path): not valid JSON: a key in double quotes expected at line 1, column 27; the 1 silence(s) read before stay in force until the file can be read")
        XCTAssertNil(watcher.refresh(now: noon), "the same bad file: said once")
        XCTAssertEqual(watcher.activeIDs(at: noon), [s.id], "the last good set stays")

        try "{\"version\":1}".write(toFile: store.path, atomically: true, encoding: .utf8)
        XCTAssertEqual(watcher.refresh(now: noon), "\(store.path): silences: is required; the 1 silence(s) read before stay in force until the file can be read",
                       "another bad version: said again")
        XCTAssertNil(watcher.refresh(now: noon))

        try FileManager.default.removeItem(atPath: store.path)
        let t = try store.add(new(["store_id=store8"], from: noon, for: hour), now: noon)
        XCTAssertNil(watcher.refresh(now: noon))
        XCTAssertEqual(watcher.activeIDs(at: noon), [t.id], "good again")
    }

    // MARK: `host silence`, through the binary

    /// A pipeline file whose state folder is `<dir>/state`.
    func pipeline(_ dir: String) throws -> String {
        let file = dir + "/pipeline.json"
        try #"{"name": "silenced", "state": {"path": "${pipeline.dir}/state"}, "stages": []}"#.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func testAddListExpireThroughTheHost() throws {
        let dir = try scratchFolder()
        let file = try pipeline(dir)
        let watcher = SilenceWatcher(folder: dir + "/state")
        XCTAssertNil(watcher.refresh(now: Timestamp.nowMilliseconds()))

        let add = try host(["silence", "add", "--pipeline", file, "--match", "store_id=store7", "--match", "stage=quality",
                            "--for", "2h", "--comment", "store 7 is being rewired", "--author", "ana"])
        XCTAssertEqual(add.status, 0, add.stderr)
        XCTAssertEqual(add.stderr, "")
        let id = add.stdout.trimmingCharacters(in: .newlines)
        XCTAssertNotNil(UUID(uuidString: id), add.stdout)

        // A running host's watcher sees it at its next refresh.
        XCTAssertNil(watcher.refresh(now: Timestamp.nowMilliseconds()))
        XCTAssertEqual(watcher.silence(for: { ["store_id": "store7", "stage": "quality"][$0] }, at: Timestamp.nowMilliseconds())?.id, id)

        let later = try host(["silence", "add", "--pipeline", file, "--match", "store_id=~store1.*", "--start", "2099-01-01T00:00:00Z",
                              "--until", "2099-01-02T00:00:00Z", "--comment", "later"], env: ["USER": "bo"])
        XCTAssertEqual(later.status, 0, later.stderr)
        let laterID = later.stdout.trimmingCharacters(in: .newlines)

        let list = try host(["silence", "list", "--pipeline", file])
        XCTAssertEqual(list.status, 0, list.stderr)
        let lines = list.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.first, "Silences in \(dir)/state/silences.json: 1 active, 1 pending, 0 expired (--all lists them all)")
        XCTAssertEqual(lines.dropFirst().first?.split(separator: " ").map(String.init),
                       ["ID", "STATE", "STARTS", "ENDS", "CREATED", "BY", "MATCHERS", "COMMENT"])
        XCTAssertEqual(lines.count, 3, list.stdout)
        XCTAssertTrue(lines.last?.hasPrefix(id + "  active  ") == true, list.stdout)
        XCTAssertTrue(lines.last?.hasSuffix("  ana         store_id=\"store7\" stage=\"quality\"  store 7 is being rewired") == true, list.stdout)

        let all = try host(["silence", "list", "--pipeline", file, "--all", "--json"])
        XCTAssertEqual(all.status, 0, all.stderr)
        let listed = try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as? [String: Any]
        let entries = listed?["silences"] as? [[String: Any]] ?? []
        XCTAssertEqual(entries.map { $0["id"] as? String }, [id, laterID])
        XCTAssertEqual(entries.map { $0["state"] as? String }, ["active", "pending"])
        XCTAssertEqual(entries.map { $0["createdBy"] as? String }, ["ana", "bo"], "--author, else $USER")
        XCTAssertEqual(entries.last?["startsAt"] as? String, "2099-01-01T00:00:00.000Z")

        let expire = try host(["silence", "expire", "--pipeline", file, id])
        XCTAssertEqual(expire.status, 0, expire.stderr)
        XCTAssertTrue(expire.stdout.hasPrefix("\(id): expired at "), expire.stdout)
        XCTAssertNil(watcher.refresh(now: Timestamp.nowMilliseconds()))
        XCTAssertEqual(watcher.activeIDs(at: Timestamp.nowMilliseconds()), [])

        let after = try host(["silence", "list", "--pipeline", file])
        XCTAssertEqual(after.stdout, "Silences in \(dir)/state/silences.json: 0 active, 1 pending, 1 expired (--all lists them all)\n")
        let kept = try host(["silence", "list", "--pipeline", file, "--all"])
        XCTAssertTrue(kept.stdout.contains(id + "  expired  "), kept.stdout)

        let unknown = try host(["silence", "expire", "--pipeline", file, "0000"])
        XCTAssertEqual(unknown.status, ExitStatus.invalid.rawValue)
        XCTAssertEqual(unknown.stderr, "error: no silence 0000 in \(dir)/state/silences.json (`host silence list --all` lists them)\n")
    }

    func testTheDefaultStateFolderIsTheRunsOne() throws {
        let dir = try scratchFolder()
        let file = dir + "/pipeline.json"
        try #"{"name": "store quality", "stages": []}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let add = try host(["silence", "add", "--pipeline", file, "--match", "store_id=store7", "--for", "15m", "--comment", "c"],
                           env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(add.status, 0, add.stderr)
        let (spec, _) = try PipelineSpec.load(path: file)
        let folder = try spec.stateFolder(PropertyTemplate(environment: ["SLUICE_OUT": dir + "/out"], pipelineDirectory: spec.directory)).get()
        XCTAssertEqual(folder, dir + "/out/store_quality/state")
        XCTAssertEqual(try SilenceStore(folder: folder).load().map(\.id), [add.stdout.trimmingCharacters(in: .newlines)])
    }

    func testTheHostRefusesABadCommandLineWithEveryProblem() throws {
        let dir = try scratchFolder()
        let file = try pipeline(dir)
        let bad = try host(["silence", "add", "--pipeline", file, "--match", "store_id=~store(1", "--match", "x", "--for", "90"])
        XCTAssertEqual(bad.status, ExitStatus.invalid.rawValue)
        XCTAssertEqual(bad.stdout, "")
        XCTAssertEqual(bad.stderr, """
            error: --match 'store_id=~store(1': not a valid regular expression: missing ): store(1
            error: --match 'x': no operator: write NAME=VALUE, NAME!=VALUE, NAME=~REGEX or NAME!~REGEX
            error: --for '90': a number without a unit (durations are written like 90s, 15m, 2h, 1d, 1h30m; units ms s m h d w)
            error: --comment is required: say why, for whoever finds the silence (`host silence list` shows it)

            """)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/state"), "nothing written")

        let noFile = try host(["silence", "add", "--pipeline", dir + "/missing.json", "--match", "a=b", "--until", "soon", "--comment", "c"])
        XCTAssertEqual(noFile.status, ExitStatus.invalid.rawValue)
        let problems = noFile.stderr.split(separator: "\n")
        XCTAssertEqual(problems.count, 2, noFile.stderr)
        XCTAssertTrue(problems.first?.hasPrefix("error: \(dir)/missing.json: ") == true, noFile.stderr)
        XCTAssertTrue(problems.last?.hasPrefix("error: --until 'soon': not a time") == true, noFile.stderr)

        let badState = dir + "/bad-state.json"
        try #"{"name": "x", "state": {"path": "${env:SLUICE_NO_SUCH_VARIABLE}"}, "stages": []}"#.write(toFile: badState, atomically: true, encoding: .utf8)
        let list = try host(["silence", "list", "--pipeline", badState])
        XCTAssertEqual(list.status, ExitStatus.invalid.rawValue)
        XCTAssertTrue(list.stderr.hasPrefix("error: \(badState): state.path: "), list.stderr)
    }

    func testACorruptFileIsAClearErrorForTheCommands() throws {
        let dir = try scratchFolder()
        let file = try pipeline(dir)
        try FileManager.default.createDirectory(atPath: dir + "/state", withIntermediateDirectories: true)
        let path = dir + "/state/silences.json"
        try "{\"version\":1,\"silences\":[{\"id\":\"a\"}]}".write(toFile: path, atomically: true, encoding: .utf8)
        let list = try host(["silence", "list", "--pipeline", file])
        XCTAssertEqual(list.status, ExitStatus.failed.rawValue)
        XCTAssertEqual(list.stdout, "")
        XCTAssertEqual(list.stderr.split(separator: "\n").first, "error: \(path): silences[0].matchers: is required")
        XCTAssertEqual(list.stderr.split(separator: "\n").count, 6, list.stderr)
        let add = try host(["silence", "add", "--pipeline", file, "--match", "a=b", "--for", "1h", "--comment", "c"])
        XCTAssertEqual(add.status, ExitStatus.failed.rawValue)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"version\":1,\"silences\":[{\"id\":\"a\"}]}", "not replaced")
    }

    func testConcurrentAddsFromTwoHostsAreBothKept() throws {
        let dir = try scratchFolder()
        let file = try pipeline(dir)
        var environment = ProcessInfo.processInfo.environment
        environment["SLUICE_OUT"] = dir + "/out"
        let hosts = try (0..<4).map { i -> (Process, Pipe) in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Package.host)
            p.arguments = ["silence", "add", "--pipeline", file, "--match", "store_id=store\(i)", "--for", "1h", "--comment", "at once"]
            p.environment = environment
            let out = Pipe()
            p.standardOutput = out
            try p.run()
            return (p, out)
        }
        var ids: [String] = []
        for (p, out) in hosts {
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, 0)
            ids.append(text.trimmingCharacters(in: .newlines))
        }
        XCTAssertEqual(Set(try SilenceStore(folder: dir + "/state").load().map(\.id)), Set(ids))
        XCTAssertEqual(Set(ids).count, 4)
    }
}
