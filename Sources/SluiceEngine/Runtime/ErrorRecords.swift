import SluicePluginABI
import SluiceRecords

/// Builds the records that travel along `errors` connections: the record the stage gave
/// (or an empty one) with a field `_error` = {"stage": …, "code": …, "message": …}
/// added, in the batch arena.
struct ErrorRecords {
    private let errorKey = FieldKeys.intern("_error")
    private let stageKey = FieldKeys.intern("stage")
    private let codeKey = FieldKeys.intern("code")
    private let messageKey = FieldKeys.intern("message")

    /// A field whose name is the interned key's own (static) text.
    private func field(_ key: sluice_key, _ value: sluice_value) -> sluice_field {
        var len: UInt32 = 0
        let name = sr_key_name(key, &len)
        return sluice_field(key: key, name_len: len, name: name, value: value)
    }

    func wrap(_ e: EmittedError, stage: String, arena: RecordArena) -> sluice_record? {
        var base = e.record ?? sluice_record()
        var stageName = stage, message = e.message
        return stageName.withUTF8 { st in
            message.withUTF8 { msg in
                func cstr(_ b: UnsafeBufferPointer<UInt8>) -> UnsafePointer<CChar>? {
                    UnsafeRawPointer(b.baseAddress)?.assumingMemoryBound(to: CChar.self)
                }
                var inner = [
                    field(stageKey, sluice_string(cstr(st), st.count)),
                    field(codeKey, sluice_int(Int64(e.code))),
                    field(messageKey, sluice_string(cstr(msg), msg.count)),
                ]
                return inner.withUnsafeMutableBufferPointer { fields in
                    var outer = field(errorKey, sluice_object(fields.baseAddress, 3))
                    var out = sluice_record()
                    var why = [CChar](repeating: 0, count: 256)
                    let status = sr_record_with(arena.raw, &base, &outer, 1, &out, &why, why.count)
                    return status == 0 ? out : nil
                }
            }
        }
    }
}
