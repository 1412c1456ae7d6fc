import Foundation
import Hummingbird
import NIOCore
import SluiceEngine

/// docs/api.md, "Silences": a pipeline's silences through the store `host silence` uses
/// (SilenceStore, NewSilence.check, SilenceReport): what the page adds the command line
/// lists, and the other way round; a running host picks the change up by itself. Writes
/// pass the CSRF checks (`writeRefusal`) before their body is read.
extension Dashboard {
    /// The largest body a write request may have.
    static let maxBodyBytes = 64 << 10

    func addSilenceRoutes(_ router: Router<BasicRequestContext>) {
        router.get("api/v1/pipelines/:id/silences") { request, context in
            guard let pipeline = self.pipeline(context) else { return Dashboard.unknownPipeline(context) }
            let all: Bool
            switch API.flag(request, "all") {
            case .success(let v): all = v
            case .failure(let p): return p.response
            }
            let store = SilenceStore(folder: pipeline.stateFolder)
            return await Blocking.run {
                do {
                    let report = SilenceReport(path: store.path, silences: try store.load(), now: Timestamp.nowMilliseconds(), all: all)
                    return API.object(["silences": report.shown.map { Self.silenceJSON($0, now: report.now) }])
                } catch {
                    return Self.failure(error)
                }
            }
        }
        router.post("api/v1/pipelines/:id/silences") { request, context in
            guard let pipeline = self.pipeline(context) else { return Dashboard.unknownPipeline(context) }
            if let refusal = self.writeRefusal(request) { return refusal }
            let body: ByteBuffer
            switch await Self.body(request) {
            case .success(let b): body = b
            case .failure(let r): return r.response
            }
            guard let (asked, wrongFields) = SilenceRequest.parse(Data(buffer: body)) else {
                return API.error(.badRequest, "the silence was not added", problems: ["the body is not a JSON object"])
            }
            let store = SilenceStore(folder: pipeline.stateFolder)
            return await Blocking.run {
                let now = Timestamp.nowMilliseconds()
                let new: NewSilence
                do {
                    new = try NewSilence.check(matches: asked.matchers, duration: asked.duration, until: asked.until, start: asked.start,
                                               comment: asked.comment, author: asked.author, now: now)
                } catch {
                    return API.error(.badRequest, "the silence was not added", problems: wrongFields + ((error as? SilenceError)?.messages ?? ["\(error)"]).map(SilenceRequest.apiWording))
                }
                guard wrongFields.isEmpty else { return API.error(.badRequest, "the silence was not added", problems: wrongFields) }
                do {
                    return API.object(["id": try store.add(new, now: now).id], .created)
                } catch {
                    return Self.failure(error)
                }
            }
        }
        router.post("api/v1/pipelines/:id/silences/:silence/expire") { request, context in
            guard let pipeline = self.pipeline(context) else { return Dashboard.unknownPipeline(context) }
            if let refusal = self.writeRefusal(request) { return refusal }
            let id = context.parameters.get("silence") ?? ""
            let store = SilenceStore(folder: pipeline.stateFolder)
            return await Blocking.run {
                do {
                    guard let (silence, _) = try store.expire(ids: [id], now: Timestamp.nowMilliseconds()).first else {
                        return API.notFound("silence \(API.printable(id))")
                    }
                    return API.object(["id": silence.id, "endsAt": SilenceTime.format(time: silence.endsAt)])
                } catch let e as SilenceError where e.kind == .invalid {
                    return API.error(.notFound, "silence \(API.printable(id)): not found", problems: e.messages)
                } catch {
                    return Self.failure(error)
                }
            }
        }
    }

    /// A silence as the API gives it (docs/api.md): times ISO-8601 as `host silence list
    /// --json` prints them, `author` for silences.json's createdBy.
    static func silenceJSON(_ s: Silence, now: Int64) -> [String: Any] {
        ["id": s.id, "matchers": s.matchers.map { ["name": $0.name, "op": $0.op.rawValue, "value": $0.value] },
         "startsAt": SilenceTime.format(time: s.startsAt), "endsAt": SilenceTime.format(time: s.endsAt),
         "createdAt": SilenceTime.format(time: s.createdAt), "author": s.createdBy, "comment": s.comment,
         "state": s.state(at: now).rawValue]
    }

    /// A SilenceError as an answer: what was asked is wrong → 400 with every problem;
    /// silences.json unreadable or unwritable → 500, naming the file.
    static func failure(_ error: any Error) -> Response {
        guard let e = error as? SilenceError else { return API.error(.internalServerError, "\(error)") }
        switch e.kind {
        case .invalid: return API.error(.badRequest, "the request is not valid", problems: e.messages.map(SilenceRequest.apiWording))
        case .unreadable: return API.error(.internalServerError, "the silences cannot be read", problems: e.messages)
        case .unwritable: return API.error(.internalServerError, "the silences cannot be written", problems: e.messages)
        }
    }

    // MARK: writes: CSRF and body

    /// Why a write request is refused (403), or nil: it must carry `X-Sluice-CSRF` with this
    /// host's token, a JSON body, and — when the browser says where it comes from (`Origin`,
    /// `Sec-Fetch-Site`) — come from this same origin. A page of another site can neither
    /// read the token (no CORS headers are ever sent) nor add the header to a form post.
    func writeRefusal(_ request: Request) -> Response? {
        let refuse = { (why: String) in API.error(.forbidden, "refused: \(why)") }
        guard let given = Self.header(request, "x-sluice-csrf"),
              HTTPSettings.sameToken(Array(given.utf8), Array(csrfToken.utf8)) else {
            return refuse("a write needs the header X-Sluice-CSRF with the token from GET /api/v1/session")
        }
        let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard type == "application/json" else { return refuse("a write needs a JSON body (Content-Type: application/json)") }
        if let site = Self.header(request, "sec-fetch-site"), site != "same-origin" && site != "none" {
            return refuse("Sec-Fetch-Site: \(API.printable(site)): only same-origin requests may write")
        }
        if let origin = Self.header(request, "origin") {
            guard let host = request.head.authority, Self.sameOrigin(origin, host: host) else {
                return refuse("Origin \(API.printable(origin)) is not this server (\(API.printable(request.head.authority ?? "no Host")))")
            }
        }
        return nil
    }

    /// Whether `origin` (scheme://host[:port]) names the server the request was sent to (its Host).
    static func sameOrigin(_ origin: String, host: String) -> Bool {
        guard let o = URLComponents(string: origin), let scheme = o.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let oHost = o.host?.lowercased(), o.path.isEmpty || o.path == "/",
              let h = URLComponents(string: "http://" + host), let hHost = h.host?.lowercased() else { return false }
        let defaultPort = scheme == "https" ? 443 : 80
        let strip = { (s: String) in s.hasPrefix("[") && s.hasSuffix("]") ? String(s.dropFirst().dropLast()) : s }
        return strip(oHost) == strip(hHost) && (o.port ?? defaultPort) == (h.port ?? defaultPort)
    }

    static func header(_ request: Request, _ name: String) -> String? {
        request.headers.first { $0.name.canonicalName == name }?.value
    }

    /// The request's body, at most `maxBodyBytes` (else 413).
    static func body(_ request: Request) async -> Result<ByteBuffer, BodyTooLarge> {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes { return .failure(BodyTooLarge()) }
        do {
            return .success(try await request.body.collect(upTo: maxBodyBytes))
        } catch {
            return .failure(BodyTooLarge())
        }
    }

    struct BodyTooLarge: Error {
        var response: Response { API.error(.contentTooLarge, "the body is larger than \(Dashboard.maxBodyBytes >> 10) KiB") }
    }
}

/// The body of `POST …/silences` (docs/api.md): what `host silence add` takes, as JSON.
struct SilenceRequest: Sendable {
    var matchers: [String]
    var duration, until, start, comment: String?
    var author: String

    /// The fields, and the problems of those not of their type or not known (nil when the
    /// body is not a JSON object). A field of the wrong type is left out: NewSilence.check
    /// then says what it needs, so that every problem is told at once.
    static func parse(_ data: Data) -> (SilenceRequest, [String])? {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        var problems: [String] = []
        let known: Set = ["matchers", "duration", "until", "start", "comment", "author"]
        for key in object.keys.sorted() where !known.contains(key) {
            problems.append("\(API.printable(key)): not a field of a silence (\(known.sorted().joined(separator: ", ")))")
        }
        var matchers: [String] = []
        switch object["matchers"] {
        case let list as [Any]:
            for (i, m) in list.enumerated() {
                if let text = m as? String { matchers.append(text) } else { problems.append("matchers[\(i)]: a string such as \"stage=check\" is expected") }
            }
        case nil, is NSNull: break  // NewSilence.check says that at least one is needed
        default: problems.append("matchers: a list of strings such as [\"stage=check\"] is expected")
        }
        func text(_ key: String) -> String? {
            switch object[key] {
            case nil, is NSNull: return nil
            case let s as String: return s.isEmpty && key != "comment" ? nil : s
            default:
                problems.append("\(key): a string is expected")
                return nil
            }
        }
        let r = SilenceRequest(matchers: matchers, duration: text("duration"), until: text("until"), start: text("start"),
                               comment: text("comment"), author: text("author") ?? "")
        return (r, problems)
    }

    /// NewSilence.check names the command line's options; the API's fields are named so.
    static func apiWording(_ message: String) -> String {
        var m = message
        for (option, field) in [("--match", "matchers"), ("--for DURATION", "duration"), ("--until TIME", "until"), ("--for", "duration"),
                                ("--until", "until"), ("--start", "start"), ("--comment", "comment"), ("--author", "author")] {
            m = m.replacingOccurrences(of: option, with: field)
        }
        return m
    }
}
