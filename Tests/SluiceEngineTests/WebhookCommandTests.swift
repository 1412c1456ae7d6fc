import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// The webhook publisher through the `host` command, as operators run it: secrets never
/// shown, `host spool`, and a `kill -9` while alerts are spooled.
final class WebhookCommandTests: XCTestCase {
    static let token = "s3cr3t-T0KEN-4242"
    static let headerSecret = "hdr-S3CRET-99"

    func pipeline(dir: String, follow: Bool = false, input: String = "in", format: String = "slack") -> String {
        """
        {"name": "paging", "namespace": "ops", "retry": {"maxAttempts": 2, "initialBackoffMs": 10, "maxBackoffMs": 50},
         "spool": {"path": "${pipeline.dir}/spool"}, "state": {"path": "${pipeline.dir}/state"},
         "stages": [{"name": "src", "plugin": {"name": "JSONLSource", "properties": {"path": "${pipeline.dir}/\(input)", "follow": \(follow), "pollMs": 20}}},
                    {"name": "hot", "plugin": {"name": "Threshold", "properties": {"field": "t", "limit": 50}},
                     "alerts": {"groupBy": ["id"], "aggregates": [{"name": "n", "function": "count"}]}},
                    {"name": "pager", "plugin": {"name": "Webhook", "properties": {"format": "\(format)", "url": "${env:WEBHOOK_URL}",
                                                                                   "headers": "${env:WEBHOOK_HEADERS}", "timeoutMs": 2000}}}],
         "connections": [{"from": "src", "to": "hot"}, {"from": "hot", "to": "pager", "port": "alerts"}]}
        """
    }

    static let events = (0..<6).map { #"{"id":"s\#($0 % 3)","t":\#(60 + $0)}"# }.joined(separator: "\n") + "\n"

    func prepare(follow: Bool = false, format: String = "slack") throws -> String {
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/in", withIntermediateDirectories: true)
        try Self.events.write(toFile: dir + "/in/events-1.jsonl", atomically: true, encoding: .utf8)
        try pipeline(dir: dir, follow: follow, format: format).write(toFile: dir + "/pipeline.json", atomically: true, encoding: .utf8)
        return dir
    }

    func assertNoSecret(_ text: String, _ place: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertFalse(text.contains(Self.token), "the URL's secret shows in \(place):\n\(text)", file: file, line: line)
        XCTAssertFalse(text.contains(Self.headerSecret), "the header's secret shows in \(place):\n\(text)", file: file, line: line)
    }

    func testNoSecretAppearsInAnyOutput() throws {
        // A hostile service: it answers 400, then 503, echoing the URL and the headers it got.
        let server = try LoopbackHTTPServer()
        final class Phase: @unchecked Sendable { var status = 400 }
        let phase = Phase()
        server.respond { r in
            HTTPResponseSpec(status: phase.status, body: "bad request to \(r.path) with \(r.headers["authorization"] ?? "")")
        }
        let dir = try prepare()
        let env = ["WEBHOOK_URL": server.url + "/services/" + Self.token, "WEBHOOK_HEADERS": "Authorization: Bearer " + Self.headerSecret]
        let file = dir + "/pipeline.json"

        let validate = try host(["validate", file], env: env)
        XCTAssertEqual(validate.status, 0, validate.stderr)
        assertNoSecret(validate.stdout + validate.stderr, "validate")

        let refused = try host(["run", file, "--progress", "json", "--summary-json", dir + "/summary.json"], env: env)
        XCTAssertEqual(refused.status, 3, refused.stderr)
        XCTAssertEqual(server.requests.first?.headers["authorization"], "Bearer " + Self.headerSecret, "the secret did reach the service")
        XCTAssertTrue(refused.stderr.contains("slack: HTTP 400: bad request to [secret] with [secret]"),
                      "the response body is logged, its secrets masked:\n\(refused.stderr)")
        assertNoSecret(refused.stdout + refused.stderr, "run (a 400)")
        assertNoSecret(try String(contentsOfFile: dir + "/summary.json", encoding: .utf8), "the summary JSON")

        phase.status = 503
        // The same input again (the first run committed it).
        let failing = try host(["run", file, "--progress", "json", "--from-start"], env: env)
        XCTAssertEqual(failing.status, 3, failing.stderr)
        assertNoSecret(failing.stdout + failing.stderr, "run (503s, spooled)")
        let spoolFiles = try FileManager.default.contentsOfDirectory(atPath: dir + "/spool")
        XCTAssertEqual(Set(spoolFiles), ["pager.spool.jsonl", "pager.state.json"])
        for f in spoolFiles {
            assertNoSecret(f, "a spool file's name")
            assertNoSecret(try String(contentsOfFile: dir + "/spool/" + f, encoding: .utf8), "spool file \(f)")
        }
        let spool = try host(["spool", file], env: env)
        XCTAssertEqual(spool.status, 0, spool.stderr)
        XCTAssertTrue(spool.stdout.contains("[secret]"), spool.stdout)
        assertNoSecret(spool.stdout + spool.stderr, "host spool")

        for args in [["list-plugins"], ["list-plugins", "--json"], ["describe-plugin", "Webhook"], ["describe-plugin", "Webhook", "--json"]] {
            let r = try host(args, env: env)
            XCTAssertEqual(r.status, 0, r.stderr)
            assertNoSecret(r.stdout + r.stderr, args.joined(separator: " "))
        }
        let described = try host(["describe-plugin", "Webhook"])
        XCTAssertTrue(described.stdout.contains("url"), described.stdout)

        // A secret written into the file itself: validation warns, without repeating it.
        try pipeline(dir: dir).replacingOccurrences(of: "${env:WEBHOOK_URL}", with: server.url + "/services/" + Self.token)
            .write(toFile: dir + "/literal.json", atomically: true, encoding: .utf8)
        let literal = try host(["validate", dir + "/literal.json"], env: env)
        XCTAssertTrue(literal.stderr.contains("warning: stages[2].plugin.properties.url: 'url' is a secret"), literal.stderr)
        assertNoSecret(literal.stdout + literal.stderr, "validate of a file holding the secret")
    }

    func testAWebhookURLWithoutSchemeOrHTTPSForAKnownServiceIsRefusedAtValidate() throws {
        let dir = try prepare()
        let file = dir + "/pipeline.json"
        let path = "stages[2].plugin.properties.url"
        let cases = [
            // From an environment variable, as operators set them: the scheme forgotten.
            ("hooks.slack.com/services/T000/B000/" + Self.token, "has no scheme"),
            ("http://hooks.slack.com/services/T000/B000/" + Self.token, "must be https for hooks.slack.com"),
            ("http://acme.webhook.office.com/webhookb2/" + Self.token, "must be https for *.webhook.office.com"),
            ("ftp://example.com/" + Self.token, "its scheme is ftp"),
            ("https:///" + Self.token, "has no host"),
        ]
        for (url, reason) in cases {
            let env = ["WEBHOOK_URL": url, "WEBHOOK_HEADERS": ""]
            for command in ["validate", "run"] {
                let r = try host([command, file, "--progress", "none"].prefix(command == "run" ? 4 : 2).map { $0 }, env: env)
                XCTAssertEqual(r.status, 2, "\(command) \(url): \(r.stdout) \(r.stderr)")
                XCTAssertTrue(r.stderr.contains("error: \(path): property 'url' of plugin Webhook must be an http or https URL: "),
                              "\(command): \(r.stderr)")
                XCTAssertTrue(r.stderr.contains(reason), "\(command) \(url): \(r.stderr)")
                assertNoSecret(r.stdout + r.stderr, "\(command) of a bad URL")
            }
        }
        // A URL of the same form to another host (a local receiver, a proxy) may use http.
        let fine = try host(["validate", file], env: ["WEBHOOK_URL": "http://127.0.0.1:9/services/x", "WEBHOOK_HEADERS": ""])
        XCTAssertEqual(fine.status, 0, fine.stderr)
    }

    func testHostSpoolListsWhatWaitsWithoutSendingIt() throws {
        let port = try serverPort()  // nothing listens there
        let dir = try prepare()
        let env = ["WEBHOOK_URL": "http://127.0.0.1:\(port)/hook", "WEBHOOK_HEADERS": ""]
        let run = try host(["run", dir + "/pipeline.json", "--progress", "none"], env: env)
        XCTAssertEqual(run.status, 3)
        XCTAssertTrue(run.stdout.contains("completed, but 3 wait in the spool for the next run"), run.stdout)
        let listed = try host(["spool", dir + "/pipeline.json"], env: env)
        XCTAssertEqual(listed.status, 0, listed.stderr)
        let row = listed.stdout.split(separator: "\n").first { $0.hasPrefix("pager ") }.map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(row?[1], "3", listed.stdout)
        XCTAssertTrue(listed.stdout.contains("slack: Couldn't connect to server"), listed.stdout)
        let json = try host(["spool", dir + "/pipeline.json", "--json"], env: env)
        let report = try JSONDecoder().decode(SpoolReport.self, from: Data(json.stdout.utf8))
        XCTAssertEqual(report.publishers.map(\.alerts), [3])
        XCTAssertEqual(report.publishers.first?.inPipeline, true)
        // Listing twice changes nothing: nothing was sent, nothing removed.
        XCTAssertEqual(try host(["spool", dir + "/pipeline.json", "--json"], env: env).stdout, json.stdout)
    }

    func testAKill9WhileAlertsAreSpooledLosesNothing() throws {
        let port = try serverPort()  // nothing listens there
        let dir = try prepare(follow: true, format: "json")
        let env = ["WEBHOOK_URL": "http://127.0.0.1:\(port)/hook", "WEBHOOK_HEADERS": ""]
        // A following run: it would go on for ever. Kill it once its alerts are spooled.
        var environment = ProcessInfo.processInfo.environment
        environment.merge(env) { $1 }
        environment.removeValue(forKey: PluginSearchPath.environmentVariable)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Package.host)
        p.arguments = ["run", dir + "/pipeline.json", "--progress", "none"]
        p.environment = environment
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        let spoolFile = dir + "/spool/pager.spool.jsonl"
        var lines: [Substring] = []
        for _ in 0..<400 {
            lines = ((try? String(contentsOfFile: spoolFile, encoding: .utf8)) ?? "").split(separator: "\n")
            if lines.count >= 3 { break }
            usleep(50_000)
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationReason, .uncaughtSignal)
        XCTAssertEqual(lines.count, 3, "the three stores' alerts were spooled before the kill")
        let spooledIDs = lines.compactMap { line -> String? in
            let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
            return (o?["alert"] as? [String: Any])?["id"] as? String
        }
        XCTAssertEqual(spooledIDs.count, 3)

        // The service is back; a restart (nothing new to read) delivers every spooled alert.
        let server = try LoopbackHTTPServer(port: port)
        try FileManager.default.createDirectory(atPath: dir + "/empty", withIntermediateDirectories: true)
        try pipeline(dir: dir, input: "empty", format: "json").write(toFile: dir + "/restart.json", atomically: true, encoding: .utf8)
        let restart = try host(["run", dir + "/restart.json", "--progress", "none", "--summary-json", dir + "/summary.json"], env: env)
        XCTAssertEqual(restart.status, 0, restart.stdout + restart.stderr)
        let summary = try JSONDecoder().decode(RunSummary.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json")))
        XCTAssertEqual(summary.alerts.replayed, 3)
        XCTAssertEqual(summary.waitingAlerts, 0)
        let received = server.requests.flatMap { ($0.json as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
        XCTAssertEqual(received, spooledIDs, "every spooled alert, as it was spooled")
        XCTAssertFalse(FileManager.default.fileExists(atPath: spoolFile))
    }
}
