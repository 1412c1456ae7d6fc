import Foundation
import Hummingbird
import NIOCore

/// What the API's routes share beyond APIResponse.swift: answers made of Foundation JSON
/// values, and query values read with a clear 400 when they are wrong.
extension API {
    /// A JSON object made of Foundation values (NSNull for null: fields not known are
    /// null, never left out): for answers that carry JSON stored as text (a run's summary,
    /// an alert's envelope).
    static func object(_ value: [String: Any], _ status: HTTPResponse.Status = .ok) -> Response {
        guard JSONSerialization.isValidJSONObject(value),
              let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return error(.internalServerError, "the answer could not be encoded") }
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `?name=N`: `default` when absent; a problem when not an integer in `range`.
    static func integer(_ request: Request, _ name: String, default value: Int, _ range: ClosedRange<Int>) -> Result<Int, Problem> {
        guard let text = request.uri.queryParameters.get(name) else { return .success(value) }
        guard let n = Int(text), range.contains(n) else {
            return .failure(Problem("?\(name)=\(printable(text)): an integer from \(range.lowerBound) to \(range.upperBound) is expected"))
        }
        return .success(n)
    }

    /// Text from a request, made safe to echo in a message: clipped, control characters escaped.
    static func printable(_ text: String) -> String {
        let clipped = text.count > 80 ? String(text.prefix(80)) + "…" : text
        return clipped.unicodeScalars.map { $0.properties.generalCategory == .control ? $0.escaped(asASCII: true) : String($0) }.joined()
    }

    struct Problem: Error, Sendable {
        let message: String
        init(_ message: String) { self.message = message }
        var response: Response { error(.badRequest, message) }
    }

    /// `?name=1` (or true): true; absent, 0 or false: false.
    static func flag(_ request: Request, _ name: String) -> Result<Bool, Problem> {
        switch request.uri.queryParameters.get(name) {
        case nil, "0", "false": .success(false)
        case "1", "true", "": .success(true)
        case let text?: .failure(Problem("?\(name)=\(printable(text)): 1 or 0 is expected"))
        }
    }
}
