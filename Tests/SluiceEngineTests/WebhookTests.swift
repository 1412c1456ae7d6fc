import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// The Webhook publisher against a real HTTP server on 127.0.0.1: every format's request
/// shape and limits, and delivery (retries, Retry-After, 4xx, timeouts, refused
/// connections, connection reuse, rate limits).
final class WebhookTests: XCTestCase {
    /// A pipeline: JSON Lines → Threshold (t > 50 alerts, payload: every field) → Webhook.
    static func pipeline(_ properties: [String: String], alerts: String = "", connection: String = "", maxRecords: Int = 10_000,
                         retry: String = #"{"maxAttempts": 3, "initialBackoffMs": 10, "maxBackoffMs": 40}"#,
                         spool: String = "") -> String {
        let props = String(decoding: (try? JSONSerialization.data(withJSONObject: properties, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        return """
        {"name": "hooks", "namespace": "retail", "batch": {"maxRecords": \(maxRecords)}, "retry": \(retry)\(spool.isEmpty ? "" : ", \"spool\": \(spool)"),
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in.jsonl"}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}\(alerts.isEmpty ? "" : ", \"alerts\": " + alerts)},
                    {"name": "hook", "plugin": {"name": "Webhook", "properties": \(props)}}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "hook", "port": "alerts"\(connection)}]}
        """
    }

    /// `n` events for stores s0…s(stores-1), every one over the limit, optionally with a note.
    static func events(_ n: Int, stores: Int = 2, note: String? = nil) -> String {
        (0..<n).map { i in
            var e: [String: Any] = ["id": "s\(i % stores)", "t": 60 + i]
            if let note { e["note"] = note }
            return String(decoding: (try? JSONSerialization.data(withJSONObject: e, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        }.joined(separator: "\n") + "\n"
    }

    func run(_ properties: [String: String], events: String = WebhookTests.events(3), alerts: String = "", connection: String = "",
             maxRecords: Int = 10_000, retry: String? = nil, spool: String = "", name: String = #function) throws -> PipelineRun {
        let p = retry.map { Self.pipeline(properties, alerts: alerts, connection: connection, maxRecords: maxRecords, retry: $0, spool: spool) }
            ?? Self.pipeline(properties, alerts: alerts, connection: connection, maxRecords: maxRecords, spool: spool)
        return try runPipeline(p, files: ["in.jsonl": events], name: name)
    }

    func object(_ r: HTTPRequestRecord) -> [String: Any] { r.json as? [String: Any] ?? [:] }

    // MARK: json

    func testJSONFormatPostsTheEnvelopesAsAnArrayWithMethodAndHeaders() throws {
        let server = try LoopbackHTTPServer()
        let r = try run(["format": "json", "url": server.url + "/hooks/in", "method": "PUT",
                         "headers": "X-Team: ops\nAuthorization: Bearer abc123", "maxAlertsPerRequest": "2"],
                        events: Self.events(5), maxRecords: 5)
        XCTAssertEqual(r.summary.status, .completed)
        let requests = server.requests
        XCTAssertEqual(requests.count, 3, "5 alerts, at most 2 per request")
        for q in requests {
            XCTAssertEqual(q.method, "PUT")
            XCTAssertEqual(q.path, "/hooks/in")
            XCTAssertEqual(q.headers["content-type"], "application/json")
            XCTAssertEqual(q.headers["x-team"], "ops")
            XCTAssertEqual(q.headers["authorization"], "Bearer abc123")
        }
        // The three requests go out at the same time and may arrive in any order.
        let envelopes = requests.flatMap { $0.json as? [[String: Any]] ?? [] }
            .sorted { Int(($0["payload"] as? [String: String])?["t"] ?? "") ?? 0 < Int(($1["payload"] as? [String: String])?["t"] ?? "") ?? 0 }
        XCTAssertEqual(envelopes.count, 5)
        XCTAssertEqual(envelopes.map { ($0["payload"] as? [String: String])?["id"] }, ["s0", "s1", "s0", "s1", "s0"])
        for e in envelopes {
            XCTAssertEqual((e["id"] as? String)?.count, 32)
            XCTAssertEqual((e["key"] as? String)?.count, 32)
            XCTAssertEqual(e["pipeline"] as? String, "hooks")
            XCTAssertEqual(e["namespace"] as? String, "retail")
        }
        XCTAssertEqual(r.publisher("hook")?.published, 5)
        XCTAssertEqual(r.stage("hot")?.counters["alerts"], 5)
    }

    func testOneConnectionIsReusedAcrossBatches() throws {
        let server = try LoopbackHTTPServer()
        let r = try run(["format": "json", "url": server.url], events: Self.events(6), maxRecords: 2)
        XCTAssertEqual(r.summary.batches, 3)
        XCTAssertEqual(server.requests.count, 3)
        XCTAssertEqual(server.connectionCount, 1, "one connection for the three batches' requests")
    }

    // MARK: slack

    func testSlackMessageHasTextAndAtMostFiftyBlocksAndTwelveThousandCharacters() throws {
        let server = try LoopbackHTTPServer()
        let long = String(repeating: "x", count: 5_000)
        let r = try run(["format": "slack", "url": server.url + "/services/T0/B0/X0", "maxAlertsPerMessage": "100",
                         "title": "Store {payload.id} is hot: {payload.t}", "text": "{payload.note} & <more>"],
                        events: Self.events(100, stores: 100, note: long))
        XCTAssertEqual(r.summary.status, .completed)
        XCTAssertEqual(server.requests.count, 1, "one message for the batch")
        let msg = object(server.requests[0])
        XCTAssertEqual(msg["text"] as? String, "100 alerts from retail/hooks")
        let blocks = msg["blocks"] as? [[String: Any]] ?? []
        XCTAssertLessThanOrEqual(blocks.count, 50, "Slack takes at most 50 blocks")
        XCTAssertEqual(blocks.first?["type"] as? String, "header")
        let sections = blocks.filter { $0["type"] as? String == "section" }
        // 48 would fit the blocks (50), not the 12,000 characters of all their text.
        XCTAssertEqual(sections.count, 23)
        let first = (sections[0]["text"] as? [String: Any])?["text"] as? String ?? ""
        XCTAssertTrue(first.hasPrefix("*Store s0 is hot: 60*\n"), first)
        XCTAssertTrue((500...3_000).contains(first.count), "section text is cut: \(first.count)")
        XCTAssertTrue(first.hasSuffix("…"))
        let context = blocks.last.flatMap { ($0["elements"] as? [[String: Any]])?.first?["text"] as? String }
        XCTAssertEqual(context, "… and 77 more alerts")
        XCTAssertEqual(r.publisher("hook")?.published, 100, "the message stands for every alert")
    }

    func testSlackEscapesItsControlCharacters() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "slack", "url": server.url, "title": "a < b & c > d"], events: Self.events(1))
        let blocks = object(server.requests[0])["blocks"] as? [[String: Any]] ?? []
        let text = (blocks[1]["text"] as? [String: Any])?["text"] as? String
        XCTAssertTrue(text?.hasPrefix("*a &lt; b &amp; c &gt; d*") == true, text ?? "")
    }

    // MARK: teams

    func testTeamsWorkflowsAdaptiveCardStaysUnder28KB() throws {
        let server = try LoopbackHTTPServer()
        let r = try run(["format": "teams", "url": server.url + "/workflows/abc", "maxAlertsPerMessage": "40"],
                        events: Self.events(40, stores: 40, note: String(repeating: "n", count: 3_000)))
        XCTAssertEqual(r.summary.status, .completed)
        XCTAssertEqual(server.requests.count, 1)
        let q = server.requests[0]
        XCTAssertLessThan(q.body.count, 28_000, "under Teams' 28 KB")
        XCTAssertEqual(q.headers["content-type"], "application/json; charset=utf-8", "or Teams counts the body as UTF-16")
        let msg = object(q)
        XCTAssertEqual(msg["type"] as? String, "message")
        let attachment = (msg["attachments"] as? [[String: Any]])?.first
        XCTAssertEqual(attachment?["contentType"] as? String, "application/vnd.microsoft.card.adaptive")
        let card = attachment?["content"] as? [String: Any]
        XCTAssertEqual(card?["type"] as? String, "AdaptiveCard")
        let body = card?["body"] as? [[String: Any]] ?? []
        XCTAssertEqual(body.first?["text"] as? String, "40 alerts from retail/hooks")
        let more = body.last?["text"] as? String ?? ""
        XCTAssertTrue(more.hasPrefix("… and ") && more.hasSuffix(" more alerts"), more)
        let facts = body.filter { $0["type"] as? String == "FactSet" }
        XCTAssertGreaterThan(facts.count, 1)
        XCTAssertLessThan(facts.count, 40, "alerts that do not fit are counted, not listed")
    }

    func testOneHugeTeamsAlertIsShrunkUnder28KB() throws {
        let server = try LoopbackHTTPServer()
        // One alert with 300 payload entries of 200 characters, and a long title.
        var event: [String: Any] = ["id": "s0", "t": 99]
        for i in 0..<300 { event["field\(i)"] = String(repeating: "v", count: 200) }
        let line = String(decoding: try JSONSerialization.data(withJSONObject: event), as: UTF8.self) + "\n"
        let r = try run(["format": "teams", "url": server.url, "title": String(repeating: "T", count: 50_000)], events: line)
        XCTAssertEqual(r.publisher("hook")?.published, 1)
        XCTAssertLessThan(server.requests.first?.body.count ?? .max, 28_000)
    }

    func testTeamsLegacyMessageCard() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "teams-messagecard", "url": server.url, "maxAlertsPerMessage": "2"], events: Self.events(3))
        let msg = object(server.requests[0])
        XCTAssertEqual(msg["@type"] as? String, "MessageCard")
        XCTAssertEqual(msg["@context"] as? String, "https://schema.org/extensions")
        XCTAssertEqual((msg["sections"] as? [Any])?.count, 2)
        XCTAssertEqual(msg["text"] as? String, "… and 1 more alert")
        XCTAssertEqual(msg["title"] as? String, "3 alerts from retail/hooks")
    }

    // MARK: datadog

    func testDatadogEventsOnePerAlertWithTagsAndAggregationKey() throws {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: #"{"status":"ok"}"#) })
        let r = try run(["format": "datadog", "apiKey": "dd-key-123", "endpoint": server.url + "/api/v1/events",
                         "title": "{payload.id} at {payload.t}", "severity": "warning"],
                        events: Self.events(3), alerts: #"{"key": ["id"]}"#)
        XCTAssertEqual(r.summary.status, .completed)
        let requests = server.requests
        XCTAssertEqual(requests.count, 3)
        for q in requests {
            XCTAssertEqual(q.path, "/api/v1/events")
            XCTAssertEqual(q.headers["dd-api-key"], "dd-key-123")
        }
        let events = requests.map(object).sorted { ($0["title"] as? String ?? "") < ($1["title"] as? String ?? "") }
        XCTAssertEqual(events.map { $0["title"] as? String }, ["s0 at 60", "s0 at 62", "s1 at 61"])
        XCTAssertEqual(events[0]["alert_type"] as? String, "warning")
        XCTAssertEqual(events[0]["source_type_name"] as? String, "sluice")
        XCTAssertEqual(events[0]["tags"] as? [String], ["namespace:retail", "pipeline:hooks", "stage:hot", "id:s0"])
        XCTAssertNotNil(events[0]["date_happened"] as? Int)
        // The same store: the same aggregation key, in every batch.
        XCTAssertEqual(events[0]["aggregation_key"] as? String, events[1]["aggregation_key"] as? String)
        XCTAssertNotEqual(events[0]["aggregation_key"] as? String, events[2]["aggregation_key"] as? String)
        XCTAssertEqual((events[0]["aggregation_key"] as? String)?.count, 32)
    }

    func testDatadogLongTextIsTruncatedWithAMarker() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "datadog", "apiKey": "k", "endpoint": server.url, "text": "{payload.note}"],
                    events: Self.events(1, note: String(repeating: "a", count: 9_000)))
        let text = object(server.requests[0])["text"] as? String ?? ""
        XCTAssertEqual(text.count, 4_000)
        XCTAssertTrue(text.hasSuffix("… [truncated]"))
    }

    func testDatadogLongTextIsPaginated() throws {
        let server = try LoopbackHTTPServer()
        let note = (0..<900).map { String(format: "line %05d", $0) }.joined(separator: "\n")  // 9,899 characters
        let r = try run(["format": "datadog", "apiKey": "k", "endpoint": server.url, "text": "{payload.note}",
                         "overflow": "paginate", "title": "Store {payload.id}"],
                        events: Self.events(1, note: note))
        let events = server.requests.map(object).sorted { ($0["title"] as? String ?? "") < ($1["title"] as? String ?? "") }
        XCTAssertEqual(events.map { $0["title"] as? String }, ["Store s0 (1/3)", "Store s0 (2/3)", "Store s0 (3/3)"])
        XCTAssertTrue(events.allSatisfy { ($0["text"] as? String ?? "").count <= 4_000 })
        XCTAssertEqual(events.map { $0["text"] as? String ?? "" }.joined(), note, "the pages hold the whole text")
        XCTAssertEqual(Set(events.map { $0["aggregation_key"] as? String ?? "" }).count, 1)
        XCTAssertEqual(r.publisher("hook")?.published, 1)
    }

    func testDatadogPagesAreCappedAndTheLastSaysTheRestWasCut() throws {
        let server = try LoopbackHTTPServer()
        let note = (0..<10_000).map { String(format: "line %05d", $0) }.joined(separator: "\n")  // 110,000 characters: 28 pages
        let r = try run(["format": "datadog", "apiKey": "k", "endpoint": server.url, "text": "{payload.note}",
                         "overflow": "paginate", "title": "Store {payload.id}"],
                        events: Self.events(1, note: note))
        let events = server.requests.map(object).sorted { ($0["title"] as? String ?? "").count == ($1["title"] as? String ?? "").count
            ? ($0["title"] as? String ?? "") < ($1["title"] as? String ?? "") : ($0["title"] as? String ?? "").count < ($1["title"] as? String ?? "").count }
        XCTAssertEqual(events.map { $0["title"] as? String }, (1...10).map { "Store s0 (\($0)/10)" })
        XCTAssertTrue(events.allSatisfy { ($0["text"] as? String ?? "").unicodeScalars.count <= 4_000 })
        let last = events.last?["text"] as? String ?? ""
        XCTAssertTrue(last.hasSuffix("\n… [truncated: the rest did not fit in 10 events]"), String(last.suffix(80)))
        let shown = events.map { $0["text"] as? String ?? "" }.joined().replacingOccurrences(of: "\n… [truncated: the rest did not fit in 10 events]", with: "")
        XCTAssertTrue(note.hasPrefix(shown), "the pages hold the text's start")
        XCTAssertGreaterThan(shown.unicodeScalars.count, 39_000, "10 pages' worth")
        XCTAssertEqual(r.publisher("hook")?.published, 1)
    }

    // MARK: pagerduty

    func testPagerDutyEventsV2() throws {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 202, body: #"{"status":"success"}"#) })
        let r = try run(["format": "pagerduty", "routingKey": "R0UTING", "endpoint": server.url + "/v2/enqueue",
                         "title": "{payload.note}", "severity": "critical"],
                        events: Self.events(2, note: String(repeating: "p", count: 2_000)),
                        alerts: #"{"groupBy": ["id"], "aggregates": [{"name": "max_t", "function": "max", "field": "t"}]}"#)
        XCTAssertEqual(r.summary.status, .completed)
        XCTAssertEqual(server.requests.count, 2)
        for q in server.requests {
            XCTAssertEqual(q.path, "/v2/enqueue")
            let e = object(q)
            XCTAssertEqual(e["routing_key"] as? String, "R0UTING")
            XCTAssertEqual(e["event_action"] as? String, "trigger")
            XCTAssertEqual((e["dedup_key"] as? String)?.count, 32)
            let payload = e["payload"] as? [String: Any] ?? [:]
            XCTAssertLessThanOrEqual((payload["summary"] as? String ?? "").count, 1_024)
            XCTAssertEqual(payload["severity"] as? String, "critical")
            XCTAssertEqual(payload["source"] as? String, "sluice:retail/hooks")
            XCTAssertEqual(payload["component"] as? String, "hot")
            let details = payload["custom_details"] as? [String: Any] ?? [:]
            XCTAssertNotNil(details["id"] as? String)
            XCTAssertNotNil(details["max_t"] as? String)
        }
        // The summary here is the empty note of an aggregated alert: only groupBy and aggregates.
        let keys = server.requests.map { object($0)["dedup_key"] as? String ?? "" }
        XCTAssertEqual(Set(keys).count, 2, "one incident per store")
    }

    func testPagerDutySummaryIsCutTo1024Characters() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "pagerduty", "routingKey": "R", "endpoint": server.url, "title": "{payload.note}"],
                    events: Self.events(1, note: String(repeating: "p", count: 2_000)))
        let summary = (object(server.requests[0])["payload"] as? [String: Any])?["summary"] as? String ?? ""
        XCTAssertEqual(summary.count, 1_024)
        XCTAssertTrue(summary.hasSuffix("…"))
    }

    // MARK: alertmanager (shape; the real Alertmanager is in AlertmanagerTests)

    func testAlertmanagerPostsLabelsAndAnnotations() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "alertmanager", "url": server.url, "generatorURL": "http://sluice.example/run",
                     "resolveAfterMs": "60000"],
                    events: Self.events(4),
                    alerts: #"{"groupBy": ["id"], "aggregates": [{"name": "max_t", "function": "max", "field": "t"}]}"#)
        XCTAssertEqual(server.requests.count, 1)
        XCTAssertEqual(server.requests[0].path, "/api/v2/alerts")
        let alerts = server.requests[0].json as? [[String: Any]] ?? []
        XCTAssertEqual(alerts.count, 2)
        let labels = alerts.map { $0["labels"] as? [String: String] ?? [:] }
        XCTAssertEqual(labels[0], ["alertname": "hot", "namespace": "retail", "pipeline": "hooks", "stage": "hot", "id": "s0"])
        let annotations = alerts[0]["annotations"] as? [String: String] ?? [:]
        XCTAssertEqual(annotations["max_t"], "62")
        XCTAssertEqual(annotations["count"], "2")
        XCTAssertEqual(annotations["summary"], "hot alert in retail/hooks")
        XCTAssertEqual(alerts[0]["generatorURL"] as? String, "http://sluice.example/run")
        let starts = alerts[0]["startsAt"] as? String ?? "", ends = alerts[0]["endsAt"] as? String ?? ""
        let lasts = Timestamp.milliseconds(iso8601: ends).map { $0 - (Timestamp.milliseconds(iso8601: starts) ?? 0) } ?? 0
        XCTAssertTrue((60_000..<65_000).contains(lasts), "ends resolveAfterMs after it was sent: \(lasts)")
    }

    func testFormatAutoPicksTheServiceFromTheSettings() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["url": server.url + "/api/v2/alerts"], events: Self.events(1))
        XCTAssertNotNil((server.requests.first?.json as? [[String: Any]])?.first?["labels"], "an Alertmanager URL")
        server.reset()
        _ = try run(["url": server.url + "/anything"], events: Self.events(1))
        XCTAssertNotNil((server.requests.first?.json as? [[String: Any]])?.first?["id"], "anything else: json envelopes")
        server.reset()
        _ = try run(["routingKey": "R", "endpoint": server.url], events: Self.events(1))
        XCTAssertEqual(object(server.requests[0])["event_action"] as? String, "trigger", "a routing key: PagerDuty")
    }

    // MARK: delivery

    func testServerErrorsAreRetriedThenDelivered() throws {
        let server = try LoopbackHTTPServer()
        server.respondInTurn([HTTPResponseSpec(status: 503, body: "busy"), HTTPResponseSpec(status: 503, body: "busy")])
        let r = try run(["format": "json", "url": server.url], retry: #"{"maxAttempts": 4, "initialBackoffMs": 100, "maxBackoffMs": 400}"#)
        XCTAssertEqual(r.summary.status, .completed)
        XCTAssertEqual(server.requests.count, 3)
        XCTAssertEqual(r.publisher("hook")?.retries, 2)
        XCTAssertEqual(r.publisher("hook")?.published, 3)
        // Exponential backoff with jitter: 100 then 200 ms, each between half and all of it.
        XCTAssertEqual(r.sleeps.count, 2)
        XCTAssertTrue((50...100).contains(r.sleeps[0]) && (100...200).contains(r.sleeps[1]), "\(r.sleeps)")
    }

    func testTooManyRequestsHonoursRetryAfterInSecondsAndAsADate() throws {
        for retryAfter in ["2", Self.httpDate(secondsFromNow: 3)] {
            let server = try LoopbackHTTPServer()
            server.respondInTurn([HTTPResponseSpec(status: 429, headers: [("Retry-After", retryAfter)], body: "slow down")])
            let r = try run(["format": "json", "url": server.url], retry: #"{"maxAttempts": 3, "initialBackoffMs": 10, "maxBackoffMs": 10000}"#)
            XCTAssertEqual(r.summary.status, .completed)
            XCTAssertEqual(r.sleeps.count, 1)
            XCTAssertGreaterThanOrEqual(r.sleeps.first ?? 0, 1_000, "waited as the service asked: \(retryAfter) → \(r.sleeps)")
            XCTAssertLessThanOrEqual(r.sleeps.first ?? 0, 3_000)
            XCTAssertEqual(server.requests.count, 2)
        }
    }

    func testANonsenseRetryAfterIsIgnored() throws {
        for value in ["Sun, 06 Nov 999999999 08:49:37 GMT", "-5", "99999999999999999999", "Sun, 99 Foo 2026 99:99:99 GMT", "soon"] {
            let server = try LoopbackHTTPServer()
            server.respondInTurn([HTTPResponseSpec(status: 429, headers: [("Retry-After", value)])])
            let r = try run(["format": "json", "url": server.url])
            XCTAssertEqual(r.publisher("hook")?.published, 3, value)
            XCTAssertEqual(r.sleeps.count, 1, value)
            XCTAssertLessThanOrEqual(r.sleeps.first ?? .max, 10, "the ordinary backoff: \(value)")
        }
    }

    func testRetryAfterLongerThanTheBoundSpoolsAtOnce() throws {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 429, headers: [("Retry-After", "120")], body: "") })
        let r = try run(["format": "json", "url": server.url])
        XCTAssertEqual(server.requests.count, 1, "no second try inside the batch")
        XCTAssertEqual(r.sleeps, [])
        XCTAssertEqual(r.publisher("hook")?.spooled, 3)
        let spool = SpoolReport.inspect(folder: r.dir + "/out/hooks/spool", publishers: ["hook"])
        XCTAssertEqual(spool.totalAlerts, 3)
        let next = spool.publishers[0].nextAttempt.flatMap { Timestamp.milliseconds(iso8601: $0) } ?? 0
        XCTAssertGreaterThan(next, Timestamp.nowMilliseconds() + 100_000, "the spool waits as long as the service asked")
    }

    func testOtherClientErrorsFailAtOnceWithTheResponseBody() throws {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(status: 400, body: "invalid_payload: blocks[0] is wrong") })
        let r = try run(["format": "slack", "url": server.url])
        XCTAssertEqual(server.requests.count, 1)
        XCTAssertEqual(r.sleeps, [], "a 400 is not retried")
        XCTAssertEqual(r.publisher("hook")?.failed, 3)
        XCTAssertEqual(r.publisher("hook")?.spooled, 0)
        XCTAssertEqual(r.summary.status, .completedWithFailures)
    }

    func testAServerSlowerThanTheTimeoutIsRetriedThenSpooled() throws {
        let server = try LoopbackHTTPServer(handler: { _ in HTTPResponseSpec(delayMs: 1_500) })
        let start = Date()
        let r = try run(["format": "json", "url": server.url, "timeoutMs": "200"],
                        retry: #"{"maxAttempts": 2, "initialBackoffMs": 10, "maxBackoffMs": 20}"#)
        XCTAssertLessThan(Date().timeIntervalSince(start), 5, "two 200 ms attempts, not the server's 1.5 s")
        XCTAssertEqual(server.waitForRequests(2).count, 2)
        XCTAssertEqual(r.publisher("hook")?.spooled, 3)
        XCTAssertEqual(r.summary.status, .completedWithFailures)
        XCTAssertEqual(r.summary.waitingAlerts, 3)
    }

    func testRateLimitSpacesRequests() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "pagerduty", "routingKey": "R", "endpoint": server.url, "rateLimit": "5/s"], events: Self.events(8, stores: 8))
        let times = server.requests.map(\.receivedMs).sorted()
        XCTAssertEqual(times.count, 8)
        // At most 5 in any second: the 6th starts when the 1st is a second old.
        XCTAssertGreaterThanOrEqual(times[5] - times[0], 950, "\(times.map { $0 - times[0] })")
    }

    func testSlackIsPacedAtItsDocumentedRateByDefault() throws {
        let server = try LoopbackHTTPServer()
        _ = try run(["format": "slack", "url": server.url], events: Self.events(4), maxRecords: 2)
        let times = server.requests.map(\.receivedMs).sorted()
        XCTAssertEqual(times.count, 2, "one message per batch")
        XCTAssertGreaterThanOrEqual(times[1] - times[0], 900, "Slack: one message a second per webhook")
    }

    func testABadTemplateOrFormatStopsTheStageWithAClearMessage() throws {
        XCTAssertThrowsError(try run(["format": "slack", "url": "http://127.0.0.1:9/x", "title": "Store {store}"])) { error in
            XCTAssertTrue("\(error)".contains("unknown placeholder {store}"), "\(error)")
        }
        XCTAssertThrowsError(try run(["format": "carrier-pigeon", "url": "http://127.0.0.1:9/x"])) { error in
            // The widgets file's enum refuses it before the plugin is created.
            XCTAssertTrue("\(error)".contains("property 'format' of plugin Webhook must be one of 'auto', 'json', 'slack'"), "\(error)")
        }
        XCTAssertThrowsError(try run(["format": "pagerduty"])) { error in
            XCTAssertTrue("\(error)".contains("format pagerduty needs 'routingKey'"), "\(error)")
        }
        XCTAssertThrowsError(try run(["format": "json", "url": "http://127.0.0.1:9/x", "headers": "no colon here"])) { error in
            XCTAssertTrue("\(error)".contains("headers: each line must be 'Name: value'"), "\(error)")
        }
    }

    func testOnlyHTTPAndHTTPSAreUsed() throws {
        let dir = try scratchFolder()
        XCTAssertThrowsError(try run(["format": "json", "url": "file://\(dir)/stolen.json"])) { error in
            XCTAssertTrue("\(error)".contains("property 'url' of plugin Webhook must be an http or https URL: its scheme is file"), "\(error)")
        }
        XCTAssertThrowsError(try run(["format": "pagerduty", "routingKey": "R", "endpoint": "http://events.pagerduty.com/v2/enqueue"])) { error in
            XCTAssertTrue("\(error)".contains("property 'endpoint' of plugin Webhook must be an http or https URL: it must be https for events.pagerduty.com"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/stolen.json"))
    }

    func testTheStageRefusesABadURLItselfWhateverTheHostChecked() throws {
        // The plugin's own check (the value may come from an environment validate did not
        // see): a catalog whose widgets file says nothing of URLs still gets it.
        for (url, reason) in [("hooks.slack.com/services/T0/B0/X0", "url: must be an http or https URL: it has no scheme"),
                              ("http://hooks.slack.com/services/T0/B0/X0", "url: must be an http or https URL: it must be https for hooks.slack.com")] {
            XCTAssertThrowsError(try WebhookTests.createWithoutURLType(["format": "slack", "url": url])) { error in
                XCTAssertTrue("\(error)".contains("stage 'hook' (Webhook 1.0.0): \(reason)"), "\(error)")
            }
        }
    }

    /// Creates the pipeline's stages from a catalog whose Webhook widgets file types `url`
    /// and `endpoint` as plain strings (so the host checks nothing of them): what is left
    /// is the plugin's own check when the stage is created.
    static func createWithoutURLType(_ properties: [String: String], name: String = #function) throws {
        _ = try runPipeline(pipeline(properties), files: ["in.jsonl": events(1)], catalog: catalogWithoutURLType(name), name: name)
    }

    /// JSONLSource, Threshold and Webhook, with `url` and `endpoint` typed as plain strings.
    static func catalogWithoutURLType(_ name: String = #function) throws -> Catalog {
        let dir = try scratchFolder(name + "-catalog")
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        for (library, widgets) in [("JSONLSource", "JSONLSource-source"), ("Threshold", "Threshold-transform"), ("Webhook", "Webhook-alertpublisher")] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/lib\(library).so", withDestinationPath: Package.buildDirectory + "/lib\(library).so")
            var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: repo + "/widgets/\(widgets).json"))) as? [String: Any] ?? [:]
            json["configuration-groups"] = (json["configuration-groups"] as? [[String: Any]] ?? []).map { group in
                var group = group
                group["properties"] = (group["properties"] as? [[String: Any]] ?? []).map { property in
                    var property = property
                    if property["type"] as? String == "url" { property["type"] = "string"; property["httpsHosts"] = nil }
                    return property
                }
                return group
            }
            try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/\(widgets).json"))
        }
        return catalog([dir])
    }

    static func httpDate(secondsFromNow s: Int) -> String {
        var t = time_t(time(nil) + s)
        var parts = tm()
        gmtime_r(&t, &parts)
        var buf = [CChar](repeating: 0, count: 64)
        strftime(&buf, 64, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
