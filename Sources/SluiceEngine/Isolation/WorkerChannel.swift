#if canImport(Glibc)
import Glibc
#endif

/// The messages between the host and a worker, over a SOCK_SEQPACKET socket pair (each
/// send is one message). Batches do not travel here but through shared memory; a message
/// says where they are.
struct WireMessage {
    enum Op: UInt32 {
        // host → worker
        case setup = 1      // a, b: offset and length of the WorkerSetup JSON in the request region; c: its size
        case call           // payload: CallArgs
        case key            // a: the key for the name asked last
        case destroy
        // worker → host
        case intern = 16    // payload: a name
        case log            // flags: level; payload: the text
        case ready          // flags: 1 when the plugin has a commit function
        case failed         // payload: why setup failed
        case done           // payload: CallResult
    }

    var op: Op
    var flags: UInt32 = 0
    var a: UInt64 = 0
    var b: UInt64 = 0
    var c: UInt64 = 0
    var payload: [UInt8] = []

    static let headerBytes = 32
    /// The most payload bytes one message carries.
    static let maxPayload = 60 * 1024
}

/// What a call asks the worker (a message's payload, as raw bytes: both ends are the same
/// executable).
struct CallArgs {
    var call: UInt64 = 0        // StageInstance.Call's raw value
    var batch: UInt64 = 0
    var newBatch: UInt64 = 0    // 1: the first call of a batch
    var maxRecords: UInt64 = 0
    var maxWaitMs: UInt64 = 0
    var records: UInt64 = 0     // offset of the flat input records in the request region
    var count: UInt64 = 0
    var alerts: UInt64 = 0      // offset of the flat alerts
    var alertCount: UInt64 = 0
    var alertLimit: UInt64 = 0
    var regionSize: UInt64 = 0  // the request region's size when the host wrote it
}

/// What a call came back with (the done message's payload); everything it points to is in
/// the reply region.
struct CallResult {
    var status: Int64 = 0
    var records: UInt64 = 0        // flat records emitted
    var count: UInt64 = 0
    var errorRecords: UInt64 = 0   // flat records sent to the error port
    var errorRecordCount: UInt64 = 0
    var alerts: UInt64 = 0         // AlertSpan array
    var alertCount: UInt64 = 0
    var notes: UInt64 = 0          // CallNotes JSON (0: none)
    var notesLength: UInt64 = 0
    var regionSize: UInt64 = 0
    var portRecords: UInt64 = 0    // flat output of the records sent to extra output ports
    var portRecordCount: UInt64 = 0
}

/// One alert's payload in the reply region.
struct AlertSpan {
    var payload: UInt64
    var count: UInt64
}

/// A socket end with message framing and timeouts.
final class WorkerChannel {
    let fd: Int32
    /// The host never blocks on a send: a worker that does not read its socket is broken.
    private let nonBlocking: Bool
    private var buffer = [UInt8](repeating: 0, count: WireMessage.headerBytes + WireMessage.maxPayload)

    init(fd: Int32, nonBlocking: Bool = false) {
        self.fd = fd
        self.nonBlocking = nonBlocking
    }
    deinit { close(fd) }

    @discardableResult
    func send(_ m: WireMessage) -> Bool {
        var bytes = [UInt8](repeating: 0, count: WireMessage.headerBytes)
        bytes.withUnsafeMutableBytes { b in
            b.storeBytes(of: m.op.rawValue, toByteOffset: 0, as: UInt32.self)
            b.storeBytes(of: m.flags, toByteOffset: 4, as: UInt32.self)
            b.storeBytes(of: m.a, toByteOffset: 8, as: UInt64.self)
            b.storeBytes(of: m.b, toByteOffset: 16, as: UInt64.self)
            b.storeBytes(of: m.c, toByteOffset: 24, as: UInt64.self)
        }
        bytes += m.payload.prefix(WireMessage.maxPayload)
        while true {
            let flags = Int32(MSG_NOSIGNAL) | (nonBlocking ? Int32(MSG_DONTWAIT) : 0)
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, flags) }
            if n == bytes.count { return true }
            if n < 0 && errno == EINTR { continue }
            return false
        }
    }

    enum Received {
        case message(WireMessage)
        /// The other end is gone (or sent something that is not a message).
        case closed(String)
        case timedOut
    }

    /// The next message; waits at most `timeoutMs` (nil: for ever).
    func receive(timeoutMs: Int? = nil) -> Received {
        let deadline = timeoutMs.map { ResourceUsage.nowNanoseconds() + UInt64(max(0, $0)) * 1_000_000 }
        while true {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            var wait: Int32 = -1
            if let deadline {
                let now = ResourceUsage.nowNanoseconds()
                if now >= deadline { return .timedOut }
                wait = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            }
            let ready = poll(&p, 1, wait)
            if ready < 0 {
                if errno == EINTR { continue }
                return .closed("poll failed: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }  // the deadline check above decides
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .closed(String(cString: strerror(errno)))
            }
            if n == 0 { return .closed("end of stream") }
            guard n >= WireMessage.headerBytes, n <= buffer.count else { return .closed("a malformed message of \(n) bytes") }
            let (rawOp, flags, a, b, c) = buffer.withUnsafeBytes { r in
                (r.load(fromByteOffset: 0, as: UInt32.self), r.load(fromByteOffset: 4, as: UInt32.self),
                 r.load(fromByteOffset: 8, as: UInt64.self), r.load(fromByteOffset: 16, as: UInt64.self),
                 r.load(fromByteOffset: 24, as: UInt64.self))
            }
            guard let op = WireMessage.Op(rawValue: rawOp) else { return .closed("a message of unknown kind \(rawOp)") }
            return .message(WireMessage(op: op, flags: flags, a: a, b: b, c: c,
                                        payload: Array(buffer[WireMessage.headerBytes..<n])))
        }
    }
}

extension WireMessage {
    /// A message whose payload is the raw bytes of `value`.
    init<T>(_ op: Op, raw value: T) {
        self.init(op: op)
        payload = withUnsafeBytes(of: value) { Array($0) }
    }

    /// The payload read as a T (nil when it is not exactly one).
    func raw<T>(_ type: T.Type) -> T? {
        guard payload.count == MemoryLayout<T>.size else { return nil }
        return payload.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }
}
