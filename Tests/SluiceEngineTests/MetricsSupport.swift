import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import SluiceEngine
import XCTest

/// One sample of a Prometheus text exposition.
struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// A parsed exposition (text format 0.0.4 or OpenMetrics): the samples, and each family's
/// TYPE and HELP. Fails on a line it cannot read.
struct ParsedExposition {
    var samples: [Sample] = []
    var types: [String: String] = [:]
    var helps: [String: String] = [:]

    init(_ text: String) throws {
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let words = line.split(separator: " ", maxSplits: 3)
                guard words.count >= 3 else { throw FixtureError("bad line: \(line)") }
                if words[1] == "TYPE" { types[String(words[2])] = words.count > 3 ? String(words[3]) : "" }
                else { helps[String(words[2])] = words.count > 3 ? String(words[3]) : "" }
                continue
            }
            if line.hasPrefix("#") { continue }
            samples.append(try Self.sample(line))
        }
    }

    static func sample(_ line: Substring) throws -> Sample {
        var rest = line[...]
        let name = rest.prefix { $0 != "{" && $0 != " " }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = rest.prefix { $0 != "=" }
                rest = rest.dropFirst(key.count)
                guard rest.hasPrefix("=\"") else { throw FixtureError("bad labels: \(line)") }
                rest = rest.dropFirst(2)
                var value = ""
                while let c = rest.first, c != "\"" {
                    rest = rest.dropFirst()
                    if c == "\\", let next = rest.first {
                        rest = rest.dropFirst()
                        value.append(next == "n" ? "\n" : next)
                    } else {
                        value.append(c)
                    }
                }
                guard rest.first == "\"" else { throw FixtureError("unterminated label value: \(line)") }
                rest = rest.dropFirst()
                labels[String(key)] = value
                if rest.first == "," { rest = rest.dropFirst() }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard let text = fields.first, let value = Double(text == "+Inf" ? "inf" : String(text)) else {
            throw FixtureError("bad value: \(line)")
        }
        return Sample(name: String(name), labels: labels, value: value)
    }

    /// The samples of `name` whose labels include `labels`.
    func values(_ name: String, _ labels: [String: String] = [:]) -> [Double] {
        samples.filter { s in s.name == name && labels.allSatisfy { s.labels[$0.key] == $0.value } }.map(\.value)
    }

    /// The one sample of `name` with `labels` (nil: none, or several).
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let v = values(name, labels)
        return v.count == 1 ? v[0] : nil
    }
}

/// `promtool check metrics` on `text`: its exit status and what it said.
func promtoolCheckMetrics(_ text: String) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
    p.arguments = ["check", "metrics"]
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    p.standardError = output
    try p.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let said = output.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: said, as: UTF8.self))
}

/// A GET on 127.0.0.1 (URLSession): status, headers and body; nil when nothing answered.
func httpGet(_ url: String, headers: [String: String] = [:], timeout: Double = 10) -> (status: Int, headers: [String: String], body: String)? {
    httpSend("GET", url, body: nil, headers: headers, timeout: timeout)
}

/// A request on 127.0.0.1 (URLSession), with a body or none: status, headers and body; nil
/// when nothing answered.
func httpSend(_ method: String, _ url: String, body: Data?, headers: [String: String] = [:], timeout: Double = 10)
    -> (status: Int, headers: [String: String], body: String)? {
    guard let u = URL(string: url) else { return nil }
    var request = URLRequest(url: u, timeoutInterval: timeout)
    request.httpMethod = method
    request.httpBody = body
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
    final class Box: @unchecked Sendable { var result: (Int, [String: String], String)? }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    let config = URLSessionConfiguration.ephemeral
    config.requestCachePolicy = .reloadIgnoringLocalCacheData
    let session = URLSession(configuration: config)
    session.dataTask(with: request) { data, response, _ in
        if let r = response as? HTTPURLResponse {
            var h: [String: String] = [:]
            for (k, v) in r.allHeaderFields { h[String(describing: k).lowercased()] = String(describing: v) }
            box.result = (r.statusCode, h, String(decoding: data ?? Data(), as: UTF8.self))
        }
        done.signal()
    }.resume()
    done.wait()
    session.finishTasksAndInvalidate()
    return box.result.map { (status: $0.0, headers: $0.1, body: $0.2) }
}

/// The address a host logged ("http: listening on 127.0.0.1:41234"), once it did.
func listeningAddress(_ h: BackgroundHost, seconds: Double = 60) -> String? {
    var found: String?
    BackgroundHost.poll(seconds: seconds) {
        if let line = h.stderr.split(separator: "\n").first(where: { $0.hasPrefix("http: listening on ") }) {
            found = String(line.dropFirst("http: listening on ".count))
        }
        return found != nil || !h.process.isRunning
    }
    return found
}
