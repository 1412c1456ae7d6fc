// Building a program node by node, and the memories previous() and changed() keep.
#include "program.hpp"

#include <cstdio>
#include <cstring>
#include <sluice_records.h>

using namespace sluice_expr;

sx_program::~sx_program() = default;

// Constants are flat values the engine built; they are still read through the reader, as
// every value is (sr_item, sr_member_at take flat containers and lazy ones alike).
sluice_value sx_program::deep_copy(const sluice_value &v) {
    sluice_value out = v;
    switch (v.type) {
    case SLUICE_STRING: out.as.s = keep(v.as.s, v.len); break;
    case SLUICE_ARRAY: {
        std::vector<sluice_value> items;
        items.reserve(v.len);
        for (uint32_t i = 0; i < v.len; i++) {
            sluice_value item{};
            if (sr_item(&v, i, &item) != 1) item = sluice_value{};  // unreadable: null
            items.push_back(deep_copy(item));
        }
        arrays.push_back(std::move(items));
        out.as.items = arrays.back().data();
        break;
    }
    case SLUICE_OBJECT: {
        std::vector<sluice_field> fields;
        fields.reserve(v.len);
        for (uint32_t i = 0; i < v.len; i++) {
            sluice_field f{};
            if (sr_member_at(&v, i, &f) != 1) continue;  // unreadable: left out
            f.name = keep(f.name, f.name_len);
            f.value = deep_copy(f.value);
            fields.push_back(f);
        }
        out.len = static_cast<uint32_t>(fields.size());
        objects.push_back(std::move(fields));
        out.as.fields = objects.back().data();
        break;
    }
    default: break;
    }
    return out;
}

namespace sluice_expr {

char *Scratch::alloc(size_t n) {
    if (n > max_bytes || total_ + n > max_bytes) return nullptr;
    n = (n + 15) & ~static_cast<size_t>(15);
    total_ += n;
    while (chunk_ < chunks_.size()) {
        if (used_ + n <= sizes_[chunk_]) {
            char *p = chunks_[chunk_].get() + used_;
            used_ += n;
            return p;
        }
        chunk_++;
        used_ = 0;
    }
    size_t size = n > (64u << 10) ? n : (64u << 10);
    chunks_.emplace_back(new char[size]);
    sizes_.push_back(size);
    chunk_ = chunks_.size() - 1;
    used_ = n;
    return chunks_.back().get();
}

const Memory::Entry *Memory::swap(const std::string &key, const sluice_value &value, int64_t now_ms, uint64_t max_keys,
                                  uint64_t ttl_ms, uint64_t &evicted, Entry &previous) {
    auto store = [&](Entry &e) {
        e.value = value;
        e.seen_ms = now_ms;
        e.text.clear();
        if (value.type == SLUICE_STRING) {
            e.text.assign(value.len ? value.as.s : "", value.len);
        } else if (value.type == SLUICE_ARRAY || value.type == SLUICE_OBJECT) {
            // Containers are remembered as their JSON text.
            to_text(nullptr, value, e.text);
            e.value.type = SLUICE_STRING;
        }
        if (e.value.type == SLUICE_STRING) {
            e.value.len = static_cast<uint32_t>(e.text.size());
            e.value.as.s = e.text.data();
        }
    };
    auto found = index_.find(key);
    if (found != index_.end()) {
        auto it = found->second;
        bool expired = ttl_ms > 0 && now_ms - it->seen_ms > static_cast<int64_t>(ttl_ms);
        previous = *it;
        if (previous.value.type == SLUICE_STRING) previous.value.as.s = previous.text.data();
        store(*it);
        order_.splice(order_.end(), order_, it);  // now the most recently seen
        return expired ? nullptr : &previous;
    }
    if (max_keys == 0) return nullptr;
    while (index_.size() >= max_keys && !order_.empty()) {
        index_.erase(order_.front().key);
        order_.pop_front();
        evicted++;
    }
    order_.emplace_back();
    Entry &e = order_.back();
    e.key = key;
    store(e);
    auto last = order_.end();
    --last;
    index_.emplace(e.key, last);
    // Forget keys not seen for longer than the ttl, a few per new key.
    if (ttl_ms > 0) {
        for (int i = 0; i < 2 && !order_.empty() && now_ms - order_.front().seen_ms > static_cast<int64_t>(ttl_ms); i++) {
            index_.erase(order_.front().key);
            order_.pop_front();
        }
    }
    return nullptr;
}

}  // namespace sluice_expr

extern "C" sx_program *sx_program_new(void) noexcept {
    try {
        return new sx_program();
    } catch (...) {
        return nullptr;
    }
}

extern "C" void sx_program_free(sx_program *p) noexcept { delete p; }

extern "C" uint32_t sx_const(sx_program *p, const sluice_value *value) noexcept try {
    Node n{CONST};
    n.value = p->deep_copy(*value);
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" uint32_t sx_field(sx_program *p, sluice_key key, const char *name, size_t len) noexcept try {
    Node n{FIELD};
    n.key = key;
    n.name = p->keep(name, len);
    n.name_len = static_cast<uint32_t>(len);
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" uint32_t sx_member(sx_program *p, uint32_t object, sluice_key key, const char *name, size_t len) noexcept try {
    Node n{MEMBER};
    n.a = object;
    n.key = key;
    n.name = p->keep(name, len);
    n.name_len = static_cast<uint32_t>(len);
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" uint32_t sx_index(sx_program *p, uint32_t base, uint32_t index) noexcept try {
    Node n{INDEX};
    n.a = base;
    n.b = index;
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" uint32_t sx_op(sx_program *p, uint32_t op, uint32_t a, uint32_t b, uint32_t c) noexcept try {
    Node n{OP};
    n.op = op;
    n.a = a;
    n.b = b;
    n.c = c;
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

static void set_args(sx_program *p, Node &n, const uint32_t *args, uint32_t count) {
    n.args = static_cast<uint32_t>(p->args.size());
    n.nargs = count;
    for (uint32_t i = 0; i < count; i++) p->args.push_back(args[i]);
}

extern "C" uint32_t sx_list(sx_program *p, const uint32_t *items, uint32_t count) noexcept try {
    Node n{LIST};
    set_args(p, n, items, count);
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" uint32_t sx_call(sx_program *p, uint32_t builtin, const uint32_t *args, uint32_t count, int32_t regex) noexcept try {
    Node n{CALL};
    n.op = builtin;
    set_args(p, n, args, count);
    n.aux = regex;
    if (builtin == SX_PREVIOUS || builtin == SX_CHANGED) {
        p->memories.emplace_back();
        n.aux = static_cast<int32_t>(p->memories.size() - 1);
    }
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" uint32_t sx_call_function(sx_program *p, const sx_function *f, const uint32_t *args, uint32_t count) noexcept try {
    Node n{FUNCTION};
    n.function = f;
    set_args(p, n, args, count);
    return p->add(n);
} catch (...) {
    p->failed = true;  // out of memory: the program must not be evaluated
    return SX_NONE;
}

extern "C" void sx_program_set_state(sx_program *p, uint64_t max_keys, uint64_t ttl_ms) noexcept {
    p->max_keys = max_keys;
    p->ttl_ms = ttl_ms;
}

extern "C" uint64_t sx_program_take_evicted(sx_program *p) noexcept {
    uint64_t n = p->evicted;
    p->evicted = 0;
    return n;
}

extern "C" int sx_program_failed(const sx_program *p) noexcept { return p->failed ? 1 : 0; }

extern "C" void sx_program_set_now(sx_program *p, int64_t now_ms) noexcept { p->now_ms = now_ms; }
