import Foundation
import Hummingbird
import NIOCore

/// Who may ask the host's HTTP server anything (docs/monitoring.md, docs/dashboard.md).
///
/// With a token (`--http-token-file`), every request needs it: programs send
/// `Authorization: Bearer <token>` (the scheme's name in any case, RFC 9110 §11.1; the
/// token compared in constant time); a browser signs in once on `/login` with the token and
/// gets a session cookie (HttpOnly, SameSite=Strict, valid until the host stops). Without
/// either, a page load is sent to `/login` and anything else is 401. The pages' own files
/// (`/static/…`, the icon) hold no data and are served to anyone, so the sign-in page has
/// its style.
///
/// Without a token the server listens on loopback only, and answers only requests whose
/// `Host` is a loopback name: a web page whose own name was made to resolve to 127.0.0.1
/// (DNS rebinding) cannot read the dashboard's API or write a silence.
struct AccessControl<Context: RequestContext>: RouterMiddleware {
    let token: String?
    /// The session cookie's value: random, one per server.
    let session: String

    static var cookieName: String { "sluice_session" }

    init(token: String?) {
        self.token = token
        session = Dashboard.randomToken()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            if let host = request.head.authority, !Self.isLoopbackName(host) {
                return HTTPServer.text("forbidden: this host answers loopback names only (127.0.0.1, [::1], localhost), "
                                       + "not \(host.prefix(100)); serve other addresses with --http-token-file\n", .forbidden)
            }
            return try await next(request, context)
        }
        let path = request.uri.path
        if path == "/login" {
            if request.method == .post { return await signIn(request, token: token) }
            if request.method == .get || request.method == .head {
                return Pages.response("login.html", ifNoneMatch: request.headers[.ifNoneMatch], head: request.method == .head)
            }
        }
        if path.hasPrefix("/static/") || path == "/favicon.ico" || authorized(request, token: token) {
            return try await next(request, context)
        }
        if request.method == .get, request.headers[.accept]?.contains("text/html") == true {
            return Response(status: .seeOther, headers: [.location: "/login"])
        }
        return Response(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer realm=\"sluice\"", .contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: "unauthorized: this host needs Authorization: Bearer <token> (or, in a browser, signing in on /login)\n")))
    }

    private func authorized(_ request: Request, token: String) -> Bool {
        if let given = request.headers[.authorization], given.count > 7, given.prefix(7).lowercased() == "bearer " {
            return HTTPSettings.sameToken(Array(given.utf8.dropFirst(7)), Array(token.utf8))
        }
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == Self.cookieName,
                   HTTPSettings.sameToken(Array(kv[1].trimmingCharacters(in: .whitespaces).utf8), Array(session.utf8)) {
                    return true
                }
            }
        }
        return false
    }

    /// POST /login with the form's `token`: the session cookie and back to the dashboard, or
    /// back to the form saying it failed.
    private func signIn(_ request: Request, token: String) async -> Response {
        var request = request
        guard let body = try? await request.collectBody(upTo: 8192),
              let text = body.getString(at: body.readerIndex, length: body.readableBytes) else {
            return Response(status: .seeOther, headers: [.location: "/login?failed"])
        }
        let given = Self.formValue("token", in: text) ?? ""
        guard HTTPSettings.sameToken(Array(given.trimmingCharacters(in: .whitespacesAndNewlines).utf8), Array(token.utf8)) else {
            return Response(status: .seeOther, headers: [.location: "/login?failed"])
        }
        return Response(status: .seeOther, headers: [
            .location: "/",
            .setCookie: "\(Self.cookieName)=\(session); Path=/; HttpOnly; SameSite=Strict",
        ])
    }

    /// The value of `name` in an `application/x-www-form-urlencoded` body (`+` a space,
    /// `%XX` a byte); nil when absent or not valid percent-encoded UTF-8. Parsed by hand:
    /// Foundation's URLComponents traps on invalid percent-encoding.
    static func formValue(_ name: String, in body: String) -> String? {
        for pair in body.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.count == 2, kv[0] == name else { continue }
            return String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }

    /// `Host` names a loopback address: 127.x.y.z, [::1] or localhost, with or without a port.
    static func isLoopbackName(_ host: String) -> Bool {
        var name = Substring(host.lowercased())
        if name.hasPrefix("[") {
            guard let close = name.firstIndex(of: "]") else { return false }
            return name[name.index(after: name.startIndex)..<close] == "::1"
        }
        if let colon = name.lastIndex(of: ":") { name = name[..<colon] }
        return HTTPSettings.isLoopback(String(name))
    }
}
