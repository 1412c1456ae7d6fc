// The built-in stages Filter, Derive and AlertRule: plugins of the host's own library,
// driven through the plugin ABI like any other. The engine compiles their expressions and
// makes their instances (sx_filter_new, ...); create() itself refuses.
#include "program.hpp"

#include <charconv>
#include <ctime>
#include <sluice_records.h>
#include <string>
#include <vector>

namespace {

enum Kind { FILTER, DERIVE, RULE };

int64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

struct sx_stage {
    Kind kind;
    sx_program *program;
    uint32_t root = SX_NONE;  // where / when
    std::vector<sluice_key> keys;
    std::vector<std::string> names;
    std::vector<uint32_t> roots;
    // Per batch
    std::vector<sluice_field> derived;  // Derive: the fields it sets on each record
    std::vector<sluice_kv> payload;
    std::vector<sluice_str> keys_text;  // AlertRule: the payload's names (in `names`)
    std::vector<std::string> texts;  // payload values rendered as JSON
    struct Digits {
        char text[32];
    };
    std::vector<Digits> digits;      // payload numbers, formatted

    ~sx_stage() { sx_program_free(program); }

    void report(const sluice_emitter *out) {
        if (uint64_t evicted = sx_program_take_evicted(program))
            out->count(out->ctx, "state_evicted", 13, static_cast<int64_t>(evicted));
    }
};

namespace {

// The records `where` refuses go to the "rejected" output port (emit_to) while a connection
// takes it; the host answers SLUICE_UNCONNECTED when none does, and they are only counted.
sluice_status filter(sx_stage *s, const sluice_batch *b, const sluice_emitter *out) {
    static const sluice_str kRejected = {"rejected", 8};
    size_t run = 0, dropped = 0, rejected = 0;  // run: the first kept record not yet emitted
    bool in_run = false;
    bool to_port = SLUICE_HAS(out, sluice_emitter, emit_to);
    sx_program *p = s->program;
    for (size_t i = 0; i < b->count; i++) {
        p->scratch.reset();
        if (sluice_expr::test(p, s->root, &b->records[i])) {
            if (!in_run) {
                run = i;
                in_run = true;
            }
            continue;
        }
        if (in_run) {
            if (out->emit_input(out->ctx, run, i - run) != SLUICE_OK) return SLUICE_ERROR;
            in_run = false;
        }
        if (to_port) {
            sluice_status st = out->emit_to(out->ctx, kRejected, &b->records[i]);
            if (st == SLUICE_OK) {
                rejected++;
                continue;
            }
            if (st != SLUICE_UNCONNECTED) return SLUICE_ERROR;
            to_port = false;
        }
        dropped++;
    }
    if (in_run && out->emit_input(out->ctx, run, b->count - run) != SLUICE_OK) return SLUICE_ERROR;
    if (rejected) out->count(out->ctx, "rejected", 8, static_cast<int64_t>(rejected));
    if (dropped) out->count(out->ctx, "dropped", 7, static_cast<int64_t>(dropped));
    return SLUICE_OK;
}

sluice_status derive(sx_stage *s, const sluice_batch *b, const sluice_emitter *out) {
    size_t n = s->roots.size();
    s->derived.resize(n);
    for (size_t i = 0; i < b->count; i++) {
        const sluice_record *r = &b->records[i];
        sx_program *p = s->program;
        p->scratch.reset();
        for (size_t k = 0; k < n; k++) {
            sluice_field &f = s->derived[k];
            f.key = s->keys[k];
            f.name = s->names[k].c_str();
            f.name_len = static_cast<uint32_t>(s->names[k].size());
            f.value = sluice_expr::eval(p, s->roots[k], r);
        }
        if (out->emit_with(out->ctx, r, s->derived.data(), static_cast<uint32_t>(n)) != SLUICE_OK) {
            char why[256];
            size_t len = out->last_error(out->ctx, why, sizeof why);
            out->emit_error(out->ctx, r, 2, why, len < sizeof why ? len : sizeof why - 1);
        }
    }
    return SLUICE_OK;
}

// A payload value as the text the alert carries: a string as it is (no copy: emit_alert
// copies), a number or boolean formatted into `digits`, a list or object as JSON in
// `json`; false for null (the entry is left out).
bool payload_text(sx_program *p, const sluice_value &v, char (&digits)[32], std::string &json, sluice_str &out) {
    switch (v.type) {
    case SLUICE_NULL: return false;
    case SLUICE_STRING: out = {v.len ? v.as.s : "", v.len}; return true;
    case SLUICE_BOOL: out = v.as.b ? sluice_str{"true", 4} : sluice_str{"false", 5}; return true;
    case SLUICE_INT: {
        auto end = std::to_chars(digits, digits + sizeof digits, v.as.i).ptr;
        out = {digits, static_cast<size_t>(end - digits)};
        return true;
    }
    case SLUICE_DOUBLE: out = {digits, sr_format_number(digits, v.as.d)}; return true;
    default:
        if (!sluice_expr::to_text(p, v, json)) return false;
        out = {json.data(), json.size()};
        return true;
    }
}

// The alert of one record whose condition held: its payload evaluated and rendered, then
// handed to emit_alert (which copies it).
void raise_alert(sx_stage *s, sx_program *p, const sluice_record *r, const sluice_emitter *out) {
    sluice_kv *payload = s->payload.data();
    uint32_t m = 0;
    size_t n = s->roots.size();
    if (n == 0) {
        // No payload given: the record's own fields, as text (read through the reader: a
        // lazy record's fields are parsed here, one by one).
        uint32_t count = sr_count(r);
        if (s->texts.size() < count) s->texts.resize(count);
        if (s->payload.size() < count) s->payload.resize(count);
        payload = s->payload.data();
        for (uint32_t k = 0; k < count; k++) {
            sluice_field f;
            std::string &text = s->texts[k];
            if (sr_field_at(r, k, &f) != 1 || !sluice_expr::to_text(p, f.value, text)) continue;
            payload[m++] = {{f.name, f.name_len}, {text.data(), text.size()}};
        }
    } else {
        // Every value is evaluated first: the scratch holds them all until the alert is emitted.
        for (size_t k = 0; k < n; k++) {
            sluice_str text;
            if (!payload_text(p, sluice_expr::eval(p, s->roots[k], r), s->digits[k].text, s->texts[k], text))
                continue;  // null: the entry is left out
            payload[m++] = {s->keys_text[k], text};
        }
    }
    out->emit_alert(out->ctx, payload, m);
}

sluice_status rule(sx_stage *s, const sluice_batch *b, const sluice_emitter *out) {
    if (b->count && out->emit_input(out->ctx, 0, b->count) != SLUICE_OK) return SLUICE_ERROR;
    sx_program *p = s->program;
    for (size_t i = 0; i < b->count; i++) {
        const sluice_record *r = &b->records[i];
        p->scratch.reset();
        if (sluice_expr::test(p, s->root, r)) raise_alert(s, p, r, out);
    }
    return SLUICE_OK;
}

sluice_status refuse_create(const sluice_context *, const sluice_emitter *out, void **) {
    const char why[] = "built-in stages are made by the host from their checked expressions";
    out->fail(out->ctx, why, sizeof why - 1);
    return SLUICE_ERROR;
}

void destroy(void *instance) { delete static_cast<sx_stage *>(instance); }

sluice_status process(void *instance, const sluice_batch *b, const sluice_emitter *out) {
    auto *s = static_cast<sx_stage *>(instance);
    if (!s) return SLUICE_ERROR;
    sx_program_set_now(s->program, now_ms());
    sluice_status st = SLUICE_ERROR;
    try {
        switch (s->kind) {
        case FILTER: st = filter(s, b, out); break;
        case DERIVE: st = derive(s, b, out); break;
        case RULE: st = rule(s, b, out); break;
        }
    } catch (...) {
        const char why[] = "out of memory while evaluating expressions";
        out->fail(out->ctx, why, sizeof why - 1);
        return SLUICE_ERROR;
    }
    s->report(out);
    return st;
}

#define BUILTIN(NAME)                                                                                  \
    sluice_plugin NAME##_plugin() {                                                                    \
        sluice_plugin d{};                                                                             \
        d.size = sizeof(sluice_plugin);                                                                \
        d.type = SLUICE_TRANSFORM;                                                                     \
        d.name = #NAME;                                                                                \
        d.version = "1.0.0";                                                                           \
        d.create = refuse_create;                                                                      \
        d.destroy = destroy;                                                                           \
        d.process = process;                                                                           \
        d.flags = SLUICE_READS_BY_ACCESSOR; /* expressions read records through sr_get & co. */        \
        return d;                                                                                      \
    }
BUILTIN(Filter)
BUILTIN(Derive)
BUILTIN(AlertRule)

const sluice_plugin FILTER_PLUGIN = Filter_plugin();
const sluice_plugin DERIVE_PLUGIN = Derive_plugin();
const sluice_plugin RULE_PLUGIN = AlertRule_plugin();
const sluice_plugin *const PLUGINS[] = {&FILTER_PLUGIN, &DERIVE_PLUGIN, &RULE_PLUGIN};
const sluice_library LIBRARY = {sizeof(sluice_library), SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR, 3, PLUGINS};

sx_stage *make(Kind kind, sx_program *p) {
    try {
        auto *s = new sx_stage();
        s->kind = kind;
        s->program = p;
        return s;
    } catch (...) {
        return nullptr;
    }
}

}  // namespace

extern "C" const sluice_library *sx_builtin_library(void) noexcept { return &LIBRARY; }

// A root past the program's nodes is refused here, once, so the batch loops need not check.
static bool valid_roots(const sx_program *p, const uint32_t *roots, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        if (roots[i] >= p->nodes.size()) return false;
    return true;
}

extern "C" sx_stage *sx_filter_new(sx_program *p, uint32_t where) noexcept {
    if (!p || p->failed || !valid_roots(p, &where, 1)) return nullptr;
    sx_stage *s = make(FILTER, p);
    if (s) s->root = where;
    return s;
}

extern "C" sx_stage *sx_derive_new(sx_program *p, const sluice_key *keys, const char *const *names, const uint32_t *roots,
                                   uint32_t n) noexcept {
    if (!p || p->failed || !valid_roots(p, roots, n)) return nullptr;
    sx_stage *s = make(DERIVE, p);
    if (!s) return nullptr;
    try {
        for (uint32_t i = 0; i < n; i++) {
            s->keys.push_back(keys[i]);
            s->names.emplace_back(names[i]);
            s->roots.push_back(roots[i]);
        }
    } catch (...) {
        s->program = nullptr;  // the caller still owns it (and frees it)
        delete s;
        return nullptr;
    }
    return s;
}

extern "C" sx_stage *sx_rule_new(sx_program *p, uint32_t when, const char *const *names, const uint32_t *roots, uint32_t n) noexcept {
    if (!p || p->failed || !valid_roots(p, &when, 1) || !valid_roots(p, roots, n)) return nullptr;
    sx_stage *s = make(RULE, p);
    if (!s) return nullptr;
    try {
        s->root = when;
        for (uint32_t i = 0; i < n; i++) {
            s->names.emplace_back(names[i]);
            s->roots.push_back(roots[i]);
        }
        for (const std::string &name : s->names) s->keys_text.push_back({name.data(), name.size()});
        s->payload.resize(n);
        s->texts.resize(n);
        s->digits.resize(n);
    } catch (...) {
        s->program = nullptr;  // the caller still owns it (and frees it)
        delete s;
        return nullptr;
    }
    return s;
}

