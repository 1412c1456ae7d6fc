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

/* The ABI version this build of the SDK was compiled with, for tools that want to ask. */
const unsigned sluice_sdk_abi_major = SLUICE_ABI_MAJOR;
const unsigned sluice_sdk_abi_minor = SLUICE_ABI_MINOR;
