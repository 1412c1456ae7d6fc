import Foundation
import SluiceEngine
import XCTest

/// `host run --http`: the real host serving /ping, /ready, /health and /metrics on 127.0.0.1
/// while it follows a folder; the token rule; bad addresses and a port in use refused before
/// the run starts; /health unhealthy on a stage that hangs and on failed deliveries.
final class HTTPServeTests: XCTestCase {
    /// A followed folder `in` → hot (Threshold t > 50) → out (JSONLSink); hot's alerts → `publisher`.
    static func pipeline(publisher: String = #"{"name": "log", "plugin": {"name": "AlertLog", "properties": {"path": "${pipeline.dir}/alerts.jsonl"}}}"#,
                         middle: String? = nil, health: String = "") -> String {
        let mid = middle.map { ", " + $0 } ?? ""
        let into = middle == nil ? "hot" : "mid"
        return """
            {"name": "served", "batch": {"maxRecords": 100, "maxDelayMs": 100}\(health.isEmpty ? "" : ", \"health\": " + health),
             "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/in", "follow": true}}},
                        {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}}}\(mid),
                        {"name": "out", "plugin": {"name": "JSONLSink", "properties": {"path": "${pipeline.dir}/out.jsonl"}}},
                        \(publisher)],
             "connections": [{"from": "src", "to": "hot"}\(middle == nil ? "" : #", {"from": "hot", "to": "mid"}"#),
                             {"from": "\(into)", "to": "out"}, {"from": "hot", "to": "\(publisherName(publisher))", "port": "alerts"}]}
            """
    }

    static func publisherName(_ publisher: String) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(publisher.utf8))) as? [String: Any])?["name"] as? String ?? "log"
    }

    /// A folder with the pipeline file and an empty `in` folder.
    func folder(_ pipeline: String, name: String = #function) throws -> String {
        let dir = try scratchFolder(name)
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try pipeline.write(toFile: dir + "/p.json", atomically: true, encoding: .utf8)
        return dir
    }

    /// Drops `count` records with t = 30, 60, 30, 60, … (half over the limit) as a new file.
    static func drop(_ count: Int, into dir: String, file: String) throws {
        let text = (0..<count).map { #"{"id":"r\#($0)","t":\#($0 % 2 == 0 ? 30 : 60)}"# }.joined(separator: "\n") + "\n"
        try text.write(toFile: dir + "/in/" + file + ".tmp", atomically: true, encoding: .utf8)
        try FileManager.default.moveItem(atPath: dir + "/in/" + file + ".tmp", toPath: dir + "/in/" + file)
    }

    func start(_ dir: String, _ extra: [String] = [], plugins: [String] = []) throws -> (BackgroundHost, String) {
        let h = try BackgroundHost(["run", dir + "/p.json", "--progress", "none", "--http", "127.0.0.1:0"] + extra
                                   + plugins.flatMap { ["--plugins", $0] }, dir: dir)
        guard let address = listeningAddress(h) else {
            h.signal(SIGKILL)
            h.wait(seconds: 5)
            throw FixtureError("the host logged no address:\n\(h.stderr)")
        }
        return (h, address)
    }

    func scrape(_ address: String, headers: [String: String] = [:]) throws -> ParsedExposition {
        guard let r = httpGet("http://\(address)/metrics", headers: headers), r.status == 200 else { throw FixtureError("no /metrics") }
        return try ParsedExposition(r.body)
    }

    func testARunServesPingReadyHealthAndMetricsThatMatchItsSummary() throws {
        let dir = try folder(Self.pipeline())
        let (h, address) = try start(dir, ["--summary-json", dir + "/summary.json"])
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        XCTAssertTrue(address.hasPrefix("127.0.0.1:"), address)

        let ping = httpGet("http://\(address)/ping")
        XCTAssertEqual(ping?.status, 200)
        XCTAssertEqual(ping?.body, "pong\n")
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { httpGet("http://\(address)/ready")?.status == 200 })
        let health = try XCTUnwrap(httpGet("http://\(address)/health"))
        XCTAssertEqual(health.status, 200, health.body)
        XCTAssertEqual(health.headers["content-type"], "application/json")
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(health.body.utf8)) as? [String: Any])
        XCTAssertEqual(report["status"] as? String, "healthy")
        XCTAssertEqual(report["ready"] as? Bool, true)
        XCTAssertEqual(httpGet("http://\(address)/nothing")?.status, 404)

        try Self.drop(40, into: dir, file: "a.jsonl")
        var m = try scrape(address)
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            m = (try? scrape(address)) ?? m
            return m.value("sluice_component_received_events_total", ["stage": "src"]) == 40
                && m.value("sluice_publisher_alerts_total", ["publisher": "log", "outcome": "published"]) == 20
        }, "\(m.samples.filter { $0.name.hasPrefix("sluice_component") })")
        XCTAssertEqual(m.value("sluice_component_sent_events_total", ["stage": "out"]), 40)
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "hot", "outcome": "emitted"]), 20)
        XCTAssertEqual(m.value("sluice_batch_in_progress"), 0)

        // The formats: 0.0.4 by default (promtool passes it), OpenMetrics when asked.
        let plain = try XCTUnwrap(httpGet("http://\(address)/metrics"))
        XCTAssertEqual(plain.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8")
        let check = try promtoolCheckMetrics(plain.body)
        XCTAssertEqual(check.status, 0, check.output)
        let om = try XCTUnwrap(httpGet("http://\(address)/metrics", headers: ["Accept": "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"]))
        XCTAssertEqual(om.headers["content-type"], "application/openmetrics-text; version=1.0.0; charset=utf-8")
        XCTAssertTrue(om.body.hasSuffix("# EOF\n"))
        XCTAssertTrue(om.body.contains("# TYPE sluice_component_received_events counter\n"))

        // Stopped: the summary tells what the last scrape told; the port is closed.
        h.signal(SIGTERM)
        XCTAssertTrue(h.wait(seconds: 30))
        XCTAssertEqual(h.process.terminationStatus, 4, h.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(Double(summary.records), m.value("sluice_component_received_events_total", ["stage": "src"]))
        XCTAssertEqual(Double(summary.batches), m.value("sluice_batches_total"))
        XCTAssertEqual(Double(summary.alerts.published), m.value("sluice_alerts_total", ["stage": "hot", "outcome": "published"]))
        XCTAssertNil(httpGet("http://\(address)/ping", timeout: 5), "nothing listens once the run ended")
    }

    func testScrapesFromSeveralThreadsWhileBatchesRunEachSeeCountsThatOnlyGrow() throws {
        let dir = try folder(Self.pipeline())
        let (h, address) = try start(dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { httpGet("http://\(address)/ready")?.status == 200 })
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var problems: [String] = []
            var scrapes = 0
            func add(_ problem: String?) { lock.lock(); scrapes += 1; if let problem { problems.append(problem) }; lock.unlock() }
        }
        let seen = Seen()
        let group = DispatchGroup()
        for _ in 0..<4 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var last = -1.0
                for _ in 0..<25 {
                    guard let r = httpGet("http://\(address)/metrics"), r.status == 200,
                          let m = try? ParsedExposition(r.body),
                          let value = m.value("sluice_component_received_events_total", ["stage": "src"]) else {
                        seen.add("a scrape failed or did not parse")
                        continue
                    }
                    seen.add(value < last ? "went back from \(last) to \(value)" : nil)
                    last = value
                }
            }
        }
        for f in 0..<10 { try Self.drop(100, into: dir, file: "f\(f).jsonl") }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success)
        XCTAssertEqual(seen.problems, [])
        XCTAssertEqual(seen.scrapes, 100)
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { (try? scrape(address))?.value("sluice_component_received_events_total", ["stage": "src"]) == 1000 })
    }

    func testATokenGuardsEveryRoute() throws {
        let dir = try folder(Self.pipeline())
        try "  s3cret-token\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let (h, address) = try start(dir, ["--http-token-file", dir + "/token"])
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        for route in ["ping", "ready", "health", "metrics"] {
            let none = httpGet("http://\(address)/\(route)")
            XCTAssertEqual(none?.status, 401, route)
            XCTAssertEqual(none?.headers["www-authenticate"], "Bearer realm=\"sluice\"", route)
            XCTAssertEqual(httpGet("http://\(address)/\(route)", headers: ["Authorization": "Bearer s3cret-toke"])?.status, 401)
            XCTAssertEqual(httpGet("http://\(address)/\(route)", headers: ["Authorization": "Bearer s3cret-token2"])?.status, 401)
            XCTAssertEqual(httpGet("http://\(address)/\(route)", headers: ["Authorization": "Basic s3cret-token"])?.status, 401)
        }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) {
            httpGet("http://\(address)/ready", headers: ["Authorization": "Bearer s3cret-token"])?.status == 200
        })
        for route in ["ping", "health", "metrics"] {
            XCTAssertEqual(httpGet("http://\(address)/\(route)", headers: ["Authorization": "Bearer s3cret-token"])?.status, 200, route)
        }
        // The scheme's name in any case (RFC 9110), the token exactly.
        XCTAssertEqual(httpGet("http://\(address)/ping", headers: ["Authorization": "bearer s3cret-token"])?.status, 200)
        XCTAssertEqual(httpGet("http://\(address)/ping", headers: ["Authorization": "BEARER s3cret-token"])?.status, 200)
        XCTAssertEqual(httpGet("http://\(address)/ping", headers: ["Authorization": "bearer S3CRET-token"])?.status, 401)
    }

    func testBadAddressesAndANonLoopbackAddressWithoutATokenAreRefusedBeforeTheRun() throws {
        let dir = try folder(Self.pipeline())
        try "".write(toFile: dir + "/empty", atomically: true, encoding: .utf8)
        try "two words".write(toFile: dir + "/spaced", atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--http", "0.0.0.0:9464"], "a non-loopback address is served only with --http-token-file"),
            (["--http", "10.1.2.3:0"], "a non-loopback address is served only with --http-token-file"),
            (["--http", "localhost"], "no port"),
            (["--http", "127.0.0.1:65536"], "'65536' is not a port"),
            (["--http", "127.0.0.1:-1"], "'-1' is not a port"),
            (["--http", "example.com:80"], "'example.com' is not an IPv4 address or localhost"),
            (["--http", "::1:80"], "an IPv6 address goes in brackets"),
            (["--http", "[::1]"], "an IPv6 address needs [ADDRESS]:PORT"),
            (["--http", "[nope]:80"], "'nope' is not an IPv6 address"),
            (["--http", "0.0.0.0:0", "--http-token-file", dir + "/missing"], "--http-token-file \(dir)/missing: cannot be read"),
            (["--http", "0.0.0.0:0", "--http-token-file", dir + "/empty"], "empty"),
            (["--http", "0.0.0.0:0", "--http-token-file", dir + "/spaced"], "visible ASCII characters without spaces"),
            // Not a regular file: refused at once, never read without end or waited for.
            (["--http", "0.0.0.0:0", "--http-token-file", "/dev/zero"], "--http-token-file /dev/zero: cannot be read (a regular file is expected)"),
            (["--http", "0.0.0.0:0", "--http-token-file", dir], "a regular file is expected"),
            (["--http-token-file", dir + "/spaced"], "--http-token-file needs --http"),
        ]
        for (args, message) in cases {
            let r = try host(["run", dir + "/p.json", "--progress", "none"] + args, env: ["SLUICE_OUT": dir + "/out"])
            XCTAssertEqual(r.status, 64, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/served/state"), "no run began")
    }

    func testAPortInUseIsAClearErrorBeforeTheRunStarts() throws {
        let first = try folder(Self.pipeline(), name: "portFirst")
        let (h, address) = try start(first)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let dir = try folder(Self.pipeline())
        let r = try host(["run", dir + "/p.json", "--progress", "none", "--http", address], env: ["SLUICE_OUT": dir + "/out"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("error: --http \(address): cannot listen:"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out/served/state"), "no run began")
        // IPv6 loopback is served too, and told in brackets.
        let six = try BackgroundHost(["run", dir + "/p.json", "--progress", "none", "--http", "[::1]:0"], dir: dir, tag: "six")
        defer { six.signal(SIGKILL); six.wait(seconds: 5) }
        let bound = listeningAddress(six)
        if six.stderr.contains("cannot listen") {
            print("no IPv6 loopback here: \(six.stderr)")
        } else {
            XCTAssertTrue(bound?.hasPrefix("[::1]:") ?? false, six.stderr)
            // (curl: URLSession on Linux does not take an IPv6 literal.)
            let r = try runProgram("/usr/bin/curl", ["-sgf", "http://\(bound ?? "")/ping"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout, "pong\n")
        }
    }

    func testHealthTurnsUnhealthyWhenAStageHangsAndTheProcessStaysAlive() throws {
        // A stage that sleeps 10 minutes in its first batch: no I/O timeout catches it.
        let dir = try folder(Self.pipeline(middle: #"{"name": "mid", "plugin": {"name": "Tagger", "properties": {"tag": "t", "pauseMs": 600000}}}"#,
                                           health: #"{"stallMs": 1000}"#))
        let (h, address) = try start(dir, plugins: [Fixtures.shared.kit])
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { httpGet("http://\(address)/ready")?.status == 200 })
        XCTAssertEqual(httpGet("http://\(address)/health")?.status, 200, "idle is not stalled")
        try Self.drop(3, into: dir, file: "a.jsonl")
        let reasons = try unhealthyReasons(address, within: 30)
        XCTAssertEqual(reasons.map { $0["check"] as? String }, ["stalled"])
        XCTAssertTrue((reasons.first?["message"] as? String ?? "").contains("batch in flight for"), "\(reasons)")
        // Alive and still ready (a restart is the operator's call); the metrics say why.
        XCTAssertEqual(httpGet("http://\(address)/ping")?.status, 200)
        XCTAssertEqual(httpGet("http://\(address)/ready")?.status, 200)
        XCTAssertEqual(try scrape(address).value("sluice_batch_in_progress"), 1)
    }

    func testHealthTurnsUnhealthyWhenASinkHangsOnAPipeNobodyReads() throws {
        // The JSONLSink writes into a named pipe that nobody reads: once its 64 KiB buffer is
        // full, write() blocks for ever, as a sink on a dead peer with no I/O timeout does.
        let dir = try folder(Self.pipeline(health: #"{"stallMs": 1000}"#))
        XCTAssertEqual(mkfifo(dir + "/out.jsonl", 0o600), 0)
        let (h, address) = try start(dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { httpGet("http://\(address)/ready")?.status == 200 })
        try Self.drop(5000, into: dir, file: "a.jsonl")
        let reasons = try unhealthyReasons(address, within: 60)
        XCTAssertEqual(reasons.map { $0["check"] as? String }, ["stalled"])
        let m = try scrape(address)
        XCTAssertEqual(m.value("sluice_batch_in_progress"), 1)
        XCTAssertLessThan(m.value("sluice_component_sent_events_total", ["stage": "out"]) ?? 5000, 5000, "the sink stopped part way")
        XCTAssertEqual(httpGet("http://\(address)/ping")?.status, 200)
    }

    /// Waits until /health answers 503; its reasons.
    func unhealthyReasons(_ address: String, within seconds: Double) throws -> [[String: Any]] {
        var last: (status: Int, headers: [String: String], body: String)?
        XCTAssertTrue(BackgroundHost.poll(seconds: seconds) {
            last = httpGet("http://\(address)/health")
            return last?.status == 503
        }, "\(String(describing: last))")
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data((last?.body ?? "").utf8)) as? [String: Any])
        XCTAssertEqual(report["status"] as? String, "unhealthy")
        return try XCTUnwrap(report["reasons"] as? [[String: Any]])
    }

    func testHealthTurnsUnhealthyOnFailedDeliveries() throws {
        let dir = try folder(Self.pipeline(publisher: #"{"name": "down", "plugin": {"name": "FailingPublisher"}}"#))
        let (h, address) = try start(dir, plugins: [Fixtures.shared.publishers])
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        XCTAssertTrue(BackgroundHost.poll(seconds: 30) { httpGet("http://\(address)/ready")?.status == 200 })
        XCTAssertEqual(httpGet("http://\(address)/health")?.status, 200)
        try Self.drop(4, into: dir, file: "a.jsonl")
        let reasons = try unhealthyReasons(address, within: 30)
        XCTAssertEqual(reasons.map { $0["check"] as? String }, ["failed_deliveries"])
        XCTAssertTrue((reasons.first?["message"] as? String ?? "").contains("2 alert deliveries failed in the last 60000 ms (health.maxFailedDeliveries 0)"), "\(reasons)")
        let m = try scrape(address)
        XCTAssertEqual(m.value("sluice_publisher_alerts_total", ["publisher": "down", "outcome": "failed"]), 2)
        XCTAssertEqual(m.value("sluice_alerts_total", ["stage": "hot", "outcome": "failed"]), 2)
    }

    /// curl, not following redirects: the status, the Location and Set-Cookie headers, the body.
    func curl(_ args: [String]) throws -> (status: Int, location: String?, cookie: String?, body: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["curl", "-s", "-D", "-", "--max-time", "10"] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts.first?.split(separator: "\r\n").map(String.init) ?? []
        let status = head.first.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        func header(_ name: String) -> String? {
            head.first { $0.lowercased().hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
        }
        return (status, header("location"), header("set-cookie"), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    func testABrowserSignsInWithTheTokenAndItsCookieOpensTheDashboard() throws {
        let dir = try folder(Self.pipeline())
        try "s3cret-token\n".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        let (h, address) = try start(dir, ["--http-token-file", dir + "/token"])
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let base = "http://\(address)"
        // A page load without the token goes to the sign-in page; an API call is 401.
        let page = try curl(["-H", "Accept: text/html,*/*", base + "/"])
        XCTAssertEqual(page.status, 303)
        XCTAssertEqual(page.location, "/login")
        XCTAssertEqual(try curl([base + "/api/v1/pipelines"]).status, 401)
        let login = try curl([base + "/login"])
        XCTAssertEqual(login.status, 200)
        XCTAssertTrue(login.body.contains("name=\"token\""), login.body)
        // The page's own files hold no data: served without the token, so the form has its style.
        XCTAssertEqual(try curl([base + "/static/style.css"]).status, 200)
        // A wrong token: back to the form, no cookie.
        let wrong = try curl(["--data-urlencode", "token=s3cret-toke", base + "/login"])
        XCTAssertEqual(wrong.status, 303)
        XCTAssertEqual(wrong.location, "/login?failed")
        XCTAssertNil(wrong.cookie)
        XCTAssertEqual(try curl(["-H", "Cookie: sluice_session=s3cret-token", base + "/api/v1/pipelines"]).status, 401)
        // Bodies a form would never send (bad percent-encoding, raw spaces, a bare name)
        // are a failed sign-in, never a crash of the host that runs the pipeline.
        for body in ["token=%", "token=%zz", "token=%C3", "token=a b", "token=<x>", "token=a#b", "token", "=", "&&", "token=%00s3cret-token"] {
            let r = try curl(["--data-binary", body, base + "/login"])
            XCTAssertEqual(r.status, 303, body)
            XCTAssertEqual(r.location, "/login?failed", body)
        }
        XCTAssertEqual(try curl(["-H", "Authorization: Bearer s3cret-token", base + "/ping"]).status, 200, "the host is still up")
        // The right one: a session cookie that opens every route, and never is the token itself.
        let right = try curl(["--data-urlencode", "token=s3cret-token", base + "/login"])
        XCTAssertEqual(right.status, 303)
        XCTAssertEqual(right.location, "/")
        let cookie = try XCTUnwrap(right.cookie)
        XCTAssertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), cookie)
        XCTAssertFalse(cookie.contains("s3cret-token"), cookie)
        let pair = String(cookie.split(separator: ";")[0])
        XCTAssertEqual(try curl(["-H", "Cookie: other=1; \(pair)", base + "/api/v1/pipelines"]).status, 200)
        XCTAssertEqual(try curl(["-H", "Cookie: \(pair)", base + "/metrics"]).status, 200)
        XCTAssertEqual(try curl(["-H", "Cookie: \(pair)", "-H", "Accept: text/html", base + "/"]).status, 200)
        XCTAssertEqual(try curl(["-H", "Cookie: \(pair)x", base + "/api/v1/pipelines"]).status, 401)
    }

    func testWithoutATokenOnlyLoopbackHostNamesAreAnswered() throws {
        let dir = try folder(Self.pipeline())
        let (h, address) = try start(dir)
        defer { h.signal(SIGKILL); h.wait(seconds: 5) }
        let port = try XCTUnwrap(address.split(separator: ":").last)
        for name in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST", "127.0.0.2:\(port)"] {
            XCTAssertEqual(try curl(["-H", "Host: \(name)", "http://\(address)/api/v1/pipelines"]).status, 200, name)
        }
        // A page whose own name resolves to 127.0.0.1 (DNS rebinding) reads nothing.
        for name in ["evil.example:\(port)", "evil.example", "127.0.0.1.evil.example:\(port)", "[::2]:\(port)"] {
            let r = try curl(["-H", "Host: \(name)", "http://\(address)/api/v1/session"])
            XCTAssertEqual(r.status, 403, name)
            XCTAssertFalse(r.body.contains("csrf"), r.body)
        }
    }
}
