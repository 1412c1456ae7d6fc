import Hummingbird
import NIOCore
import SluiceEngine

/// The dashboard's pages (docs/dashboard.md): plain HTML, CSS and JavaScript modules from
/// Sources/SluiceServe/Pages, compiled into the binary (SwiftPM's `embedInCode`), so the
/// host needs nothing installed beside it. `/` is index.html; everything else is
/// `/static/<file>`; any other name is 404 (names are looked up in `Pages.files`, never
/// joined to a path, so `..` leads nowhere).
///
/// Every answer carries the same headers: a strict Content-Security-Policy (no inline
/// script or style, nothing from another origin, no framing), `nosniff`, no referrer, and
/// an ETag (the file's content hash) so a browser revalidates and gets 304 until the host
/// is upgraded.
enum Pages {
    struct File: Sendable {
        let bytes: [UInt8]
        let contentType: String
        /// Strong: a hash of the bytes, quoted.
        let etag: String

        init(_ bytes: [UInt8], _ contentType: String) {
            self.bytes = bytes
            self.contentType = contentType
            etag = "\"" + Pages.hash(bytes) + "\""
        }
    }

    /// Every file of Sources/SluiceServe/Pages, by name (DashboardPagesTests checks the table
    /// lists exactly those files).
    static let files: [String: File] = [
        "index.html": File(PackageResources.index_html, "text/html; charset=utf-8"),
        "login.html": File(PackageResources.login_html, "text/html; charset=utf-8"),
        "login.js": File(PackageResources.login_js, js),
        "style.css": File(PackageResources.style_css, "text/css; charset=utf-8"),
        "favicon.svg": File(PackageResources.favicon_svg, "image/svg+xml; charset=utf-8"),
        "app.js": File(PackageResources.app_js, js),
        "dom.js": File(PackageResources.dom_js, js),
        "format.js": File(PackageResources.format_js, js),
        "api.js": File(PackageResources.api_js, js),
        "live.js": File(PackageResources.live_js, js),
        "layout.js": File(PackageResources.layout_js, js),
        "charts.js": File(PackageResources.charts_js, js),
        "pipeline.js": File(PackageResources.pipeline_js, js),
        "batches.js": File(PackageResources.batches_js, js),
        "runs.js": File(PackageResources.runs_js, js),
        "alerts.js": File(PackageResources.alerts_js, js),
        "silences.js": File(PackageResources.silences_js, js),
        "catalog.js": File(PackageResources.catalog_js, js),
    ]
    static let js = "text/javascript; charset=utf-8"

    static let contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

    /// The headers every page answer carries.
    static let securityHeaders: HTTPFields = {
        var h: HTTPFields = [.contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff"]
        // swift-http-types has no constant for it; Hummingbird re-exports HTTPFields, not HTTPField.
        if let referrer = HTTPFields.Element.Name("Referrer-Policy") { h[referrer] = "no-referrer" }
        return h
    }()

    /// The file `name`'s answer: 200 with its bytes (only the headers for HEAD), 304 when
    /// `ifNoneMatch` names its ETag, 404 when there is no such file.
    static func response(_ name: String, ifNoneMatch: String?, head: Bool = false) -> Response {
        var headers = securityHeaders
        guard let file = files[name] else {
            headers[.contentType] = "text/plain; charset=utf-8"
            return Response(status: .notFound, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
        }
        headers[.eTag] = file.etag
        // Revalidate each time (cheap: 304), so a host upgrade shows its own pages at once.
        headers[.cacheControl] = "no-cache"
        if let ifNoneMatch, matches(ifNoneMatch, file.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = file.contentType
        if head {
            headers[.contentLength] = String(file.bytes.count)
            return Response(status: .ok, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
    }

    /// If-None-Match: `*` or a comma-separated list of (possibly weak) ETags (RFC 9110 §13.1.2,
    /// weak comparison).
    static func matches(_ header: String, _ etag: String) -> Bool {
        header.split(separator: ",").contains { item in
            var tag = item.trimmingCharacters(in: .whitespaces)
            if tag == "*" { return true }
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            return tag == etag
        }
    }

    /// FNV-1a, 64 bits, hex: enough to tell versions of a file apart.
    static func hash(_ bytes: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

extension Dashboard {
    func addPageRoutes(_ router: Router<BasicRequestContext>) {
        // Browsers ask for /favicon.ico on their own; the page names /static/favicon.svg.
        let routes: [(String, @Sendable (Request, BasicRequestContext) -> String)] = [
            ("/", { _, _ in "index.html" }),
            ("/static/{file}", { _, context in context.parameters.get("file") ?? "" }),
            ("/favicon.ico", { _, _ in "favicon.svg" }),
        ]
        for (path, name) in routes {
            router.get(RouterPath(path)) { request, context in
                Pages.response(name(request, context), ifNoneMatch: request.headers[.ifNoneMatch])
            }
            router.head(RouterPath(path)) { request, context in
                Pages.response(name(request, context), ifNoneMatch: request.headers[.ifNoneMatch], head: true)
            }
        }
    }
}
