import Foundation
import LoopbackHTTP
import SluiceEngine
import XCTest

/// HTTP/2 where the server speaks it: the Webhook publisher against nghttpd (Debian's
/// nghttp2-server, an HTTP/2-only server over TLS) on 127.0.0.1, with a certificate of our
/// own CA (caFile).
final class HTTP2Tests: XCTestCase {
    func testWebhooksSpeakHTTP2OverTLSWhereTheServerDoes() throws {
        let nghttpd = "/usr/sbin/nghttpd"
        guard FileManager.default.isExecutableFile(atPath: nghttpd) else {
            XCTFail("\(nghttpd) is missing: tools/setup-deps installs nghttp2-server")
            return
        }
        let dir = try scratchFolder()
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        try "accepted\n".write(toFile: dir + "/root/alerts", atomically: true, encoding: .utf8)
        let cert = try runProgram("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                                                       "-keyout", dir + "/key.pem", "-out", dir + "/cert.pem",
                                                       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        XCTAssertEqual(cert.status, 0, cert.stderr)
        let port = try serverPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: nghttpd)
        server.arguments = ["-v", "-d", dir + "/root", "--address=127.0.0.1", String(port), dir + "/key.pem", dir + "/cert.pem"]
        _ = FileManager.default.createFile(atPath: dir + "/nghttpd.log", contents: nil)
        server.standardOutput = FileHandle(forWritingAtPath: dir + "/nghttpd.log")
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        for _ in 0..<100 where !loopbackPortIsOpen(port) { usleep(50_000) }

        let events = (0..<3).map { #"{"id":"s\#($0)","t":\#(60 + $0)}"# }.joined(separator: "\n") + "\n"
        let run = try runPipeline(WebhookTests.pipeline(["format": "json", "url": "https://127.0.0.1:\(port)/alerts", "caFile": dir + "/cert.pem"]),
                                  files: ["in.jsonl": events])
        XCTAssertEqual(run.summary.status, .completed)
        XCTAssertEqual(run.publisher("hook")?.published, 3)
        let log = try String(contentsOfFile: dir + "/nghttpd.log", encoding: .utf8)
        XCTAssertTrue(log.contains(":method: POST"), "nghttpd (HTTP/2 only) received the POST as HTTP/2 frames:\n\(log.prefix(2000))")
        XCTAssertTrue(log.contains("recv DATA frame"), log)

        // Without our CA the certificate is not trusted: never sent, and spooled, not lost.
        let untrusted = try runPipeline(WebhookTests.pipeline(["format": "json", "url": "https://127.0.0.1:\(port)/alerts"]),
                                        files: ["in.jsonl": events])
        XCTAssertEqual(untrusted.publisher("hook")?.published, 0)
        XCTAssertEqual(untrusted.publisher("hook")?.spooled, 3)
    }
}
