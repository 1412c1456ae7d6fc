import Foundation
import LoopbackHTTP
import SluiceEngine
import SluicePluginABI
import SluicePluginSDK
import XCTest

/// Issue 22, item 4: an incident's notifications (firing, renotify, refresh, resolved: ABI
/// 1.5) through every publisher, each in its service's own form, fed by `host test-plugin`
/// with envelope-like input lines to real servers on 127.0.0.1 (LoopbackHTTP, kafka-mock).
final class ResolveTests: XCTestCase {
    static let routingKey = String(repeating: "R", count: 32)
    static let start = "2026-11-21T06:00:00.000Z"
    static let end = "2026-11-21T06:42:00.000Z"

    /// One store's incident: it fires, is renotified, refreshed, and resolves — one line
    /// each, with the same key (made of store_id, as a stage's groupBy makes it).
    static func incident(severity: String = "critical", extra: String = "") -> String {
        let common = #""keyFields":["store_id"],"severity":"\#(severity)","startsAt":"\#(start)""#
        return """
        {"payload":{"store_id":"s1","bad_events":"7"\(extra)},\(common),"status":"firing"}
        {"payload":{"store_id":"s1","bad_events":"9"\(extra)},\(common),"notification":"renotify"}
        {"payload":{"store_id":"s1","bad_events":"9"\(extra)},\(common),"notification":"refresh"}
        {"payload":{"store_id":"s1","bad_events":"1"\(extra)},\(common),"status":"resolved","endsAt":"\(end)"}

        """
    }

    /// `host test-plugin NAME --batch 1 --input <lines>` with these properties.
    func webhook(_ properties: [String: String], input: String = ResolveTests.incident(),
                 extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        try testPlugin("Webhook", properties, input: input, extra: extra)
    }

    func testPlugin(_ name: String, _ properties: [String: String], input: String = ResolveTests.incident(),
                    extra: [String] = []) throws -> (status: Int32, stdout: String, stderr: String) {
        let dir = try scratchFolder()
        try input.write(toFile: dir + "/alerts.jsonl", atomically: true, encoding: .utf8)
        let sets = properties.sorted { $0.key < $1.key }.flatMap { ["--set", "\($0.key)=\($0.value)"] }
        return try host(["test-plugin", name, "--batch", "1", "--input", dir + "/alerts.jsonl"] + sets + extra)
    }

    /// The bodies that arrived, in order (one publish call at a time: --batch 1).
    func bodies(_ server: LoopbackHTTPServer) -> [Any] { server.requests.compactMap(\.json) }

    func assertAllPublished(_ r: (status: Int32, stdout: String, stderr: String), lines: Int = 4, refreshes: Int = 1,
                            file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, 0, r.stdout + r.stderr, file: file, line: line)
        for n in 1...lines {
            XCTAssertTrue(r.stdout.contains(#"{"line":\#(n),"outcome":"published"}"#), "line \(n): \(r.stdout)", file: file, line: line)
        }
        if refreshes > 0 {
            XCTAssertTrue(r.stdout.contains("refreshes_skipped \(refreshes)"), "refreshes are delivered by sending nothing: \(r.stdout)", file: file, line: line)
        } else {
            XCTAssertFalse(r.stdout.contains("refreshes_skipped"), r.stdout, file: file, line: line)
        }
    }

    // MARK: PagerDuty

    func testPagerDutyTriggersThenResolvesWithTheSameDedupKey() throws {
        let server = try LoopbackHTTPServer()
        let r = try webhook(["format": "pagerduty", "routingKey": Self.routingKey, "endpoint": server.url + "/v2/enqueue",
                                "title": "Store {payload.store_id}: {payload.bad_events} bad events"])
        assertAllPublished(r)
        let events = bodies(server).compactMap { $0 as? [String: Any] }
        XCTAssertEqual(events.count, 3, "firing and renotify trigger, resolved resolves, refresh sends nothing")
        XCTAssertEqual(events.map { $0["event_action"] as? String }, ["trigger", "trigger", "resolve"])
        let key = try XCTUnwrap(events.first?["dedup_key"] as? String)
        XCTAssertEqual(key.count, 32)
        XCTAssertEqual(Set(events.compactMap { $0["dedup_key"] as? String }), [key], "one incident: one dedup_key")
        let trigger = events[0]["payload"] as? [String: Any]
        XCTAssertEqual(trigger?["severity"] as? String, "critical", "the alert's own severity")
        XCTAssertEqual(trigger?["summary"] as? String, "Store s1: 7 bad events")
        // Exactly what Events v2 reads in a resolve, in this order.
        XCTAssertEqual(server.requests[2].bodyText, #"{"routing_key":"\#(Self.routingKey)","dedup_key":"\#(key)","event_action":"resolve"}"#)
    }

    func testPagerDutySeverityComesFromTheAlertAndIsMapped() throws {
        let server = try LoopbackHTTPServer()
        var lines = ""
        for (i, severity) in ["warn", "P1", "low", "whatever", ""].enumerated() {
            lines += #"{"payload":{"store_id":"s\#(i)"},"status":"firing","severity":"\#(severity)"}"# + "\n"
        }
        let r = try webhook(["format": "pagerduty", "routingKey": Self.routingKey, "endpoint": server.url, "severity": "info"], input: lines)
        assertAllPublished(r, lines: 5, refreshes: 0)
        let severities = bodies(server).compactMap { (($0 as? [String: Any])?["payload"] as? [String: Any])?["severity"] as? String }
        XCTAssertEqual(severities, ["warning", "critical", "info", "error", "info"],
                       "mapped; an unknown one is error; none of its own: the severity property")
    }

    // MARK: Alertmanager

    func testAlertmanagerKeepsOneLabelSetAndResolvesWithThePastEndsAt() throws {
        let server = try LoopbackHTTPServer()
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let r = try webhook(["format": "alertmanager", "url": server.url, "resolveAfterMs": "600000",
                                "labels": #"{"team":"retail","store":"{payload.store_id}"}"#,
                                "annotations": #"{"runbook_url":"https://wiki.example/stores","bad":"{payload.bad_events} bad events"}"#])
        assertAllPublished(r, refreshes: 0)
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        let alerts = bodies(server).compactMap { ($0 as? [[String: Any]])?.first }
        XCTAssertEqual(alerts.count, 4, "Alertmanager gets the refresh too: it forgets an alert not sent again")
        let labels = alerts.compactMap { $0["labels"] as? [String: String] }
        XCTAssertEqual(labels[0], ["alertname": "input", "namespace": "default", "pipeline": "test-plugin", "stage": "input",
                                   "store_id": "s1", "team": "retail", "store": "s1", "severity": "critical"])
        XCTAssertEqual(Set(labels), [labels[0]], "one label set from firing to resolved: one alert in Alertmanager")
        for a in alerts { XCTAssertEqual(a["startsAt"] as? String, Self.start, "startsAt: when the incident began") }
        for a in alerts.prefix(3) {
            // Alive for resolveAfterMs from when it was sent: the host refreshes it before then.
            let ends = try XCTUnwrap(Timestamp.milliseconds(iso8601: a["endsAt"] as? String ?? ""))
            XCTAssertTrue((before + 600_000...after + 600_000).contains(ends), "endsAt \(a["endsAt"] ?? "")")
        }
        XCTAssertEqual(alerts[3]["endsAt"] as? String, Self.end, "resolved: endsAt is when it ended, in the past")
        let annotations = alerts.compactMap { $0["annotations"] as? [String: String] }
        XCTAssertEqual(annotations[0]["runbook_url"], "https://wiki.example/stores")
        XCTAssertEqual(annotations[0]["bad"], "7 bad events")
        XCTAssertEqual(annotations[3]["bad"], "1 bad events")
        XCTAssertEqual(annotations[0]["bad_events"], "7", "the rest of the payload, as before")
    }

    func testAlertmanagerPlainAlertsAreUnchanged() throws {
        let server = try LoopbackHTTPServer()
        let r = try webhook(["format": "alertmanager", "url": server.url], input: #"{"store_id":"s1","bad_events":"7"}"# + "\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let alert = try XCTUnwrap((bodies(server).first as? [[String: Any]])?.first)
        let labels = alert["labels"] as? [String: String] ?? [:]
        XCTAssertEqual(Set(labels.keys), ["alertname", "namespace", "pipeline", "stage", "key"], "no severity, no life")
        let starts = try XCTUnwrap(Timestamp.milliseconds(iso8601: alert["startsAt"] as? String ?? ""))
        let ends = try XCTUnwrap(Timestamp.milliseconds(iso8601: alert["endsAt"] as? String ?? ""))
        XCTAssertEqual(ends - starts, 300_000, accuracy: 2_000, "the alert's time, and resolveAfterMs after it")
    }

    func testAlertmanagerLabelsAndAnnotationsAreCheckedWhenTheStageIsCreated() throws {
        let cases: [(String, String, String)] = [
            ("labels", #"{"store-id":"x"}"#, "labels: 'store-id' is not an Alertmanager label name"),
            ("labels", #"{"stage":"x"}"#, "labels.stage: Sluice sets it"),
            ("labels", #"{"n":"{payload.bad_events} at {timestamp}"}"#, "labels.n: {timestamp} changes from one alert of the same key to the next"),
            ("labels", #"{"n":"{payload"}"#, "labels.n: template '{payload': '{' without '}'"),
            ("labels", #"{"n":{"nested":1}}"#, "property 'labels' must be a JSON object of names to texts"),
            ("annotations", #"{"summary":"x"}"#, "annotations.summary: Sluice sets it (title sets summary"),
            ("annotations", #"{"9lives":"x"}"#, "annotations: '9lives' is not an Alertmanager label name"),
        ]
        for (property, value, message) in cases {
            let r = try webhook(["format": "alertmanager", "url": "http://127.0.0.1:9", property: value])
            XCTAssertEqual(r.status, 1, "\(property)=\(value): \(r.stdout)")
            XCTAssertTrue((r.stdout + r.stderr).contains(message), "\(property)=\(value): \(r.stdout)\(r.stderr)")
        }
        let notAnObject = try webhook(["format": "alertmanager", "url": "http://127.0.0.1:9", "labels": "team=retail"])
        XCTAssertEqual(notAnObject.status, 2, "the widgets file types it object: refused before the plugin is made")
        XCTAssertTrue(notAnObject.stderr.contains("property 'labels' of plugin Webhook must be an object"), notAnObject.stderr)
    }

    /// Payload keys that cannot be sent as they are: said once per key in the stage's log,
    /// and a key field that cannot be a label keeps alerts apart through the `key` label.
    func testAlertmanagerReportsPayloadKeysThatCollideOnce() throws {
        let server = try LoopbackHTTPServer()
        var input = ""
        for store in ["s1", "s2", "s3"] {
            input += #"{"payload":{"stage":"\#(store)","store-name":"Main St","team":"x","severity":"high"},"keyFields":["stage"],"status":"firing"}"# + "\n"
        }
        let r = try webhook(["format": "alertmanager", "url": server.url, "labels": #"{"team":"retail"}"#,
                                "annotations": #"{"team":"retail"}"#], input: input)
        XCTAssertEqual(r.status, 0, r.stderr)
        let log = r.stderr
        let collision = "payload key 'stage' (a key field) cannot be label 'stage', which Sluice sets: sent as an annotation"
        let renamed = "payload key 'store-name' is not an Alertmanager annotation name: sent as annotation 'store_name'"
        let dropped = "payload key 'team' cannot be annotation 'team', which the annotations property sets: left out"
        for message in [collision, renamed, dropped] {
            XCTAssertEqual(log.components(separatedBy: message).count - 1, 1, "said once for three alerts: \(message)\n\(log)")
        }
        let alerts = bodies(server).compactMap { ($0 as? [[String: Any]])?.first }
        XCTAssertEqual(alerts.count, 3)
        let labels = alerts.compactMap { $0["labels"] as? [String: String] }
        XCTAssertEqual(labels.map { $0["stage"] }, ["input", "input", "input"], "Sluice's label stays")
        XCTAssertEqual(Set(labels.compactMap { $0["key"] }).count, 3, "the key label keeps the three stores apart")
        XCTAssertEqual(labels[0]["team"], "retail")
        XCTAssertNil(labels[0]["severity"], "a payload field named severity is no severity")
        let annotations = alerts.compactMap { $0["annotations"] as? [String: String] }
        XCTAssertEqual(annotations.map { $0["stage"] }, ["s1", "s2", "s3"])
        XCTAssertEqual(annotations[0]["store_name"], "Main St")
        XCTAssertEqual(annotations[0]["team"], "retail")
        XCTAssertEqual(annotations[0]["severity"], "high")
    }

    // MARK: Datadog

    func testDatadogResolvesWithSuccessAndTheSameAggregationKey() throws {
        let server = try LoopbackHTTPServer()
        let before = Int64(Date().timeIntervalSince1970 * 1000)
        let r = try webhook(["format": "datadog", "apiKey": "dd-key", "endpoint": server.url + "/api/v1/events",
                                "title": "Store {payload.store_id}: {payload.bad_events} bad events"],
                               input: Self.incident(severity: "warning"))
        assertAllPublished(r)
        let events = bodies(server).compactMap { $0 as? [String: Any] }
        XCTAssertEqual(events.count, 3, "refresh: nothing sent")
        XCTAssertEqual(events.map { $0["title"] as? String },
                       ["Store s1: 7 bad events", "Still firing: Store s1: 9 bad events", "Resolved: Store s1: 1 bad events"])
        XCTAssertEqual(events.map { $0["alert_type"] as? String }, ["warning", "warning", "success"])
        let key = try XCTUnwrap(events[0]["aggregation_key"] as? String)
        XCTAssertEqual(events.compactMap { $0["aggregation_key"] as? String }, [key, key, key])
        let resolved = events[2]["text"] as? String ?? ""
        XCTAssertTrue(resolved.hasPrefix("Fired for 42m, 06:00 → 06:42 UTC\n\n"), resolved)
        // Dated when it ended — or, that being older than Datadog's 18 hours, as early as it takes.
        let after = Int64(Date().timeIntervalSince1970 * 1000)
        let ended = try XCTUnwrap(Timestamp.milliseconds(iso8601: Self.end))
        let dated = Int64(events[2]["date_happened"] as? Int ?? 0)
        XCTAssertTrue((max(ended, before - 17 * 3_600_000) / 1000...max(ended, after - 17 * 3_600_000) / 1000).contains(dated), "\(dated)")
        let still = events[1]["text"] as? String ?? ""
        XCTAssertTrue(still.hasPrefix("Still firing since 2026-11-21 06:00 UTC ("), still)
    }

    func testDatadogTitleStaysWithinItsLimitWithThePrefix() throws {
        let server = try LoopbackHTTPServer()
        let long = String(repeating: "é", count: 300)
        let line = #"{"payload":{"store_id":"s1","note":"\#(long)"},"status":"resolved","startsAt":"\#(Self.start)","endsAt":"\#(Self.end)"}"#
        let r = try webhook(["format": "datadog", "apiKey": "k", "endpoint": server.url, "title": "{payload.note}"], input: line + "\n")
        XCTAssertEqual(r.status, 0, r.stderr)
        let title = (bodies(server).first as? [String: Any])?["title"] as? String ?? ""
        XCTAssertTrue(title.hasPrefix("Resolved: éé"), title)
        XCTAssertEqual(title.unicodeScalars.count, 100, "Datadog's 100 characters")
    }

    // MARK: Slack and Teams

    func testSlackSaysResolvedAndHowLongItFired() throws {
        let server = try LoopbackHTTPServer()
        let r = try webhook(["format": "slack", "url": server.url + "/services/T/B/X", "rateLimit": "0",
                                "title": "Store {payload.store_id}"])
        assertAllPublished(r)
        let messages = bodies(server).compactMap { $0 as? [String: Any] }
        XCTAssertEqual(messages.count, 3, "refresh: nothing sent")
        func header(_ m: [String: Any]) -> String? { ((m["blocks"] as? [[String: Any]])?.first?["text"] as? [String: Any])?["text"] as? String }
        func section(_ m: [String: Any]) -> String { ((m["blocks"] as? [[String: Any]])?[1]["text"] as? [String: Any])?["text"] as? String ?? "" }
        XCTAssertEqual(messages.map(header), ["Store s1", "Still firing: Store s1", "Resolved: Store s1"])
        XCTAssertEqual(messages[2]["text"] as? String, "Resolved: Store s1")
        XCTAssertTrue(section(messages[2]).hasPrefix("*Resolved: Store s1*\nFired for 42m, 06:00 → 06:42 UTC\n"), section(messages[2]))
        XCTAssertTrue(section(messages[1]).hasPrefix("*Still firing: Store s1*\nStill firing since 2026-11-21 06:00 UTC ("), section(messages[1]))
        XCTAssertFalse(section(messages[0]).contains("firing"), section(messages[0]))
    }

    func testSlackHeaderCountsTheKindsInOneMessageAndKeepsItsCap() throws {
        let server = try LoopbackHTTPServer()
        let long = String(repeating: "👨‍👩‍👧‍👦", count: 100)
        let common = #""startsAt":"\#(Self.start)""#
        let input = """
        {"payload":{"store_id":"s1","note":"\(long)"},"status":"resolved",\(common),"endsAt":"\(Self.end)"}

        """
        let alone = try webhook(["format": "slack", "url": server.url, "rateLimit": "0", "title": "{payload.note}"], input: input)
        XCTAssertEqual(alone.status, 0, alone.stderr)
        let header = (((bodies(server).first as? [String: Any])?["blocks"] as? [[String: Any]])?.first?["text"] as? [String: Any])?["text"] as? String ?? ""
        XCTAssertTrue(header.hasPrefix("Resolved: 👨‍👩‍👧‍👦"), header)
        XCTAssertLessThanOrEqual(header.unicodeScalars.count, 150, "Slack's header: 150 characters")

        server.reset()
        let mixed = """
        {"payload":{"store_id":"s1"},"status":"resolved",\(common),"endsAt":"\(Self.end)"}
        {"payload":{"store_id":"s2"},"status":"resolved",\(common),"endsAt":"\(Self.end)"}
        {"payload":{"store_id":"s3"},"notification":"renotify",\(common)}
        {"payload":{"store_id":"s4"},"status":"firing",\(common)}
        {"payload":{"store_id":"s5"},"notification":"refresh",\(common)}

        """
        let r = try webhook(["format": "slack", "url": server.url, "rateLimit": "0"], input: mixed, extra: ["--batch", "10"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let message = try XCTUnwrap(bodies(server).first as? [String: Any])
        XCTAssertEqual(message["text"] as? String, "4 alerts from default/test-plugin: 1 firing, 2 resolved, 1 still firing")
        XCTAssertEqual(server.requests.count, 1)
    }

    func testTeamsSaysResolvedInGreenAndHowLongItFired() throws {
        let server = try LoopbackHTTPServer()
        let r = try webhook(["format": "teams", "url": server.url + "/workflows/x", "title": "Store {payload.store_id}"])
        assertAllPublished(r)
        let cards = bodies(server).compactMap {
            ((($0 as? [String: Any])?["attachments"] as? [[String: Any]])?.first?["content"] as? [String: Any])?["body"] as? [[String: Any]]
        }
        XCTAssertEqual(cards.count, 3, "refresh: nothing sent")
        let resolved = cards[2].filter { $0["type"] as? String == "TextBlock" }
        XCTAssertEqual(resolved.map { $0["text"] as? String },
                       ["Resolved: Store s1", "Resolved: Store s1", "Fired for 42m, 06:00 → 06:42 UTC"])
        XCTAssertEqual(resolved.map { $0["color"] as? String }, ["Good", "Good", "Good"])
        let still = cards[1].compactMap { $0["text"] as? String }
        XCTAssertTrue(still.contains { $0.hasPrefix("Still firing since 2026-11-21 06:00 UTC (") }, "\(still)")
        XCTAssertNil(cards[0].first?["color"], "a firing alert is not green")

        server.reset()
        let card = try webhook(["format": "teams-messagecard", "url": server.url + "/webhookb2/x", "title": "Store {payload.store_id}"])
        assertAllPublished(card)
        let last = try XCTUnwrap(bodies(server).last as? [String: Any])
        XCTAssertEqual(last["themeColor"] as? String, "2EB886")
        let sectionOne = (last["sections"] as? [[String: Any]])?.first
        XCTAssertEqual(sectionOne?["activityTitle"] as? String, "Resolved: Store s1")
        XCTAssertEqual(sectionOne?["activitySubtitle"] as? String, "Fired for 42m, 06:00 → 06:42 UTC")
    }

    // MARK: json, AlertLog, ConsoleAlerts

    func testJSONAlertLogAndConsoleWriteTheEnvelopeButNoRefresh() throws {
        let server = try LoopbackHTTPServer()
        let json = try webhook(["format": "json", "url": server.url])
        assertAllPublished(json)
        let envelopes = bodies(server).compactMap { ($0 as? [[String: Any]])?.first }
        XCTAssertEqual(envelopes.map { $0["notification"] as? String }, ["firing", "renotify", "resolved"])

        let dir = try scratchFolder()
        let log = try testPlugin("AlertLog", ["path": dir + "/alerts.jsonl"])
        assertAllPublished(log)
        XCTAssertTrue(log.stdout.contains("written 3"), log.stdout)
        let lines = try String(contentsOfFile: dir + "/alerts.jsonl", encoding: .utf8).split(separator: "\n")
        let written = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        XCTAssertEqual(written.map { $0["status"] as? String }, ["firing", "firing", "resolved"])
        XCTAssertEqual(written.map { $0["notification"] as? String }, ["firing", "renotify", "resolved"])
        XCTAssertEqual(Set(written.compactMap { $0["key"] as? String }).count, 1)
        XCTAssertEqual(Set(written.compactMap { $0["incident"] as? String }).count, 1)
        XCTAssertEqual(written.map { $0["startsAt"] as? String }, [Self.start, Self.start, Self.start])
        XCTAssertEqual(written.map { $0["endsAt"] as? String }, [nil, nil, Self.end])
        XCTAssertEqual(written.map { $0["severity"] as? String }, ["critical", "critical", "critical"])

        let console = try testPlugin("ConsoleAlerts", [:])
        assertAllPublished(console)
        let printed = console.stdout.split(separator: "\n").map(String.init)
        guard printed.count >= 3 else { return XCTFail(console.stdout) }
        XCTAssertEqual(printed[0], "FIRING test-plugin/input [critical] since 2026-11-21 06:00 UTC  store_id=s1 bad_events=7")
        XCTAssertTrue(printed[1].hasPrefix("STILL FIRING test-plugin/input [critical] since 2026-11-21 06:00 UTC ("), printed[1])
        XCTAssertTrue(printed[1].hasSuffix(")  store_id=s1 bad_events=9"), printed[1])
        XCTAssertEqual(printed[2], "RESOLVED test-plugin/input [critical] fired for 42m, 06:00 → 06:42 UTC  store_id=s1 bad_events=1")
    }

    // MARK: KafkaAlerts

    func testKafkaAlertsCarryStatusSeverityAndNotificationHeaders() throws {
        let dir = try scratchFolder()
        let kafka = try KafkaMock(topics: ["alerts:1"], dir: dir)
        let plain = #"{"store_id":"s0","bad_events":"3"}"# + "\n"
        let r = try testPlugin("KafkaAlerts", ["brokers": kafka.bootstrap, "topic": "alerts"], input: plain + Self.incident())
        assertAllPublished(r, lines: 5)
        XCTAssertTrue(r.stdout.contains("delivered 4"), r.stdout)
        let read = try runProgram("/usr/bin/kcat", ["-C", "-b", kafka.bootstrap, "-t", "alerts", "-e", "-q", "-f", "%k\t%h\t%s\n"])
        XCTAssertEqual(read.status, 0, read.stderr)
        let messages = read.stdout.split(separator: "\n").map { $0.split(separator: "\t", maxSplits: 2).map(String.init) }
        XCTAssertEqual(messages.count, 4, "the refresh is not produced: \(read.stdout)")
        guard messages.count == 4, messages.allSatisfy({ $0.count == 3 }) else { return }
        XCTAssertFalse(messages[0][1].contains("status="), "a plain alert has no status header: \(messages[0][1])")
        XCTAssertEqual(messages.dropFirst().map { headers($0[1])["status"] }, ["firing", "firing", "resolved"])
        XCTAssertEqual(messages.dropFirst().map { headers($0[1])["notification"] }, ["firing", "renotify", "resolved"])
        XCTAssertEqual(messages.dropFirst().map { headers($0[1])["severity"] }, ["critical", "critical", "critical"])
        XCTAssertEqual(Set(messages.dropFirst().map { $0[0] }).count, 1, "one key for the incident's messages")
        let resolved = try JSONSerialization.jsonObject(with: Data(messages[3][2].utf8)) as? [String: Any]
        XCTAssertEqual(resolved?["status"] as? String, "resolved")
        XCTAssertEqual(resolved?["endsAt"] as? String, Self.end)
        XCTAssertEqual(resolved?["key"] as? String, messages[3][0])
    }

    /// kcat's `%h`: name=value pairs separated by commas.
    func headers(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { out[parts[0]] = parts[1] }
        }
        return out
    }

    // MARK: the harness's input

    func testEnvelopeLikeLinesThatMakeNoSenseAreErrorsWithTheirLine() throws {
        let input = """
        {"payload":{"a":"1"},"status":"resolved","startsAt":"\(Self.start)"}
        {"payload":{"a":"1"},"status":"firing","endsAt":"\(Self.end)"}
        {"payload":{"a":"1"},"status":"firing","notification":"resolved"}
        {"payload":{"a":"1"},"status":"done"}
        {"payload":{"a":"1"},"notification":"later"}
        {"payload":{"a":"1"},"status":"resolved","startsAt":"\(Self.end)","endsAt":"\(Self.start)"}
        {"payload":{"a":"1"},"status":"firing","startsAt":"yesterday"}
        {"payload":{"a":"1"},"status":"firing","color":"red"}
        {"payload":{"a":"1"},"keyFields":"a"}
        {"payload":{"a":"1"},"incident":-1}
        [1, 2]

        """
        let r = try testPlugin("AlertLog", ["path": try scratchFolder() + "/log.jsonl"], input: input)
        XCTAssertEqual(r.status, 2, r.stdout)
        for (line, message) in [
            (1, "a resolved alert needs startsAt and endsAt"), (2, "endsAt is for a resolved alert; this one is firing"),
            (3, #"status "firing" with notification "resolved""#), (4, #"status "done": firing or resolved"#),
            (5, #"notification "later": firing, renotify, refresh or resolved"#), (6, "endsAt is before startsAt"),
            (7, #"startsAt "yesterday" is not a time like 2026-11-21T06:00:00.000Z"#),
            (8, "'color' is not a member of an envelope-like line"), (9, "keyFields must be a list"),
            (10, "incident must be a whole number"), (11, "an alert is a JSON object"),
        ] {
            XCTAssertTrue(r.stderr.contains("alerts.jsonl:\(line): \(message)"), "line \(line): \(r.stderr)")
        }
        // A payload that merely has a field named payload is still a payload.
        let dir = try scratchFolder()
        let plain = try testPlugin("AlertLog", ["path": dir + "/log.jsonl"], input: #"{"payload":{"x":1},"store_id":"s1"}"# + "\n")
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let written = try String(contentsOfFile: dir + "/log.jsonl", encoding: .utf8)
        XCTAssertTrue(written.contains(#""payload":{"payload":"{\"x\":1}","store_id":"s1"}"#), written)
        XCTAssertFalse(written.contains(#""status""#), written)
    }

    // MARK: the SDK

    /// A host of ABI 1.4 builds a shorter sluice_alert: the SDK reads no life from it, even
    /// when the memory past its size holds something.
    func testTheSDKReadsTheLifeOnlyWhenTheHostFilledIt() {
        let status = Array("resolved".utf8)
        status.withUnsafeBufferPointer { s in
            let text = sluice_str(ptr: UnsafeRawPointer(s.baseAddress)?.assumingMemoryBound(to: CChar.self), len: s.count)
            var raw = sluice_alert()
            raw.status = text
            raw.notification = text
            raw.starts_at_ms = 1_000
            raw.ends_at_ms = 2_000
            raw.size = UInt32(MemoryLayout<sluice_alert>.offset(of: \sluice_alert.status) ?? 0)
            let old = withUnsafePointer(to: &raw) { p in
                let a = Alert(raw: p)
                return (a.status, a.notification, a.isResolved, a.startsAtMs, a.endsAtMs, a.hasStatus)
            }
            XCTAssertEqual(old.0, "")
            XCTAssertEqual(old.1, "")
            XCTAssertFalse(old.2)
            XCTAssertEqual(old.3, 0)
            XCTAssertEqual(old.4, 0)
            XCTAssertFalse(old.5)
            raw.size = UInt32(MemoryLayout<sluice_alert>.size)
            let new = withUnsafePointer(to: &raw) { p in
                let a = Alert(raw: p)
                return (a.status, a.isResolved, a.startsAtMs, a.endsAtMs, a.endsAt)
            }
            XCTAssertEqual(new.0, "resolved")
            XCTAssertTrue(new.1)
            XCTAssertEqual(new.2, 1_000)
            XCTAssertEqual(new.3, 2_000)
            XCTAssertEqual(new.4, "1970-01-01T00:00:02.000Z")
        }
        XCTAssertEqual(Alert.duration(35_000), "35s")
        XCTAssertEqual(Alert.duration(42 * 60_000 + 59_000), "42m")
        XCTAssertEqual(Alert.duration(65 * 60_000), "1h 5m")
        XCTAssertEqual(Alert.duration(2 * 86_400_000), "2d")
        XCTAssertEqual(Alert.duration(51 * 3_600_000), "2d 3h")
    }
}
