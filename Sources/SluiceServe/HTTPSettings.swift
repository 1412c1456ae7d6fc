#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// `--http ADDR` and `--http-token-file FILE`, checked before the run starts.
///
/// ADDR is `HOST:PORT`: HOST an IPv4 address, `[IPv6]` or `localhost`; PORT 0 to 65535 (0:
/// any free port; the host logs the one it got). A loopback HOST (127.0.0.0/8, ::1,
/// localhost) may be served without a token; any other needs `--http-token-file`, and once
/// a token is given every request must carry `Authorization: Bearer <token>`.
public struct HTTPSettings: Sendable, Equatable {
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// As given on the command line.
    public let address: String
    public let host: String
    public let port: Int
    public let token: String?

    public var isLoopback: Bool { Self.isLoopback(host) }

    /// Parses `address` and reads the token file (once: its content, trimmed).
    public init(address: String, tokenFile: String?) throws {
        self.address = address
        (host, port) = try Self.split(address)
        if let tokenFile {
            token = try Self.readToken(tokenFile)
        } else {
            token = nil
            guard Self.isLoopback(host) else {
                throw Problem("--http \(address): a non-loopback address is served only with --http-token-file (every request then needs the token)")
            }
        }
    }

    static func split(_ address: String) throws -> (String, Int) {
        let bad = { (why: String) in Problem("--http \(address): \(why) (expected HOST:PORT, e.g. 127.0.0.1:9464; HOST an IP address or localhost, PORT 0-65535)") }
        let host: Substring, port: Substring
        if address.hasPrefix("[") {
            guard let close = address.firstIndex(of: "]"), address[address.index(after: close)...].hasPrefix(":") else {
                throw bad("an IPv6 address needs [ADDRESS]:PORT")
            }
            host = address[address.index(after: address.startIndex)..<close]
            port = address[address.index(close, offsetBy: 2)...]
            guard isAddress(String(host), family: AF_INET6) else { throw bad("'\(host)' is not an IPv6 address") }
        } else {
            let parts = address.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw bad(parts.count < 2 ? "no port" : "an IPv6 address goes in brackets") }
            host = parts[0]
            port = parts[1]
            guard host == "localhost" || isAddress(String(host), family: AF_INET) else {
                throw bad("'\(host)' is not an IPv4 address or localhost")
            }
        }
        guard port.allSatisfy(\.isASCII), let number = Int(port), (0...65535).contains(number) else {
            throw bad("'\(port)' is not a port")
        }
        return (String(host), number)
    }

    static func isAddress(_ s: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, s, &buffer) == 1
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        return isAddress(host, family: AF_INET) && host.hasPrefix("127.")
    }

    static func readToken(_ path: String) throws -> String {
        // A regular file, read up to one byte past the bound: /dev/zero or a FIFO is refused
        // rather than read without end (or waited for).
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, let handle = FileHandle(forReadingAtPath: path) else {
            throw Problem("--http-token-file \(path): cannot be read (a regular file is expected)")
        }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 4097) ?? Data() else {
            throw Problem("--http-token-file \(path): cannot be read")
        }
        guard data.count <= 4096, let text = String(data: data, encoding: .utf8) else {
            throw Problem("--http-token-file \(path): not a token (UTF-8 text of at most 4096 bytes expected)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw Problem("--http-token-file \(path): empty") }
        // A header value: visible ASCII only (RFC 6750's b64token is narrower still).
        guard token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Problem("--http-token-file \(path): the token must be visible ASCII characters without spaces")
        }
        return token
    }

    /// Equal bytes, in a time that depends on the lengths only (not on where they differ).
    static func sameToken(_ given: [UInt8], _ token: [UInt8]) -> Bool {
        var diff = UInt8(given.count == token.count ? 0 : 1)
        for i in 0..<token.count {
            diff |= token[i] ^ (i < given.count ? given[i] : 0)
        }
        return diff == 0
    }
}
