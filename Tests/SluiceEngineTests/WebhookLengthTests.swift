import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// Every length the Webhook formats cut is counted in the unit the service counts (Unicode
/// code points; bytes for the size caps), never splits a character where it can be helped,
/// a UTF-8 sequence or an escape, and every service's total size cap holds.
final class WebhookLengthTests: XCTestCase {
    /// Four people joined by three zero-width joiners: one character, 7 code points, 25 bytes.
    static let family = "👨‍👩‍👧‍👦"
    /// An e and a combining acute accent: one character, 2 code points.
    static let accented = "e\u{301}"
    static let notes = [String(repeating: family, count: 700), String(repeating: accented, count: 3_500)]

    func bodies(_ properties: [String: String], note: String, name: String = #function) throws -> [[String: Any]] {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: "{}") })
        let r = try runPipeline(WebhookTests.pipeline(properties.mapValues { $0.replacingOccurrences(of: "URL", with: server.url) }),
                                files: ["in.jsonl": WebhookTests.events(1, note: note)], name: name)
        XCTAssertEqual(r.publisher("hook")?.published, 1, "delivered")
        return server.requests.map { $0.json as? [String: Any] ?? [:] }
    }

    /// `text` is at most `limit` code points and, past the marker, made of whole characters
    /// of the note (no family cut between its people, no accent torn from its e).
    func assertCut(_ text: String, limit: Int, of note: String, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(text.unicodeScalars.count, limit, "\(what): \(text.unicodeScalars.count) code points", file: file, line: line)
        XCTAssertGreaterThan(text.unicodeScalars.count, limit / 2, "\(what): cut no more than needed", file: file, line: line)
        let unit = note.first.map(String.init) ?? ""
        let body = text.unicodeScalars.filter { unit.unicodeScalars.contains($0) }.count
        XCTAssertEqual(body % unit.unicodeScalars.count, 0, "\(what): a character was split", file: file, line: line)
    }

    func testSlackCountsCodePoints() throws {
        for note in Self.notes {
            let msg = try bodies(["format": "slack", "url": "URL", "title": "{payload.note}", "text": "{payload.note}"], note: note).first ?? [:]
            let blocks = msg["blocks"] as? [[String: Any]] ?? []
            let header = (blocks.first?["text"] as? [String: Any])?["text"] as? String ?? ""
            assertCut(header, limit: 150, of: note, "the header")
            let section = (blocks.dropFirst().first?["text"] as? [String: Any])?["text"] as? String ?? ""
            assertCut(section, limit: 3_000, of: note, "a section")
            assertCut(msg["text"] as? String ?? "", limit: 3_000, of: note, "the message text")
        }
    }

    func testDatadogCountsCodePoints() throws {
        for note in Self.notes {
            for overflow in ["truncate", "paginate"] {
                let events = try bodies(["format": "datadog", "apiKey": "k", "endpoint": "URL", "title": "{payload.note}",
                                         "text": "{payload.note}", "overflow": overflow], note: note)
                XCTAssertFalse(events.isEmpty)
                for e in events {
                    assertCut(e["title"] as? String ?? "", limit: 100, of: note, "the title (\(overflow))")
                    XCTAssertLessThanOrEqual((e["text"] as? String ?? "").unicodeScalars.count, 4_000, "the text (\(overflow))")
                }
                if overflow == "paginate" {
                    let pages = events.sorted { ($0["title"] as? String ?? "") < ($1["title"] as? String ?? "") }
                    XCTAssertEqual(pages.map { $0["text"] as? String ?? "" }.joined(), note, "the pages hold the whole note")
                } else {
                    let text = events[0]["text"] as? String ?? ""
                    XCTAssertTrue(text.hasSuffix("\n… [truncated]"))
                    assertCut(String(text.unicodeScalars.dropLast("\n… [truncated]".unicodeScalars.count)), limit: 4_000, of: note, "the text")
                }
            }
        }
    }

    func testPagerDutyCountsCodePoints() throws {
        for note in Self.notes {
            let event = try bodies(["format": "pagerduty", "routingKey": "R", "endpoint": "URL", "title": "{payload.note}",
                                    "source": "{payload.note}"], note: note).first ?? [:]
            let payload = event["payload"] as? [String: Any] ?? [:]
            assertCut(payload["summary"] as? String ?? "", limit: 1_024, of: note, "the summary")
            assertCut(payload["source"] as? String ?? "", limit: 255, of: note, "the source")
        }
    }

    func testSlackMessagesStayUnderTheTotalOfTheirBlocks() throws {
        // Ten alerts (the default listing) of 5,000 characters: ten full sections would be
        // 30,000 characters, which Slack refuses (msg_blocks_too_long) — every alert lost.
        let server = try LoopbackHTTPServer()
        let r = try runPipeline(WebhookTests.pipeline(["format": "slack", "url": server.url, "text": "{payload.note}"]),
                                files: ["in.jsonl": WebhookTests.events(30, stores: 30, note: String(repeating: "n", count: 5_000))])
        XCTAssertEqual(r.publisher("hook")?.published, 30)
        let blocks = (server.requests.first?.json as? [String: Any])?["blocks"] as? [[String: Any]] ?? []
        func text(_ b: [String: Any]) -> String {
            (b["text"] as? [String: Any])?["text"] as? String ?? ((b["elements"] as? [[String: Any]])?.first?["text"] as? String ?? "")
        }
        let total = blocks.map { text($0).unicodeScalars.count }.reduce(0, +)
        XCTAssertLessThanOrEqual(total, 12_000, "all the blocks' text")
        let sections = blocks.filter { $0["type"] as? String == "section" }
        XCTAssertEqual(sections.count, 10, "the ten alerts listed, each shortened alike")
        XCTAssertTrue(sections.allSatisfy { (1_000...1_200).contains(text($0).unicodeScalars.count) }, "\(sections.map { text($0).count })")
        XCTAssertEqual(blocks.last.map(text), "… and 20 more alerts")

        // Forty-eight listed: each would get 250 characters; fewer are listed, 500 each at least.
        server.reset()
        _ = try runPipeline(WebhookTests.pipeline(["format": "slack", "url": server.url, "text": "{payload.note}", "maxAlertsPerMessage": "48"]),
                            files: ["in.jsonl": WebhookTests.events(48, stores: 48, note: String(repeating: "n", count: 5_000))],
                            name: #function + "48")
        let many = (server.requests.first?.json as? [String: Any])?["blocks"] as? [[String: Any]] ?? []
        XCTAssertLessThanOrEqual(many.map { text($0).unicodeScalars.count }.reduce(0, +), 12_000)
        let listed = many.filter { $0["type"] as? String == "section" }
        XCTAssertTrue(listed.allSatisfy { text($0).unicodeScalars.count >= 500 })
        XCTAssertEqual(listed.count, 23)
        XCTAssertEqual(many.last.map(text), "… and 25 more alerts")
    }

    func testATitleThatRendersEmptyFallsBackToTheDefault() throws {
        // PagerDuty refuses an empty summary or source, Slack an empty header, Datadog an
        // empty title: a template of a payload field the alert lacks must not cost the alert.
        let blank = "{payload.absent}"
        let pd = try bodies(["format": "pagerduty", "routingKey": "R", "endpoint": "URL", "title": blank, "source": " "], note: "n").first ?? [:]
        let payload = pd["payload"] as? [String: Any] ?? [:]
        XCTAssertEqual(payload["summary"] as? String, "hot alert in retail/hooks")
        XCTAssertEqual(payload["source"] as? String, "sluice:retail/hooks")
        let slack = try bodies(["format": "slack", "url": "URL", "title": blank], note: "n").first ?? [:]
        let header = ((slack["blocks"] as? [[String: Any]])?.first?["text"] as? [String: Any])?["text"] as? String
        XCTAssertEqual(header, "hot alert in retail/hooks")
        let dd = try bodies(["format": "datadog", "apiKey": "k", "endpoint": "URL", "title": blank], note: "n").first ?? [:]
        XCTAssertEqual(dd["title"] as? String, "hot alert in retail/hooks")
    }

    func testSlackTruncationNeverLeavesAnEscapeHalfWritten() throws {
        // Each cut position in turn: "&amp;" split after 1 to 4 of its characters.
        for shift in 0..<5 {
            let text = String(repeating: "x", count: shift) + String(repeating: "&", count: 1_000) + "&\u{301}<\u{338}>!"
            let msg = try bodies(["format": "slack", "url": "URL", "title": "t", "text": "{payload.note}"], note: text).first ?? [:]
            let section = ((msg["blocks"] as? [[String: Any]])?.dropFirst().first?["text"] as? [String: Any])?["text"] as? String ?? ""
            XCTAssertGreaterThan(section.unicodeScalars.count, 2_990)
            XCTAssertLessThanOrEqual(section.unicodeScalars.count, 3_000)
            var rest = Substring(section)
            while let amp = rest.unicodeScalars.firstIndex(of: "&") {
                let after = rest.unicodeScalars[amp...]
                let entity = ["&amp;", "&lt;", "&gt;"].contains { after.starts(with: $0.unicodeScalars) }
                XCTAssertTrue(entity, "a bare & at \(section.unicodeScalars.distance(from: section.unicodeScalars.startIndex, to: amp)) (shift \(shift))")
                if !entity { break }
                rest = Substring(after.dropFirst())
            }
        }
        // A combining mark after &, < or > does not hide them from the escaping.
        let msg = try bodies(["format": "slack", "url": "URL", "title": "a &\u{301} <\u{338}!channel>", "text": ""], note: "").first ?? [:]
        let section = ((msg["blocks"] as? [[String: Any]])?.dropFirst().first?["text"] as? [String: Any])?["text"] as? String ?? ""
        XCTAssertTrue(section.unicodeScalars.starts(with: "*a &amp;\u{301} &lt;\u{338}!channel&gt;*\n".unicodeScalars), section)
    }

    func testPagerDutyEventsStayUnderTheirSizeCap() throws {
        // Two values of 400 KB: the event would be 800 KB; PagerDuty takes 512 KB.
        var event: [String: Any] = ["id": "s0", "t": 99]
        event["big1"] = String(repeating: "a", count: 400_000)
        event["big2"] = String(repeating: Self.family, count: 16_000)
        event["small"] = "kept whole"
        let line = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self) + "\n"
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: "{}") })
        let r = try runPipeline(WebhookTests.pipeline(["format": "pagerduty", "routingKey": "R", "endpoint": server.url]), files: ["in.jsonl": line])
        XCTAssertEqual(r.publisher("hook")?.published, 1)
        let body = server.requests.first?.body ?? Data()
        XCTAssertLessThanOrEqual(body.count, 512_000, "under PagerDuty's 512 KB")
        XCTAssertGreaterThan(body.count, 400_000, "only as much cut as needed")
        let details = ((server.requests.first?.json as? [String: Any])?["payload"] as? [String: Any])?["custom_details"] as? [String: Any] ?? [:]
        XCTAssertEqual(details["small"] as? String, "kept whole", "the small values are kept")
        XCTAssertTrue((details["big1"] as? String ?? "").hasSuffix("…"), "a cut value says so")
        XCTAssertTrue((details["sluice_truncated"] as? String ?? "").contains("512 KB"), "\(details.keys.sorted())")
        assertCut(String((details["big2"] as? String ?? "").dropLast()), limit: 16_000 * 7, of: String(repeating: Self.family, count: 2), "big2")
    }

    func testThreeHundredFieldsFitEveryCap() throws {
        var event: [String: Any] = ["id": "s0", "t": 99]
        for i in 0..<300 { event["field\(i)"] = String(repeating: Self.family, count: 400) }  // 300 × 10 KB
        let line = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self) + "\n"
        for (properties, cap) in [(["format": "pagerduty", "routingKey": "R"], 512_000), (["format": "teams"], 28_000),
                                  (["format": "teams-messagecard"], 28_000)] {
            let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: "{}") })
            var p = properties
            p[p["format"] == "pagerduty" ? "endpoint" : "url"] = server.url
            let r = try runPipeline(WebhookTests.pipeline(p), files: ["in.jsonl": line], name: #function + (p["format"] ?? ""))
            XCTAssertEqual(r.publisher("hook")?.published, 1, p["format"] ?? "")
            XCTAssertLessThan(server.requests.first?.body.count ?? .max, cap, p["format"] ?? "")
            XCTAssertNotNil(server.requests.first?.json, "valid JSON (\(p["format"] ?? ""))")
        }
    }

    // MARK: fitting a cap builds the body a few times, not once per part left out

    func testPagerDutyLeavesOutTheLargestEntriesWithOneMoreBuild() throws {
        // 2,000 entries of 250-byte names: ~540 KB of names alone, so values cannot be cut
        // enough and about 100 entries must be left out. Building the event once per entry
        // left out (as before) made this quadratic: 4,000 entries took 72 s.
        var event: [String: Any] = ["id": "s0", "t": 99]
        for i in 0..<2_000 { event[String(format: "%05d", i) + String(repeating: "k", count: 245)] = "value" }
        let line = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self) + "\n"
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: "{}") })
        let r = try runPipeline(WebhookTests.pipeline(["format": "pagerduty", "routingKey": "R", "endpoint": server.url]), files: ["in.jsonl": line])
        XCTAssertEqual(r.publisher("hook")?.published, 1)
        let body = server.requests.first?.body ?? Data()
        XCTAssertLessThanOrEqual(body.count, 512_000, "under PagerDuty's 512 KB")
        XCTAssertGreaterThan(body.count, 505_000, "no more left out than needed")
        let details = ((server.requests.first?.json as? [String: Any])?["payload"] as? [String: Any])?["custom_details"] as? [String: Any] ?? [:]
        let note = details["sluice_truncated"] as? String ?? ""
        let left = Int(note.prefix { $0.isNumber }) ?? -1
        XCTAssertTrue(note.hasSuffix("fields left out and values cut to fit PagerDuty's 512 KB an event"), note)
        XCTAssertEqual(details.count, 2_002 + 3 - left, "every entry kept but the \(left) left out (+ id, t and sluice's 3)")
        XCTAssertLessThanOrEqual(r.stage("hook")?.counters["bodies_built"] ?? .max, 3, "built at most 3 times")
    }

    func testTeamsFindsHowManyAlertsFitInAFewBuilds() throws {
        // 200 alerts of 4 KB each, all allowed in one message: about 6 fit in 28 KB. Trying
        // 200, 199, 198, … (as before) built the card 195 times; 500 took 84 s.
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: "{}") })
        let r = try runPipeline(WebhookTests.pipeline(["format": "teams", "url": server.url, "maxAlertsPerMessage": "200"]),
                                files: ["in.jsonl": WebhookTests.events(200, stores: 200, note: String(repeating: "n", count: 4_000))])
        XCTAssertEqual(r.publisher("hook")?.published, 200)
        XCTAssertEqual(server.requests.count, 1)
        let body = server.requests.first?.body ?? Data()
        XCTAssertLessThan(body.count, 28_000, "under Teams' 28 KB")
        let text = String(decoding: body, as: UTF8.self)
        let shown = text.components(separatedBy: String(repeating: "n", count: 4_000)).count - 1
        XCTAssertGreaterThanOrEqual(shown, 5, "as many listed as fit")
        XCTAssertGreaterThan(body.count + 4_200, 28_000, "one more would not fit")
        XCTAssertTrue(text.contains("… and \(200 - shown) more alerts"), "the rest counted")
        XCTAssertLessThanOrEqual(r.stage("hook")?.counters["bodies_built"] ?? .max, 10, "built at most 10 times")
    }
}
