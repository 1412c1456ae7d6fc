import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// The Webhook publisher against hostile HTTP servers on 127.0.0.1: a reply without a valid
/// status, or cut anywhere, is never a delivery and never refused for good — it is retried
/// through the pipeline's one retry policy (then spooled), with the reason in the log.
final class WebhookReplyTests: XCTestCase {
    /// Every alert of the run went back to the host as "retry" (each attempt reached the
    /// server, none counted as delivered nor refused) and ended in the spool with `reason`.
    func assertRetried(_ reply: HTTPResponseSpec, reason: String, file: StaticString = #filePath, line: UInt = #line,
                       name: String = #function) throws {
        let server = try LoopbackHTTPServer(handler: { _ in reply })
        let r = try runPipeline(WebhookTests.pipeline(["format": "json", "url": server.url + "/in"],
                                                      retry: #"{"maxAttempts": 2, "initialBackoffMs": 1, "maxBackoffMs": 2}"#,
                                                      spool: #"{"path": "${pipeline.dir}/spool"}"#),
                                files: ["in.jsonl": WebhookTests.events(3)], name: name)
        XCTAssertEqual(server.waitForRequests(2).count, 2, "tried again, not refused for good", file: file, line: line)
        XCTAssertEqual(r.publisher("hook")?.published, 0, "not a delivery", file: file, line: line)
        XCTAssertEqual(r.publisher("hook")?.failed, 0, "not refused for good", file: file, line: line)
        XCTAssertEqual(r.publisher("hook")?.retries, 1, file: file, line: line)
        XCTAssertEqual(r.publisher("hook")?.spooled, 3, file: file, line: line)
        let spool = SpoolReport.inspect(folder: r.dir + "/spool", publishers: ["hook"])
        let why = spool.publishers.first?.lastError ?? ""
        XCTAssertTrue(why.contains(reason), "the reason is said: \(why)", file: file, line: line)
    }

    func testAReplyWithoutAStatusLineIsRetried() throws {
        try assertRetried(.raw("hello there\r\n\r\n"), reason: "no valid HTTP status line")
        try assertRetried(.raw("{\"ok\": true}"), reason: "no valid HTTP status line")
        try assertRetried(.raw("HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n"), reason: "no valid HTTP status line")
    }

    func testAStatusOutsideHTTPsRangeIsRetried() throws {
        var nines = HTTPResponseSpec(status: 999, body: "what")
        try assertRetried(nines, reason: "HTTP 999: not a valid status")
        nines.status = 600
        try assertRetried(nines, reason: "HTTP 600: not a valid status")
    }

    func testA200CutInItsHeadersIsNotADelivery() throws {
        try assertRetried(.raw("HTTP/1.1 200 OK\r\nContent-Type: text/pl"), reason: "cut")
        try assertRetried(.raw("HTTP/1.1 200 OK\r\n"), reason: "cut")
    }

    func testA200WhoseBodyIsShorterThanItsLengthIsNotADelivery() throws {
        try assertRetried(.raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"), reason: "cut")
        try assertRetried(.raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"), reason: "cut")
    }

    func testAConnectionClosedWithoutAReplyIsRetried() throws {
        try assertRetried(.raw(""), reason: "closed")
    }

    func testAWellFormedReplyAfterAHostileOneIsDelivered() throws {
        let server = try LoopbackHTTPServer()
        server.respondInTurn([.raw("HTTP/1.1 200 OK\r\nConn")])
        let r = try runPipeline(WebhookTests.pipeline(["format": "json", "url": server.url],
                                                      retry: #"{"maxAttempts": 3, "initialBackoffMs": 1, "maxBackoffMs": 2}"#),
                                files: ["in.jsonl": WebhookTests.events(3)])
        XCTAssertEqual(server.requests.count, 2)
        XCTAssertEqual(r.publisher("hook")?.published, 3)
        XCTAssertEqual(r.publisher("hook")?.retries, 1)
        XCTAssertEqual(r.summary.status, .completed)
    }
}
