import Foundation
import Hummingbird
import NIOCore

/// The API's answers (docs/api.md): JSON objects, UTF-8; errors as {"error": …, "problems": […]}.
enum API {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    static func json<T: Encodable>(_ value: T, _ status: HTTPResponse.Status = .ok) -> Response {
        guard let data = try? encoder.encode(value) else { return error(.internalServerError, "the answer could not be encoded") }
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    struct Failure: Encodable {
        var error: String
        var problems: [String]?
    }

    static func error(_ status: HTTPResponse.Status, _ message: String, problems: [String]? = nil) -> Response {
        let data = (try? encoder.encode(Failure(error: message, problems: problems))) ?? Data("{\"error\":\"?\"}".utf8)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func notFound(_ what: String) -> Response { error(.notFound, "\(what): not found") }
}
