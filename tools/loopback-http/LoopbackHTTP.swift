// LoopbackHTTP — a small real HTTP/1.1 server on 127.0.0.1, for tests and benchmarks: the
// webhook publishers post to it over real sockets. It binds an ephemeral port, keeps
// connections alive, reads Content-Length and chunked bodies, records every request (with
// the connection it came on) and answers what a handler says, optionally after a delay —
// or, to play a hostile server, with exact bytes and then a closed connection.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

public struct HTTPRequestRecord: Sendable {
    public let method: String
    public let path: String
    /// Header names lowercased.
    public let headers: [String: String]
    public let body: Data
    /// Which accepted connection carried it (1, 2, …): connection reuse shows here.
    public let connection: Int
    /// When it arrived (milliseconds since 1970).
    public let receivedMs: Int64

    public var bodyText: String { String(decoding: body, as: UTF8.self) }
    /// The body as JSON (Foundation's reading of it), or nil.
    public var json: Any? { try? JSONSerialization.jsonObject(with: body) }
}

public struct HTTPResponseSpec: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: String
    /// Wait this long before answering (a slow service).
    public var delayMs: Int
    /// A hostile server: these exact bytes instead of a well-formed response, then the
    /// connection closed (status, headers and body are ignored).
    public var raw: String?

    public init(status: Int = 200, headers: [(String, String)] = [], body: String = "ok", delayMs: Int = 0) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delayMs = delayMs
    }

    /// Answers `bytes` as they are, then closes the connection: no status line
    /// (`"hello\r\n\r\n"`), a cut in the headers (`"HTTP/1.1 200 OK\r\nContent-Ty"`), a body
    /// shorter than its Content-Length, nothing at all (`""`).
    public static func raw(_ bytes: String) -> HTTPResponseSpec {
        var spec = HTTPResponseSpec()
        spec.raw = bytes
        return spec
    }
}

public final class LoopbackHTTPServer: @unchecked Sendable {
    public let port: Int
    public var url: String { "http://127.0.0.1:\(port)" }

    private let listener: Int32
    private let lock = NSLock()
    private var handler: @Sendable (HTTPRequestRecord) -> HTTPResponseSpec
    private var recorded: [HTTPRequestRecord] = []
    private var connections = 0
    private var open: Set<Int32> = []
    private var stopped = false
    /// Keep request bodies (tests); a benchmark receiver only counts.
    private let keepBodies: Bool

    /// Starts listening on 127.0.0.1 at `port` (0: an ephemeral port).
    public init(port: Int = 0, keepBodies: Bool = true,
                handler: @escaping @Sendable (HTTPRequestRecord) -> HTTPResponseSpec = { _ in HTTPResponseSpec() }) throws {
        self.handler = handler
        self.keepBodies = keepBodies
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 128) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw ServerError("bind/listen on 127.0.0.1:\(port): \(why)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        listener = fd
        // The thread holds only the socket and a weak reference: the server can go away.
        let listening = listener
        let t = Thread { [weak self] in LoopbackHTTPServer.acceptLoop(listening) { [weak self] in self } }
        t.start()
    }

    deinit { stop() }

    /// Answers from now on with `handler`.
    public func respond(_ handler: @escaping @Sendable (HTTPRequestRecord) -> HTTPResponseSpec) {
        lock.lock(); self.handler = handler; lock.unlock()
    }

    public var requests: [HTTPRequestRecord] { lock.lock(); defer { lock.unlock() }; return recorded }
    public var connectionCount: Int { lock.lock(); defer { lock.unlock() }; return connections }
    public func reset() { lock.lock(); recorded = []; lock.unlock() }

    /// Answers the first requests with `first`, one each, then everything with `then`: a
    /// service that fails a few times and recovers.
    public func respondInTurn(_ first: [HTTPResponseSpec], then: HTTPResponseSpec = HTTPResponseSpec()) {
        final class Turns: @unchecked Sendable {
            let lock = NSLock()
            var left: [HTTPResponseSpec]
            init(_ l: [HTTPResponseSpec]) { left = l }
        }
        let turns = Turns(first)
        respond { _ in
            turns.lock.lock(); defer { turns.lock.unlock() }
            return turns.left.isEmpty ? then : turns.left.removeFirst()
        }
    }

    /// Waits until at least `n` requests arrived, or `timeoutMs` passed; returns them.
    @discardableResult
    public func waitForRequests(_ n: Int, timeoutMs: Int = 10_000) -> [HTTPRequestRecord] {
        let end = Date().addingTimeInterval(Double(timeoutMs) / 1000)
        while requests.count < n && Date() < end { usleep(2_000) }
        return requests
    }

    /// Stops listening and closes every connection.
    public func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        // Under the lock: a connection's thread removes its socket from `open` before
        // closing it, so none of these numbers can have been reused meanwhile.
        for c in open { shutdown(c, Int32(SHUT_RDWR)) }
    }

    private static func acceptLoop(_ listener: Int32, _ server: () -> LoopbackHTTPServer?) {
        while true {
            let c = accept(listener, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            guard let s = server() else { close(c); return }
            s.accepted(c)
        }
    }

    private func accepted(_ c: Int32) {
        lock.lock()
        if stopped { lock.unlock(); close(c); return }
        connections += 1
        let id = connections
        open.insert(c)
        lock.unlock()
        var one: Int32 = 1
        setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let t = Thread { [self] in serve(c, id) }
        t.stackSize = 1 << 20
        t.start()
    }

    private func serve(_ fd: Int32, _ id: Int) {
        var buffer = Data()
        defer {
            lock.lock(); open.remove(fd); lock.unlock()
            close(fd)
        }
        var chunk = [UInt8](repeating: 0, count: 65_536)
        func fill() -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            buffer.append(contentsOf: chunk[0..<n])
            return true
        }
        while true {
            // The head: up to the blank line.
            var headEnd: Range<Data.Index>?
            while true {
                headEnd = buffer.range(of: Data("\r\n\r\n".utf8))
                if headEnd != nil { break }
                if buffer.count > 1 << 20 || !fill() { return }
            }
            guard let he = headEnd else { return }
            let head = String(decoding: buffer[buffer.startIndex..<he.lowerBound], as: UTF8.self)
            buffer.removeSubrange(buffer.startIndex..<he.upperBound)
            let lines = head.components(separatedBy: "\r\n")
            let first = lines.first?.split(separator: " ") ?? []
            guard first.count >= 2 else { return }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            var body = Data()
            if headers["transfer-encoding"]?.lowercased() == "chunked" {
                while true {
                    var lineEnd = buffer.range(of: Data("\r\n".utf8))
                    while lineEnd == nil { if !fill() { return }; lineEnd = buffer.range(of: Data("\r\n".utf8)) }
                    guard let le = lineEnd else { return }
                    let sizeText = String(decoding: buffer[buffer.startIndex..<le.lowerBound], as: UTF8.self)
                    buffer.removeSubrange(buffer.startIndex..<le.upperBound)
                    guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size >= 0, size < 1 << 30 else { return }
                    while buffer.count < size + 2 { if !fill() { return } }
                    if size == 0 { buffer.removeSubrange(buffer.startIndex..<(buffer.startIndex + 2)); break }
                    body.append(buffer[buffer.startIndex..<(buffer.startIndex + size)])
                    buffer.removeSubrange(buffer.startIndex..<(buffer.startIndex + size + 2))
                }
            } else {
                let length = Int(headers["content-length"] ?? "0") ?? 0
                guard length >= 0, length < 1 << 30 else { return }
                while buffer.count < length { if !fill() { return } }
                body = buffer.prefix(length)
                buffer.removeSubrange(buffer.startIndex..<(buffer.startIndex + length))
            }
            let record = HTTPRequestRecord(method: String(first[0]), path: String(first[1]), headers: headers,
                                           body: keepBodies ? Data(body) : Data(), connection: id, receivedMs: Int64(Date().timeIntervalSince1970 * 1000))
            lock.lock()
            let h = handler
            lock.unlock()
            let spec = h(HTTPRequestRecord(method: record.method, path: record.path, headers: headers, body: Data(body),
                                           connection: id, receivedMs: record.receivedMs))
            lock.lock()
            recorded.append(record)
            lock.unlock()
            if spec.delayMs > 0 { usleep(useconds_t(min(spec.delayMs, 60_000)) * 1000) }
            if let raw = spec.raw {
                _ = Data(raw.utf8).withUnsafeBytes { b in b.isEmpty ? 0 : send(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL)) }
                return
            }
            let payload = Data(spec.body.utf8)
            var out = "HTTP/1.1 \(spec.status) \(LoopbackHTTPServer.reason(spec.status))\r\nContent-Length: \(payload.count)\r\n"
            for (k, v) in spec.headers { out += "\(k): \(v)\r\n" }
            out += "\r\n"
            var bytes = Data(out.utf8)
            bytes.append(payload)
            let sent = bytes.withUnsafeBytes { b -> Bool in
                var off = 0
                while off < b.count {
                    let n = send(fd, b.baseAddress! + off, b.count - off, Int32(MSG_NOSIGNAL))
                    if n <= 0 { return false }
                    off += n
                }
                return true
            }
            if !sent || headers["connection"]?.lowercased() == "close" { return }
        }
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 202: return "Accepted"
        case 400: return "Bad Request"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        default: return "Status"
        }
    }
}

public struct ServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

/// A plain HTTP/1.1 GET to 127.0.0.1 (`Connection: close`): the status and the body, or
/// nil when nothing answers. For tests that read a local service's API.
public func loopbackGet(port: Int, path: String, timeoutMs: Int = 5_000) -> (status: Int, body: Data)? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: Int((timeoutMs % 1000) * 1000))
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard connected == 0 else { return nil }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: application/json\r\nConnection: close\r\n\r\n".utf8)
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return nil }
    var response = Data()
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response.append(contentsOf: chunk[0..<n])
    }
    guard let headEnd = response.range(of: Data("\r\n\r\n".utf8)) else { return nil }
    let head = String(decoding: response[..<headEnd.lowerBound], as: UTF8.self)
    let statusLine = head.split(separator: "\r\n").first?.split(separator: " ") ?? []
    guard statusLine.count >= 2, let status = Int(statusLine[1]) else { return nil }
    var body = Data(response[headEnd.upperBound...])
    if head.lowercased().contains("transfer-encoding: chunked") {
        var decoded = Data()
        var rest = body
        while let lineEnd = rest.range(of: Data("\r\n".utf8)),
              let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? "", radix: 16), size > 0 {
            let start = lineEnd.upperBound
            guard rest.count >= rest.distance(from: rest.startIndex, to: start) + size else { break }
            decoded.append(rest[start..<rest.index(start, offsetBy: size)])
            rest = Data(rest[rest.index(start, offsetBy: size)...].dropFirst(2))
        }
        body = decoded
    }
    return (status, body)
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
public func loopbackPortIsOpen(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    return withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
}
