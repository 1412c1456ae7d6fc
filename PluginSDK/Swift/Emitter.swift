import SluicePluginABI

/// A value for a field a plugin adds or replaces.
public enum NewValue {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
}

/// How a plugin talks back to the host during one call. Valid only during that call.
public struct Emitter {
    public let raw: UnsafePointer<sluice_emitter>

    @inlinable public init(raw: UnsafePointer<sluice_emitter>) { self.raw = raw }

    /// The process-wide key for a field name. Intern once, in `init`.
    public func intern(_ name: String) -> Key {
        var n = name
        let raw = n.withUTF8 { b in self.raw.pointee.intern(self.raw.pointee.ctx, b.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, b.count) }
        return Key(raw: raw, name: name)
    }

    /// Pass a record on unchanged (no copy when it is one of this call's input records).
    @inlinable @discardableResult
    public func emit(_ record: Record) -> Bool {
        raw.pointee.emit(raw.pointee.ctx, record.raw) == SLUICE_OK
    }

    /// Pass the whole batch on unchanged: the cheapest way.
    @inlinable @discardableResult
    public func emitAll(_ batch: Batch) -> Bool {
        raw.pointee.emit_input(raw.pointee.ctx, 0, batch.count) == SLUICE_OK
    }

    /// Pass records [first, first + count) of the batch on unchanged.
    @inlinable @discardableResult
    public func emitRange(first: Int, count: Int) -> Bool {
        raw.pointee.emit_input(raw.pointee.ctx, first, count) == SLUICE_OK
    }

    /// Emit `record` with fields added or replaced; the record itself is not rebuilt.
    @discardableResult
    public func emit(_ record: Record, setting fields: [(Key, NewValue)]) -> Bool {
        var strings = StringPool()
        let spans = fields.map { (key, value) -> (Int, Int, Int, Int) in
            let name = strings.add(key.name)
            if case .string(let s) = value {
                let v = strings.add(s)
                return (name.0, name.1, v.0, v.1)
            }
            return (name.0, name.1, 0, 0)
        }
        return strings.withBase { base in
            var cFields = [sluice_field]()
            cFields.reserveCapacity(fields.count)
            for (i, (key, value)) in fields.enumerated() {
                let s = spans[i]
                var v = sluice_value()
                switch value {
                case .null: v.type = sluice_type(SLUICE_NULL)
                case .bool(let b): v.type = sluice_type(SLUICE_BOOL); v.as.b = b ? 1 : 0
                case .int(let n): v.type = sluice_type(SLUICE_INT); v.as.i = n
                case .double(let d): v.type = sluice_type(SLUICE_DOUBLE); v.as.d = d
                case .string:
                    v.type = sluice_type(SLUICE_STRING)
                    v.len = UInt32(s.3)
                    v.as.s = base + s.2
                }
                cFields.append(sluice_field(key: key.raw, name_len: UInt32(s.1), name: base + s.0, value: v))
            }
            return cFields.withUnsafeBufferPointer { fp in
                raw.pointee.emit_with(raw.pointee.ctx, record.raw, fp.baseAddress, UInt32(fp.count)) == SLUICE_OK
            }
        }
    }

    /// Sources: emit one record given as JSON text; false when it is not a JSON object.
    @discardableResult
    public func emitJSON(_ bytes: UnsafeRawBufferPointer) -> Bool {
        raw.pointee.emit_json(raw.pointee.ctx, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count) == SLUICE_OK
    }

    /// Sources: emit one record given as JSON text; false when it is not a JSON object.
    @discardableResult
    public func emitJSON(_ text: String) -> Bool {
        var t = text
        return t.withUTF8 { emitJSON(UnsafeRawBufferPointer($0)) }
    }

    /// Sources: emit every line of `text` (JSON Lines) as a record; the host parses them on
    /// every core but one and sends lines that are not JSON objects to the error port, named
    /// `origin:N` with N counting from `firstLine`.
    @discardableResult
    public func emitJSONLines(_ text: UnsafeRawBufferPointer, origin: String, firstLine: UInt64 = 1) -> Bool {
        var o = origin
        return o.withUTF8 { name in
            raw.pointee.emit_json_lines(raw.pointee.ctx, text.baseAddress?.assumingMemoryBound(to: CChar.self), text.count,
                                        sluice_str(ptr: cchar(name), len: name.count), firstLine) == SLUICE_OK
        }
    }

    /// Send a record (or nil) to the stage's error port with a code and a message.
    @discardableResult
    public func error(_ record: Record?, code: Int32 = 0, _ message: String) -> Bool {
        var m = message
        return m.withUTF8 { b in
            raw.pointee.emit_error(raw.pointee.ctx, record?.raw, code, cchar(b), b.count) == SLUICE_OK
        }
    }

    /// Raise an alert with this payload. False when the host rejected it (the stage does
    /// not declare `emitsAlerts`).
    @discardableResult
    public func alert(_ payload: KeyValuePairs<String, String>) -> Bool {
        alert(payload.map { ($0.key, $0.value) })
    }

    /// Raise an alert with this payload, in this order.
    @discardableResult
    public func alert(_ payload: [(String, String)]) -> Bool {
        var strings = StringPool()
        let spans = payload.map { (strings.add($0.0), strings.add($0.1)) }
        return strings.withBase { base in
            let kvs = spans.map { k, v in
                sluice_kv(key: sluice_str(ptr: base + k.0, len: k.1), value: sluice_str(ptr: base + v.0, len: v.1))
            }
            return kvs.withUnsafeBufferPointer { p in
                raw.pointee.emit_alert(raw.pointee.ctx, p.baseAddress, UInt32(p.count)) == SLUICE_OK
            }
        }
    }

    /// Write a line to the host's log, tagged with the stage.
    public func log(_ level: LogLevel, _ message: String) {
        var m = message
        m.withUTF8 { b in raw.pointee.log(raw.pointee.ctx, level.rawValue, cchar(b), b.count) }
    }

    /// Add `delta` to the stage's counter `metric`.
    public func count(_ metric: String, _ delta: Int64 = 1) {
        var m = metric
        m.withUTF8 { b in raw.pointee.count(raw.pointee.ctx, cchar(b), b.count, delta) }
    }

    /// Alert publishers: the outcome for alert `index` of this call.
    public func outcome(_ index: Int, ok: Bool, retry: Bool = false, _ message: String = "") {
        let status: sluice_status = ok ? SLUICE_OK : (retry ? SLUICE_RETRY : SLUICE_ERROR)
        var m = message
        _ = m.withUTF8 { b in raw.pointee.alert_outcome(raw.pointee.ctx, index, status, cchar(b), b.count) }
    }

    /// Sources, in `read`: the position just after everything emitted so far (at most
    /// 64 KiB). The host stores the last one of each batch durably once the batch is
    /// committed and hands it back in `Context.position` at the next run. Returns false in
    /// a host older than ABI 1.2 (which keeps no positions) or when refused.
    @discardableResult
    public func savePosition(_ bytes: [UInt8]) -> Bool {
        guard Int(raw.pointee.size) >= MemoryLayout<sluice_emitter>.offset(of: \sluice_emitter.save_position)! + MemoryLayout<Int>.size,
              let fn = raw.pointee.save_position else { return false }
        return bytes.withUnsafeBufferPointer { b in
            fn(raw.pointee.ctx, UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self), b.count) == SLUICE_OK
        }
    }

    /// What became of a record sent to an extra output port.
    public enum PortResult: Equatable {
        /// On its way to the stages connected to the port.
        case sent
        /// No connection of this pipeline takes the port (for the rest of the run), or the
        /// host is older than ABI 1.4: nothing was kept.
        case unconnected
        /// The widgets file declares no such port, or the call may not emit records.
        case refused
    }

    /// Transforms and sources: send `record` to the extra output port `port` that the
    /// widgets file declares in `outputs` (ABI 1.4; Filter's "rejected" is one), instead of
    /// the main output. No copy when it is one of this call's input records.
    @discardableResult
    public func emit(_ record: Record, to port: String) -> PortResult {
        guard Int(raw.pointee.size) >= MemoryLayout<sluice_emitter>.offset(of: \sluice_emitter.emit_to)! + MemoryLayout<Int>.size,
              let fn = raw.pointee.emit_to else { return .unconnected }
        var name = port
        let status = name.withUTF8 { b in fn(raw.pointee.ctx, sluice_str(ptr: cchar(b), len: b.count), record.raw) }
        switch status {
        case SLUICE_OK: return .sent
        case SLUICE_UNCONNECTED: return .unconnected
        default: return .refused
        }
    }

    /// Alert publishers: alert `index` (nil: every alert of the call) may be retried no
    /// sooner than `milliseconds` from now — a service's Retry-After. Does nothing in a host
    /// of ABI 1.0, which does not know it.
    public func retryAfter(_ index: Int?, milliseconds: UInt64) {
        guard Int(raw.pointee.size) >= MemoryLayout<sluice_emitter>.offset(of: \sluice_emitter.alert_retry_after)! + MemoryLayout<Int>.size,
              let fn = raw.pointee.alert_retry_after else { return }
        _ = fn(raw.pointee.ctx, index ?? -1, milliseconds)  // -1 is SIZE_MAX: every alert
    }

    /// Sources, in `read`: how far behind its input the source is after what it emitted so
    /// far, for one partition (ABI 1.6): `records` and `bytes` not read yet, nil (or
    /// negative) when not known. `partition`: at most 512 bytes, no control characters; "" for a source with a
    /// single input. The last report of a batch per partition is the one its progress
    /// record carries. Returns false in a host older than ABI 1.6 (which shows no lag) or
    /// when refused (outside `read`, a name too long, more than 1,024 partitions in a batch).
    @discardableResult
    public func reportLag(partition: String = "", records: Int64?, bytes: Int64?) -> Bool {
        guard Int(raw.pointee.size) >= MemoryLayout<sluice_emitter>.offset(of: \sluice_emitter.report_lag)! + MemoryLayout<Int>.size,
              let fn = raw.pointee.report_lag else { return false }
        var name = partition
        return name.withUTF8 { b in
            fn(raw.pointee.ctx, cchar(b), b.count, records ?? -1, bytes ?? -1) == SLUICE_OK
        }
    }

    func fail(_ message: String) {
        var m = message
        m.withUTF8 { b in raw.pointee.fail(raw.pointee.ctx, cchar(b), b.count) }
    }
}

@inline(__always)
func cchar(_ b: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
    b.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }
}

/// Several strings laid end to end in one buffer, so one closure can point at all of them.
struct StringPool {
    private var bytes: [UInt8] = []

    /// Appends `s`; returns its (offset, length).
    mutating func add(_ s: String) -> (Int, Int) {
        let start = bytes.count
        bytes.append(contentsOf: s.utf8)
        return (start, bytes.count - start)
    }

    func withBase<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        if bytes.isEmpty {
            var zero: CChar = 0
            return body(&zero)
        }
        return bytes.withUnsafeBufferPointer { b in
            body(UnsafeRawPointer(b.baseAddress!).assumingMemoryBound(to: CChar.self))
        }
    }
}

extension Emitter {
    /// The record as one line of compact JSON, rendered by the host. The bytes are valid
    /// until the next `renderJSON` or the end of the call: write them out, don't keep them.
    public func renderJSON(_ record: Record) -> UnsafeRawBufferPointer {
        let s = raw.pointee.render_json(raw.pointee.ctx, record.raw)
        return UnsafeRawBufferPointer(start: s.ptr, count: s.len)
    }

    /// The record as a JSON string (a copy).
    public func jsonString(_ record: Record) -> String {
        String(decoding: renderJSON(record), as: UTF8.self)
    }
}
