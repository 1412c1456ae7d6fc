#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import SluicePluginABI
import SluiceRecords

/// Names and places of the files in a spool folder.
public enum Spool {
    /// A stage name as a file name: letters, digits, '.', '-' and '_' kept, anything else
    /// '_'. Never a property value, so no secret ever names a file.
    public static func fileName(_ name: String) -> String {
        let safe = String(name.unicodeScalars.map { s -> Character in
            (s.properties.isAlphabetic && s.isASCII) || ("0"..."9").contains(s) || s == "." || s == "-" || s == "_" ? Character(s) : "_"
        })
        return safe.isEmpty || safe.hasPrefix(".") ? "_" + safe : safe
    }

    static func spoolPath(_ folder: String, _ publisher: String) -> String { "\(folder)/\(fileName(publisher)).spool.jsonl" }
    static func statePath(_ folder: String, _ publisher: String) -> String { "\(folder)/\(fileName(publisher)).state.json" }
}

/// The durable spool of one publisher: the alerts it could not deliver within the retry
/// bound, one JSON line each in `<folder>/<publisher>.spool.jsonl`, appended and fsync'd
/// before the batch commits, and delivered first at a later batch or run:
///
///     {"spooledAt":1763700000000,"error":"HTTP 503: …","keyFields":["store_id"],"alert":{…the envelope…}}
///
/// The envelope is the line's last member and is kept byte for byte, so a replayed alert is
/// the alert first sent: the same id and key. A line cut short by a crash is moved aside to
/// `<publisher>.spool.torn` when the spool is opened, never glued to the next one.
final class AlertSpool {
    let path: String
    let maxBytes: Int
    private(set) var count = 0
    private(set) var bytes = 0

    /// Opens and counts what is waiting. The folder is made when something is first spooled.
    init(folder: String, publisher: String, maxBytes: Int) throws {
        path = Spool.spoolPath(folder, publisher)
        self.maxBytes = maxBytes
        guard FileManager.default.fileExists(atPath: path) else { return }
        var data = try Data(contentsOf: URL(fileURLWithPath: path))
        if let last = data.last, last != UInt8(ascii: "\n") {
            let cut = (data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 }) ?? data.startIndex
            var torn = Data(data[cut...])
            torn.append(UInt8(ascii: "\n"))
            // Kept, never dropped; when even that fails the spool is not touched.
            try AlertSpool.appendDurably(torn, to: path + ".torn")
            guard truncate(path, off_t(cut)) == 0 else { throw SpoolError("cannot repair \(path): \(String(cString: strerror(errno)))") }
            data = data[..<cut]
        }
        bytes = data.count
        count = data.reduce(0) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }

    /// One spool line for an alert.
    static func line(_ alert: UnsafePointer<sluice_alert>, error: String, at ms: Int64) -> [UInt8] {
        var buf = sr_buf()
        defer { sr_buf_free(&buf) }
        func raw(_ s: String) { var s = s; _ = s.withUTF8 { sr_buf_append(&buf, cchars($0), $0.count) } }
        func quoted(_ s: String) { var s = s; _ = s.withUTF8 { sr_write_json_string(&buf, cchars($0), $0.count) } }
        raw("{\"spooledAt\":\(ms),\"error\":")
        quoted(error.count > 2000 ? String(error.prefix(2000)) + "…" : error)
        raw(",\"keyFields\":[")
        let a = alert.pointee
        if hasKeyFields(alert), let names = a.key_fields {
            for i in 0..<Int(a.nkey_fields) {
                if i > 0 { raw(",") }
                sr_write_json_string(&buf, names[i].ptr, names[i].len)
            }
        }
        raw("],\"alert\":")
        sr_buf_append(&buf, a.json.ptr, a.json.len)
        raw("}\n")
        if buf.failed != 0 { outOfMemory("a spool line for an alert of \(a.json.len) bytes") }
        return Array(UnsafeRawBufferPointer(start: buf.data, count: buf.len))
    }

    /// Appends the alerts' lines and makes them durable (fsync). Returns how many were
    /// spooled: the first ones that fit under `maxBytes`; none when the file cannot be
    /// written (a full disk), in which case the file is left as it was.
    func append(_ alerts: [UnsafePointer<sluice_alert>], error: String, now: Int64) throws -> Int {
        var out: [UInt8] = []
        var n = 0
        for alert in alerts {
            let l = AlertSpool.line(alert, error: error, at: now)
            if bytes + out.count + l.count > maxBytes { break }
            out += l
            n += 1
        }
        guard n > 0 else { return 0 }
        try AlertSpool.appendDurably(Data(out), to: path)
        bytes += out.count
        count += n
        return n
    }

    /// Appends `data` to the file at `path` (created if missing) and fsyncs it; on failure
    /// the file is cut back to where it was.
    static func appendDurably(_ data: Data, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SpoolError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let start = lseek(fd, 0, SEEK_END)
        let ok = data.withUnsafeBytes { b -> Bool in
            var off = 0
            while off < b.count {
                let w = write(fd, b.baseAddress! + off, b.count - off)
                if w < 0 && errno == EINTR { continue }
                if w <= 0 { return false }
                off += w
            }
            return fsync(fd) == 0
        }
        guard ok else {
            let why = String(cString: strerror(errno))
            if start >= 0 { _ = ftruncate(fd, start) }
            throw SpoolError("cannot write \(path): \(why)")
        }
    }

    /// Every waiting line, without its newline, oldest first.
    func lines() throws -> [Data] {
        guard count > 0 else { return [] }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map { Data($0) }
    }

    /// Replaces the spool with `kept` (what is still waiting), atomically: a new file,
    /// fsync'd, renamed over the old one. No line left: no file.
    func rewrite(keeping kept: [Data]) throws {
        if kept.isEmpty {
            if unlink(path) != 0 && errno != ENOENT { throw SpoolError("cannot remove \(path): \(String(cString: strerror(errno)))") }
            syncFolder()
            count = 0
            bytes = 0
            return
        }
        var all = Data()
        for line in kept { all.append(line); all.append(UInt8(ascii: "\n")) }
        try AtomicFile.write(all, to: path)
        count = kept.count
        bytes = all.count
    }

    private func syncFolder() {
        let fd = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}

struct SpoolError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// What a publisher's spool folder remembers besides the alerts: the last failure, when to
/// try the spool again, and when each alert key was last delivered (repeat suppression).
/// Kept in `<publisher>.state.json`, rewritten atomically when it changes.
struct PublisherState: Codable, Equatable {
    var lastError: String?
    var lastFailureMs: Int64?
    /// When the failures going on now began (nil: the last delivery went through).
    var failingSinceMs: Int64?
    /// Do not replay the spool before this (a service's Retry-After, or the backoff after
    /// failed replays). A new run replays at once regardless.
    var nextAttemptMs: Int64 = 0
    /// Replays in a row that left alerts in the spool.
    var failedReplays = 0
    /// Alert key → when it was last delivered (milliseconds since 1970).
    var sent: [String: Int64] = [:]
    /// Alert key → when a repeat held back was last sent as a refresh.
    var refreshed: [String: Int64]?
    /// The notification log of alerts with a life: alert key → the last firing or
    /// resolve delivered (or spooled) for it, as "<incident>:<notification>", and when. A
    /// notification made again after a restart (the batches after the last saved position
    /// are read again) is not sent twice.
    var notified: [String: Notified]?

    struct Notified: Codable, Equatable {
        var mark: String
        var at: Int64
    }

    /// Whether a held-back repeat of `key` is due to go out as a refresh (then noted).
    mutating func refreshDue(_ key: String, now: Int64, every: Int64) -> Bool {
        let last = max(sent[key] ?? .min, refreshed?[key] ?? .min)
        guard last == .min || now - last >= every else { return false }
        refreshed = (refreshed ?? [:]).merging([key: now]) { $1 }
        return true
    }

    /// The saved state; a fresh one when there is none, or when it cannot be read (said
    /// in the log: repeat suppression starts over).
    static func load(folder: String, publisher: String, logger: Logger? = nil) -> PublisherState {
        let path = Spool.statePath(folder, publisher)
        guard let data = FileManager.default.contents(atPath: path) else { return PublisherState() }
        do {
            return try JSONDecoder().decode(PublisherState.self, from: data)
        } catch {
            logger?.warning("publisher '\(publisher)': its state \(path) cannot be read (\(error)); starting afresh: repeats are not suppressed until it is rebuilt")
            return PublisherState()
        }
    }

    func save(folder: String, publisher: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(try encoder.encode(self), to: Spool.statePath(folder, publisher))
    }
}

/// Turns spool lines back into the envelopes publishers receive, in an arena.
struct SpooledAlertReader {
    let parser = RecordParser()

    /// The alert of one spool line, in `arena`; nil when the line is not a spool line.
    func alert(_ line: Data, arena: RecordArena) -> UnsafePointer<sluice_alert>? {
        line.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> UnsafePointer<sluice_alert>? in
            guard let record = try? parser.parse(bytes, into: arena),
                  let envelope = SpooledAlertReader.envelopeBytes(bytes) else { return nil }
            let top = Fields(record.fields, Int(record.nfields))
            guard case let alertValue? = top["alert"], alertValue.type == UInt32(SLUICE_OBJECT) else { return nil }
            let env = Fields(alertValue.as.fields, Int(alertValue.len))
            guard let id = env.string("id"), id.len == 32, let key = env.string("key"), key.len == 32,
                  let namespace = env.string("namespace"), let pipeline = env.string("pipeline"),
                  let stage = env.string("stage"), let run = env.string("run"),
                  let batch = env.integer("batch"), let count = env.integer("count"),
                  let stamp = env.string("timestamp"), let payloadValue = env["payload"],
                  payloadValue.type == UInt32(SLUICE_OBJECT) else { return nil }
            // The payload: every value a string, as envelopes always have them.
            let payloadFields = Fields(payloadValue.as.fields, Int(payloadValue.len))
            let n = payloadFields.count
            let kvs = arena.allocate(sluice_kv.self, count: n, for: "a spooled alert's payload")
            for i in 0..<n {
                guard let f = payloadFields.fields?[i] else { return nil }
                guard f.value.type == UInt32(SLUICE_STRING) else { return nil }
                kvs[i] = sluice_kv(key: sluice_str(ptr: f.name, len: Int(f.name_len)), value: sluice_str(ptr: f.value.as.s, len: Int(f.value.len)))
            }
            var names: UnsafeMutablePointer<sluice_str>?
            var nnames = 0
            if case let kf? = top["keyFields"], kf.type == UInt32(SLUICE_ARRAY), kf.len > 0 {
                nnames = Int(kf.len)
                let list = arena.allocate(sluice_str.self, count: nnames, for: "a spooled alert's key fields")
                for i in 0..<nnames {
                    let item = kf.as.items[i]
                    guard item.type == UInt32(SLUICE_STRING) else { return nil }
                    list[i] = sluice_str(ptr: item.as.s, len: Int(item.len))
                }
                names = list
            }
            let json = arena.copy(envelope.baseAddress?.assumingMemoryBound(to: CChar.self), count: envelope.count, for: "a spooled alert's envelope")
            var a = sluice_alert()
            a.size = UInt32(MemoryLayout<sluice_alert>.size)
            a.npayload = UInt32(n)
            a.id = id
            a.key = key
            a.namespace_name = namespace
            a.pipeline = pipeline
            a.stage = stage
            a.run = run
            a.batch = UInt64(clamping: batch)
            a.count = UInt64(clamping: count)
            a.timestamp_ms = Timestamp.milliseconds(iso8601: String(stamp)) ?? 0
            a.payload = UnsafePointer(kvs)
            a.json = sluice_str(ptr: json, len: envelope.count)
            a.nkey_fields = UInt32(nnames)
            a.key_fields = UnsafePointer(names)
            // A notification of an alert's life (ABI 1.5): every field there or none.
            if let status = env.string("status") {
                guard let notification = env.string("notification"), let severity = env.string("severity"),
                      let incident = env.string("incident"), incident.len == 32, let startsAt = env.string("startsAt"),
                      let starts = Timestamp.milliseconds(iso8601: String(startsAt)) else { return nil }
                a.status = status
                a.notification = notification
                a.severity = severity
                a.incident = incident
                a.starts_at_ms = starts
                if let endsAt = env.string("endsAt") {
                    guard let ends = Timestamp.milliseconds(iso8601: String(endsAt)) else { return nil }
                    a.ends_at_ms = ends
                }
            }
            let p = arena.allocate(sluice_alert.self, count: 1, for: "a spooled alert")
            p.initialize(to: a)
            return UnsafePointer(p)
        }
    }

    /// The envelope's bytes: from after `,"alert":` to before the line's closing brace.
    /// Inside JSON strings a quote is always escaped, so the first `,"alert":` is the member.
    static func envelopeBytes(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        let marker = Array(",\"alert\":".utf8)
        guard line.count > marker.count + 2, line[line.count - 1] == UInt8(ascii: "}") else { return nil }
        var i = 0
        while i + marker.count < line.count {
            if line[i] == marker[0] && memcmp(line.baseAddress! + i, marker, marker.count) == 0 {
                let start = i + marker.count
                guard line[start] == UInt8(ascii: "{") else { return nil }
                return UnsafeRawBufferPointer(rebasing: line[start..<(line.count - 1)])
            }
            i += 1
        }
        return nil
    }
}

/// Fields of a parsed object, by name.
private struct Fields {
    let fields: UnsafePointer<sluice_field>?
    let count: Int
    init(_ fields: UnsafePointer<sluice_field>?, _ count: Int) {
        self.fields = fields
        self.count = fields == nil ? 0 : count
    }

    subscript(name: String) -> sluice_value? {
        var n = name
        return n.withUTF8 { b -> sluice_value? in
            for i in 0..<count where Int(fields![i].name_len) == b.count {
                if memcmp(fields![i].name, b.baseAddress!, b.count) == 0 { return fields![i].value }
            }
            return nil
        }
    }

    func string(_ name: String) -> sluice_str? {
        guard let v = self[name], v.type == UInt32(SLUICE_STRING) else { return nil }
        return sluice_str(ptr: v.as.s, len: Int(v.len))
    }

    func integer(_ name: String) -> Int64? {
        guard let v = self[name], v.type == UInt32(SLUICE_INT) else { return nil }
        return v.as.i
    }
}

/// Whether the alert carries the ABI 1.1 key fields.
@inline(__always)
func hasKeyFields(_ a: UnsafePointer<sluice_alert>) -> Bool {
    Int(a.pointee.size) >= MemoryLayout<sluice_alert>.offset(of: \sluice_alert.key_fields)! + MemoryLayout<UnsafePointer<sluice_str>?>.size
}

@inline(__always)
private func cchars(_ b: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
    UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self)
}
