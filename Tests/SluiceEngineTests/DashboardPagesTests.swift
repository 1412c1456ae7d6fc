import Foundation
@testable import SluiceServe
import SluiceEngine
import XCTest

/// The dashboard's pages as the host serves them (Dashboard/Pages.swift): `/` and
/// `/static/<file>` from the table embedded in the binary, which lists exactly the files of
/// Sources/SluiceServe/Pages; their types with charset=utf-8; the strict CSP, nosniff and
/// no-referrer headers; ETag and 304; 404 for anything else, whatever `..` a path holds.
/// And the pages' own code: nothing ever parses data as HTML or code, nothing inline.
final class DashboardPagesTests: XCTestCase {
    static let pagesFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/SluiceServe/Pages").standardized.path

    static let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    static func sourceFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: pagesFolder).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// A server with only the dashboard's routes, on a free port of 127.0.0.1.
    func serve() throws -> HTTPServer {
        let dashboard = Dashboard(mode: .serve, pipelines: [], catalog: { Catalog(entries: [], problems: [], locations: []) })
        return try HTTPServer(HTTPSettings(address: "127.0.0.1:0", tokenFile: nil)) { dashboard.add(to: $0) }
    }

    func testTheTableListsExactlyTheFilesOfThePagesFolder() throws {
        let files = try Self.sourceFiles()
        XCTAssertTrue(files.contains("index.html"), Self.pagesFolder)
        XCTAssertEqual(Pages.files.keys.sorted(), files, "Dashboard/Pages.swift's table and Sources/SluiceServe/Pages differ")
        for name in files {
            let bytes = try XCTUnwrap(FileManager.default.contents(atPath: Self.pagesFolder + "/" + name))
            XCTAssertTrue(Pages.files[name]?.bytes == [UInt8](bytes), "\(name): the binary holds other bytes than the file (built before it changed?)")
        }
        // Every ETag tells its file apart.
        XCTAssertEqual(Set(Pages.files.values.map(\.etag)).count, Pages.files.count)
    }

    func testPagesAreServedWithTheirTypeCharsetCSPAndSecurityHeaders() throws {
        let server = try serve()
        defer { server.stop() }
        let base = "http://\(server.boundAddress)"
        let types = ["html": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
                     "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml; charset=utf-8"]
        var paths = [("/", "index.html"), ("/favicon.ico", "favicon.svg")]
        paths += try Self.sourceFiles().map { ("/static/" + $0, $0) }
        for (path, name) in paths {
            let r = try XCTUnwrap(rawHTTP(server.boundAddress, "GET \(path) HTTP/1.1"), path)
            XCTAssertEqual(r.status, 200, path)
            let ext = String(name.split(separator: ".").last ?? "")
            XCTAssertEqual(r.headers["content-type"], types[ext], path)
            XCTAssertEqual(r.headers["content-security-policy"], Self.csp, path)
            XCTAssertEqual(r.headers["x-content-type-options"], "nosniff", path)
            XCTAssertEqual(r.headers["referrer-policy"], "no-referrer", path)
            XCTAssertEqual(r.headers["etag"], Pages.files[name]?.etag, path)
            XCTAssertEqual(r.headers["cache-control"], "no-cache", path)
            let onDisk = try XCTUnwrap(FileManager.default.contents(atPath: Self.pagesFolder + "/" + name))
            XCTAssertTrue(r.body == onDisk, "\(path): not the bytes of \(name) (\(r.body.count) bytes, the file \(onDisk.count))")
        }
        // HEAD: the same headers, no body.
        let head = try XCTUnwrap(rawHTTP(server.boundAddress, "HEAD /static/style.css HTTP/1.1"))
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.headers["content-type"], "text/css; charset=utf-8")
        XCTAssertEqual(head.headers["content-length"], String(Pages.files["style.css"]?.bytes.count ?? -1))
        XCTAssertEqual(head.headers["content-security-policy"], Self.csp)
        XCTAssertEqual(head.body.count, 0)
        XCTAssertEqual(rawHTTP(server.boundAddress, "HEAD /static/nothing.js HTTP/1.1")?.status, 404)
        // The same through an ordinary client.
        let index = try XCTUnwrap(httpGet(base + "/"))
        XCTAssertEqual(index.status, 200)
        XCTAssertTrue(index.body.contains("<script type=\"module\" src=\"/static/app.js\"></script>"), index.body)
    }

    func testAnETagTheClientHasGets304() throws {
        let server = try serve()
        defer { server.stop() }
        let etag = try XCTUnwrap(Pages.files["app.js"]?.etag)
        for header in [etag, "W/\(etag)", "\"other\", \(etag)", "*"] {
            let r = try XCTUnwrap(rawHTTP(server.boundAddress, "GET /static/app.js HTTP/1.1", headers: ["If-None-Match": header]))
            XCTAssertEqual(r.status, 304, header)
            XCTAssertEqual(r.body.count, 0, header)
            XCTAssertEqual(r.headers["etag"], etag, header)
            XCTAssertEqual(r.headers["content-security-policy"], Self.csp, header)
        }
        let stale = try XCTUnwrap(rawHTTP(server.boundAddress, "GET /static/app.js HTTP/1.1", headers: ["If-None-Match": "\"0000\""]))
        XCTAssertEqual(stale.status, 200)
        XCTAssertTrue(stale.body == Data(Pages.files["app.js"]?.bytes ?? []))
        // index.html's tag is its own.
        let index = try XCTUnwrap(rawHTTP(server.boundAddress, "GET / HTTP/1.1", headers: ["If-None-Match": etag]))
        XCTAssertEqual(index.status, 200)
    }

    func testAnythingElseIs404AndNoPathLeadsOutOfTheTable() throws {
        let server = try serve()
        defer { server.stop() }
        let notFound = ["/static/nothing.js", "/static/", "/static/INDEX.HTML", "/static/index.html/x", "/index.html",
                        "/static/Pages.swift", "/static/..%2FDashboard%2FPages.swift", "/static/%2e%2e%2f%2e%2e%2fPackage.swift",
                        "/static/.%2Findex.html", "/nothing", "/api"]
        for path in notFound {
            let r = try XCTUnwrap(rawHTTP(server.boundAddress, "GET \(path) HTTP/1.1"), path)
            XCTAssertEqual(r.status, 404, path)
            XCTAssertFalse(String(decoding: r.body, as: UTF8.self).contains("import"), path)
        }
        // Paths with .. as is (curl --path-as-is): never a file outside the table.
        for path in ["/static/../Package.swift", "/static/../../../../etc/passwd", "/static/../static/app.js/../../Package.swift",
                     "/../Package.swift"] {
            let r = try XCTUnwrap(rawHTTP(server.boundAddress, "GET \(path) HTTP/1.1"), path)
            XCTAssertTrue([400, 404].contains(r.status), "\(path): \(r.status)")
            let text = String(decoding: r.body, as: UTF8.self)
            XCTAssertFalse(text.contains("root:") || text.contains("PackageDescription"), path)
        }
        // A page's 404 still carries the headers.
        let r = try XCTUnwrap(rawHTTP(server.boundAddress, "GET /static/nothing.css HTTP/1.1"))
        XCTAssertEqual(r.headers["content-security-policy"], Self.csp)
        XCTAssertEqual(r.headers["x-content-type-options"], "nosniff")
    }

    /// The pages put data in the DOM with textContent/setAttribute only: no HTML parsing of
    /// strings, no code from strings, nothing inline the CSP would refuse.
    func testThePagesNeverParseStringsAsHTMLOrCodeAndHaveNothingInline() throws {
        let forbidden = ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                         "setTimeout('", "setTimeout(\"", "setInterval('", "setInterval(\"", "javascript:", "DOMParser",
                         "createContextualFragment", "setAttribute('style'", "setAttribute(\"style\"", "srcdoc"]
        for name in try Self.sourceFiles() where name.hasSuffix(".js") || name.hasSuffix(".html") {
            let text = try String(contentsOfFile: Self.pagesFolder + "/" + name, encoding: .utf8)
            for word in forbidden {
                XCTAssertFalse(text.contains(word), "\(name) uses \(word)")
            }
        }
        let html = try String(contentsOfFile: Self.pagesFolder + "/index.html", encoding: .utf8)
        XCTAssertNil(html.range(of: "<style", options: .caseInsensitive), "inline style element")
        XCTAssertNil(html.range(of: #"\sstyle\s*="#, options: .regularExpression), "style attribute")
        XCTAssertNil(html.range(of: #"\son[a-z]+\s*="#, options: .regularExpression), "inline event handler")
        // Every <script> has a src and no body.
        let scripts = html.components(separatedBy: "<script").dropFirst()
        XCTAssertFalse(scripts.isEmpty)
        for s in scripts {
            XCTAssertTrue(s.hasPrefix(" type=\"module\" src=\"/static/"), "a script without src: <script\(s.prefix(60))")
            XCTAssertTrue(s.contains("></script>"), "a script with a body")
        }
    }

    /// Every file a page names (/static/x in the HTML, ./x.js in an import) is in the table.
    func testEveryFileThePagesNameIsServed() throws {
        var named: Set<String> = []
        for name in try Self.sourceFiles() where name.hasSuffix(".js") || name.hasSuffix(".html") {
            let text = try String(contentsOfFile: Self.pagesFolder + "/" + name, encoding: .utf8)
            for pattern in [#"/static/([A-Za-z0-9_.-]+)"#, #"from '\./([A-Za-z0-9_.-]+)'"#] {
                let regex = try NSRegularExpression(pattern: pattern)
                for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    if let r = Range(m.range(at: 1), in: text) { named.insert(String(text[r])) }
                }
            }
        }
        XCTAssertTrue(named.contains("app.js") && named.contains("pipeline.js"), "\(named)")
        XCTAssertEqual(named.subtracting(Pages.files.keys), [], "named but not in the table")
    }
}

/// One request sent as written (no client normalising `..`), the answer parsed:
/// status, headers (lowercase names), body (Content-Length or up to the close).
func rawHTTP(_ address: String, _ requestLine: String, headers: [String: String] = [:], timeout: Int = 10)
    -> (status: Int, headers: [String: String], body: Data)? {
    guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return nil }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr(String(address[..<colon]))
    addr.sin_port = port.bigEndian
    let connected = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return nil }
    var text = requestLine + "\r\nHost: \(address)\r\nConnection: close\r\n"
    for (k, v) in headers { text += "\(k): \(v)\r\n" }
    text += "\r\n"
    let request = Array(text.utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        data.append(contentsOf: buffer[0..<n])
    }
    guard let end = data.range(of: Data("\r\n\r\n".utf8)) else { return nil }
    let head = String(decoding: data[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
    let statusParts = head.first?.split(separator: " ") ?? []
    guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
    var fields: [String: String] = [:]
    for line in head.dropFirst() {
        guard let c = line.firstIndex(of: ":") else { continue }
        fields[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
    }
    var body = Data(data[end.upperBound...])
    if let length = fields["content-length"].flatMap(Int.init), body.count > length { body = body.prefix(length) }
    return (status, fields, body)
}
