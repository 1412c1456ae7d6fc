// webhook-receiver — a local HTTP endpoint that prints what webhook publishers send it:
// for trying a pipeline's webhooks on one machine (examples/store-quality-webhook).
//
//   webhook-receiver [--port 9099] [--status 200] [--body]
//
// Listens on 127.0.0.1 only. One line per request: method, path, size and, for a JSON array
// of alert envelopes, each alert's stage and payload; --body prints the whole body.
import Foundation
import LoopbackHTTP

var port = 9099, status = 200, printBody = false
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--port": port = args.popFirst().flatMap(Int.init) ?? port
    case "--status": status = args.popFirst().flatMap(Int.init) ?? status
    case "--body": printBody = true
    default:
        FileHandle.standardError.write(Data("usage: webhook-receiver [--port N] [--status CODE] [--body]\n".utf8))
        exit(64)
    }
}

let (answer, withBody) = (status, printBody)
let out = FileHandle.standardOutput
let server = try LoopbackHTTPServer(port: port, keepBodies: false) { r in
    var line = "\(r.method) \(r.path) \(r.body.count) bytes"
    if let alerts = r.json as? [[String: Any]] {
        line += ", \(alerts.count) alert(s)"
        for a in alerts.prefix(20) {
            let payload = (a["payload"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            line += "\n  \(a["stage"] as? String ?? "?") key=\(a["key"] as? String ?? "?") \(payload.joined(separator: " "))"
        }
        if alerts.count > 20 { line += "\n  …" }
    }
    if withBody { line += "\n" + r.bodyText }
    out.write(Data((line + "\n").utf8))
    return HTTPResponseSpec(status: answer, body: answer < 300 ? "ok" : "refused by webhook-receiver --status \(answer)")
}
out.write(Data("webhook-receiver: listening on \(server.url), answering \(status)\n".utf8))
while true { sleep(3600) }
