/*
 * Compiles sluice_plugin.h as strict C and checks, at build time, the layout the header
 * documents: the record structures are laid out in arrays and frozen for ABI major 1.
 */
#include <sluice_plugin.h>

#include <stddef.h>

#define CHECK(cond, what) _Static_assert(cond, what)

#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
CHECK(sizeof(sluice_value) == 16, "sluice_value is 16 bytes on 64-bit platforms");
CHECK(sizeof(sluice_field) == 32, "sluice_field is 32 bytes on 64-bit platforms");
CHECK(sizeof(sluice_record) == 16, "sluice_record is 16 bytes on 64-bit platforms");
CHECK(offsetof(sluice_field, value) == 16, "sluice_field.value at offset 16");
#endif
CHECK(offsetof(sluice_library, size) == 0, "sluice_library.size never moves");
CHECK(offsetof(sluice_library, abi_major) == 4, "sluice_library.abi_major never moves");
CHECK(offsetof(sluice_library, abi_minor) == 8, "sluice_library.abi_minor never moves");
CHECK(offsetof(sluice_plugin, size) == 0, "sluice_plugin.size comes first");
CHECK(offsetof(sluice_emitter, size) == 0, "sluice_emitter.size comes first");
CHECK(offsetof(sluice_context, size) == 0, "sluice_context.size comes first");
CHECK(offsetof(sluice_batch, size) == 0, "sluice_batch.size comes first");
CHECK(offsetof(sluice_alert, size) == 0, "sluice_alert.size comes first");
/* ABI 1.1 appended fields after the last 1.0 ones: a 1.0 reader never sees them move. */
CHECK(offsetof(sluice_alert, key) > offsetof(sluice_alert, json), "sluice_alert.key is appended (1.1)");
CHECK(offsetof(sluice_alert, key_fields) > offsetof(sluice_alert, key), "sluice_alert.key_fields is appended (1.1)");
CHECK(offsetof(sluice_emitter, alert_retry_after) > offsetof(sluice_emitter, render_json), "alert_retry_after is appended (1.1)");
CHECK(offsetof(sluice_emitter, save_position) > offsetof(sluice_emitter, alert_retry_after), "save_position is appended (1.2)");
CHECK(offsetof(sluice_context, position) > offsetof(sluice_context, plugin), "sluice_context.position is appended (1.2)");
CHECK(offsetof(sluice_emitter, render_json_lines) > offsetof(sluice_emitter, save_position), "render_json_lines is appended (1.3)");
CHECK(offsetof(sluice_emitter, emit_to) > offsetof(sluice_emitter, render_json_lines), "emit_to is appended (1.4)");
CHECK(offsetof(sluice_alert, status) > offsetof(sluice_alert, key_fields), "sluice_alert.status is appended (1.5)");
CHECK(offsetof(sluice_alert, ends_at_ms) > offsetof(sluice_alert, incident), "sluice_alert.ends_at_ms is appended (1.5)");
CHECK(offsetof(sluice_emitter, inputs_changed) > offsetof(sluice_emitter, emit_to), "inputs_changed is appended (1.5)");
CHECK(offsetof(sluice_emitter, report_lag) > offsetof(sluice_emitter, inputs_changed), "report_lag is appended (1.6)");
CHECK(offsetof(sluice_emitter, reader) > offsetof(sluice_emitter, report_lag), "sluice_emitter.reader is appended (1.7)");
CHECK(offsetof(sluice_plugin, flags) > offsetof(sluice_plugin, publish), "sluice_plugin.flags is appended (1.7)");
CHECK(sizeof(((sluice_plugin *)0)->flags) == 8, "sluice_plugin.flags is 64 bits");
CHECK((SLUICE_RECORD_HOST & 0x7FFFFFFFu) == 0, "SLUICE_RECORD_HOST is the top bit of sluice_record.flags");
/* The reader is self-sized: its size, then its functions in the order they were added. */
CHECK(offsetof(sluice_reader, size) == 0, "sluice_reader.size comes first");
CHECK(offsetof(sluice_reader, get) == 8, "sluice_reader.get after size and reserved");
CHECK(offsetof(sluice_reader, find) > offsetof(sluice_reader, get), "sluice_reader.find follows get");
CHECK(offsetof(sluice_reader, count) > offsetof(sluice_reader, find), "sluice_reader.count follows find");
CHECK(offsetof(sluice_reader, field_at) > offsetof(sluice_reader, count), "sluice_reader.field_at follows count");
CHECK(offsetof(sluice_reader, member) > offsetof(sluice_reader, field_at), "sluice_reader.member follows field_at");
CHECK(offsetof(sluice_reader, member_at) > offsetof(sluice_reader, member), "sluice_reader.member_at follows member");
CHECK(offsetof(sluice_reader, item) > offsetof(sluice_reader, member_at), "sluice_reader.item follows member_at");
CHECK(offsetof(sluice_reader, value_json) > offsetof(sluice_reader, item), "sluice_reader.value_json follows item");
#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu
CHECK(offsetof(sluice_reader, value_json) == 64 && sizeof(sluice_reader) == 72, "sluice_reader: 8 functions after 8 bytes");
#endif

/* The ABI version this build of the SDK was compiled with, for tools that want to ask. */
const unsigned sluice_sdk_abi_major = SLUICE_ABI_MAJOR;
const unsigned sluice_sdk_abi_minor = SLUICE_ABI_MINOR;
