// Evaluating a program's nodes over a record. Every case has a defined result: a missing
// field, a value of the wrong type, a division by zero or an overflow gives null (or a
// double), never a crash or an exception. docs/expressions.md states the rules.
#include "program.hpp"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <sluice_records.h>

namespace sluice_expr {

namespace {

inline sluice_value null_value() {
    sluice_value v;
    std::memset(&v, 0, sizeof v);
    return v;
}
inline sluice_value bool_value(bool b) {
    sluice_value v = null_value();
    v.type = SLUICE_BOOL;
    v.as.b = b ? 1 : 0;
    return v;
}
inline sluice_value int_value(int64_t i) {
    sluice_value v = null_value();
    v.type = SLUICE_INT;
    v.as.i = i;
    return v;
}
inline sluice_value double_value(double d) {
    sluice_value v = null_value();
    v.type = SLUICE_DOUBLE;
    v.as.d = d;
    return v;
}
inline sluice_value string_value(const char *s, size_t len) {
    sluice_value v = null_value();
    v.type = SLUICE_STRING;
    v.len = static_cast<uint32_t>(len);
    v.as.s = s;
    return v;
}

inline bool is_number(const sluice_value &v) { return v.type == SLUICE_INT || v.type == SLUICE_DOUBLE; }
inline double as_double(const sluice_value &v) { return v.type == SLUICE_INT ? static_cast<double>(v.as.i) : v.as.d; }
inline bool truthy(const sluice_value &v) { return v.type == SLUICE_BOOL && v.as.b; }

// Records and containers are read only through the sr_get family (sluice_records.h): it
// reads flat records and the host's lazy handles alike. A value that cannot be read (-1: a
// handle of an ended batch, memory ran out) counts as missing.

// The top-level field a FIELD node names: by its interned key, or by name without one.
inline bool get_field(const sluice_record *r, const Node &n, sluice_value &out) {
    int found = n.key != SLUICE_NO_KEY ? sr_get_inline(r, n.key, &out) : sr_find(r, n.name, n.name_len, &out);
    return found == 1;
}

// The member of an OBJECT value a MEMBER node names (by key, or by name without one).
inline bool get_member(const sluice_value &obj, const Node &n, sluice_value &out) {
    return sr_member(&obj, n.key, n.name, n.name_len, &out) == 1;
}

// The member of an OBJECT value named `name` (`len` bytes).
inline bool find_name(const sluice_value &obj, const char *name, size_t len, sluice_value &out) {
    return sr_member(&obj, SLUICE_NO_KEY, len ? name : "", len, &out) == 1;
}

// Item i of an ARRAY value.
inline bool get_item(const sluice_value &array, uint32_t i, sluice_value &out) { return sr_item(&array, i, &out) == 1; }

// Compares two numbers exactly, also an int64 against a double.
int compare_numbers(const sluice_value &a, const sluice_value &b) {
    if (a.type == SLUICE_INT && b.type == SLUICE_INT) return a.as.i < b.as.i ? -1 : a.as.i > b.as.i ? 1 : 0;
    double x = as_double(a), y = as_double(b);
    if (std::isnan(x) || std::isnan(y)) return 2;  // unordered
    if (x < y) return -1;
    if (x > y) return 1;
    // Equal as doubles: an int64 may still differ from the double beyond 2^53.
    if (a.type == SLUICE_INT && b.type == SLUICE_DOUBLE && std::fabs(y) < 9.2e18) {
        auto yi = static_cast<int64_t>(y);
        return a.as.i < yi ? -1 : a.as.i > yi ? 1 : 0;
    }
    if (a.type == SLUICE_DOUBLE && b.type == SLUICE_INT && std::fabs(x) < 9.2e18) {
        auto xi = static_cast<int64_t>(x);
        return xi < b.as.i ? -1 : xi > b.as.i ? 1 : 0;
    }
    return 0;
}

int compare_strings(const sluice_value &a, const sluice_value &b) {
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? std::memcmp(a.as.s, b.as.s, n) : 0;
    if (c != 0) return c < 0 ? -1 : 1;
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

size_t utf8_length(const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) n++;
    return n;
}

sluice_value arithmetic(sx_program *p, uint32_t op, const sluice_value &a, const sluice_value &b) {
    if (op == SX_ADD && a.type == SLUICE_STRING && b.type == SLUICE_STRING) {
        size_t n = static_cast<size_t>(a.len) + b.len;
        if (n > 0xFFFFFFFFu) return null_value();
        char *s = p->scratch.alloc(n + 1);
        if (s == nullptr) return null_value();
        if (a.len) std::memcpy(s, a.as.s, a.len);
        if (b.len) std::memcpy(s + a.len, b.as.s, b.len);
        s[n] = 0;
        return string_value(s, n);
    }
    if (!is_number(a) || !is_number(b)) return null_value();
    if (a.type == SLUICE_INT && b.type == SLUICE_INT) {
        int64_t x = a.as.i, y = b.as.i, r;
        switch (op) {
        case SX_ADD:
            if (!__builtin_add_overflow(x, y, &r)) return int_value(r);
            return double_value(static_cast<double>(x) + static_cast<double>(y));
        case SX_SUB:
            if (!__builtin_sub_overflow(x, y, &r)) return int_value(r);
            return double_value(static_cast<double>(x) - static_cast<double>(y));
        case SX_MUL:
            if (!__builtin_mul_overflow(x, y, &r)) return int_value(r);
            return double_value(static_cast<double>(x) * static_cast<double>(y));
        case SX_DIV:
            if (y == 0) return null_value();
            if (y == -1 && x == std::numeric_limits<int64_t>::min()) return double_value(-static_cast<double>(x));
            if (x % y == 0) return int_value(x / y);
            return double_value(static_cast<double>(x) / static_cast<double>(y));
        case SX_MOD:
            if (y == 0) return null_value();
            if (y == -1) return int_value(0);
            return int_value(x % y);
        }
        return null_value();
    }
    double x = as_double(a), y = as_double(b);
    switch (op) {
    case SX_ADD: return double_value(x + y);
    case SX_SUB: return double_value(x - y);
    case SX_MUL: return double_value(x * y);
    case SX_DIV: return y == 0 ? null_value() : double_value(x / y);
    case SX_MOD: return y == 0 ? null_value() : double_value(std::fmod(x, y));
    }
    return null_value();
}

bool contains_value(const sluice_value &haystack, const sluice_value &needle) {
    if (haystack.type == SLUICE_ARRAY) {
        sluice_value item;
        for (uint32_t i = 0; i < haystack.len; i++)
            if (get_item(haystack, i, item) && equal(item, needle)) return true;
        return false;
    }
    sluice_value member;
    if (haystack.type == SLUICE_OBJECT && needle.type == SLUICE_STRING)
        return find_name(haystack, needle.as.s, needle.len, member);
    if (haystack.type == SLUICE_STRING && needle.type == SLUICE_STRING) {
        if (needle.len == 0) return true;
        if (needle.len > haystack.len) return false;
        return memmem(haystack.as.s, haystack.len, needle.as.s, needle.len) != nullptr;
    }
    return false;
}

sluice_value case_map(sx_program *p, const sluice_value &s, bool upper) {
    if (s.type != SLUICE_STRING) return null_value();
    char *out = p->scratch.alloc(static_cast<size_t>(s.len) + 1);
    if (out == nullptr) return null_value();
    for (uint32_t i = 0; i < s.len; i++) {
        char c = s.as.s[i];
        if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
        if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
        out[i] = c;
    }
    out[s.len] = 0;
    return string_value(out, s.len);
}

sluice_value to_number(sx_program *p, const sluice_value &v, bool integer) {
    double d;
    if (v.type == SLUICE_INT) return v;
    if (v.type == SLUICE_DOUBLE && !integer) return v;
    if (v.type == SLUICE_DOUBLE) {
        d = v.as.d;
    } else if (v.type == SLUICE_STRING && v.len > 0 && v.len < 64) {
        char buf[64];
        std::memcpy(buf, v.as.s, v.len);
        buf[v.len] = 0;
        char *end = nullptr;
        errno = 0;
        long long ll = std::strtoll(buf, &end, 10);
        if (end == buf + v.len && errno != ERANGE) return int_value(ll);
        errno = 0;
        d = std::strtod(buf, &end);
        if (end != buf + v.len || !std::isfinite(d)) return null_value();
        (void)p;
    } else if (v.type == SLUICE_BOOL) {
        return int_value(v.as.b ? 1 : 0);
    } else {
        return null_value();
    }
    if (!integer) return double_value(d);
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return null_value();
    return int_value(static_cast<int64_t>(d));
}

sluice_value rounding(const sluice_value &v, double (*fn)(double)) {
    if (v.type == SLUICE_INT) return v;
    if (v.type != SLUICE_DOUBLE) return null_value();
    double r = fn(v.as.d);
    if (std::isfinite(r) && std::fabs(r) < 9.2e18) return int_value(static_cast<int64_t>(r));
    return double_value(r);
}

// The key of previous()/changed() as bytes: a type letter, then the text.
bool memory_key(sx_program *p, const sluice_value &v, std::string &out) {
    out.clear();
    switch (v.type) {
    case SLUICE_STRING: out.push_back('s'); break;
    case SLUICE_INT:
    case SLUICE_DOUBLE: out.push_back('n'); break;
    case SLUICE_BOOL: out.push_back('b'); break;
    case SLUICE_NULL: return false;
    default: out.push_back('j'); break;
    }
    std::string text;
    if (!to_text(p, v, text)) return false;
    out += text;
    return true;
}

sluice_value remember(sx_program *p, const Node &n, const sluice_record *r) {
    const uint32_t *a = p->args.data() + n.args;
    sluice_value key = eval(p, a[0], r);
    sluice_value value = eval(p, a[1], r);
    thread_local std::string k;
    if (n.aux < 0 || static_cast<size_t>(n.aux) >= p->memories.size() || !memory_key(p, key, k))
        return n.op == SX_CHANGED ? bool_value(false) : null_value();
    Memory::Entry previous;
    const Memory::Entry *old = p->memories[static_cast<size_t>(n.aux)].swap(k, value, p->now_ms, p->max_keys, p->ttl_ms,
                                                                            p->evicted, previous);
    if (n.op == SX_CHANGED) {
        if (old == nullptr) return bool_value(false);
        if (value.type == SLUICE_ARRAY || value.type == SLUICE_OBJECT) {
            // Containers are remembered as their JSON text: compare them as such.
            thread_local std::string text;
            to_text(p, value, text);
            return bool_value(old->value.type != SLUICE_STRING || old->text != text);
        }
        return bool_value(!equal(old->value, value));
    }
    if (old == nullptr) return null_value();
    // The stored text moves with the entry: give the caller a copy in scratch.
    sluice_value v = old->value;
    if (v.type == SLUICE_STRING) {
        char *s = p->scratch.alloc(old->text.size() + 1);
        if (s == nullptr) return null_value();
        std::memcpy(s, old->text.data(), old->text.size());
        s[old->text.size()] = 0;
        v.as.s = s;
    }
    return v;
}

sluice_value call(sx_program *p, const Node &n, const sluice_record *r) {
    const uint32_t *a = p->args.data() + n.args;
    switch (n.op) {
    case SX_EXISTS: {
        // The argument is a path: it exists when every step finds something (null included).
        const Node &path = p->nodes[a[0]];
        sluice_value found;
        if (path.kind == FIELD) return bool_value(get_field(r, path, found));
        if (path.kind == MEMBER) {
            sluice_value obj = eval(p, path.a, r);
            if (obj.type != SLUICE_OBJECT) return bool_value(false);
            return bool_value(get_member(obj, path, found));
        }
        if (path.kind == INDEX) {
            sluice_value base = eval(p, path.a, r), idx = eval(p, path.b, r);
            if (base.type == SLUICE_ARRAY && idx.type == SLUICE_INT) {
                int64_t i = idx.as.i < 0 ? idx.as.i + base.len : idx.as.i;
                return bool_value(i >= 0 && i < base.len);
            }
            if (base.type == SLUICE_OBJECT && idx.type == SLUICE_STRING)
                return bool_value(find_name(base, idx.as.s, idx.len, found));
            return bool_value(false);
        }
        return bool_value(eval(p, a[0], r).type != SLUICE_NULL);
    }
    case SX_NOW: return int_value(p->now_ms);
    case SX_PREVIOUS:
    case SX_CHANGED: return remember(p, n, r);
    case SX_COALESCE:
        for (uint32_t i = 0; i < n.nargs; i++) {
            sluice_value v = eval(p, a[i], r);
            if (v.type != SLUICE_NULL) return v;
        }
        return null_value();
    case SX_MIN:
    case SX_MAX: {
        sluice_value best = null_value();
        for (uint32_t i = 0; i < n.nargs; i++) {
            sluice_value v = eval(p, a[i], r);
            if (!is_number(v)) return null_value();
            if (i == 0) { best = v; continue; }
            int c = compare_numbers(v, best);
            if (c == 2) return double_value(std::nan(""));
            if ((n.op == SX_MIN && c < 0) || (n.op == SX_MAX && c > 0)) best = v;
        }
        return best;
    }
    default: break;
    }
    sluice_value x = n.nargs > 0 ? eval(p, a[0], r) : null_value();
    switch (n.op) {
    case SX_SIZE:
        if (x.type == SLUICE_ARRAY || x.type == SLUICE_OBJECT) return int_value(x.len);
        if (x.type == SLUICE_STRING) return int_value(static_cast<int64_t>(utf8_length(x.as.s, x.len)));
        return null_value();
    case SX_IS_NULL: return bool_value(x.type == SLUICE_NULL);
    case SX_IS_NUMBER: return bool_value(is_number(x));
    case SX_IS_INT: return bool_value(x.type == SLUICE_INT);
    case SX_IS_STRING: return bool_value(x.type == SLUICE_STRING);
    case SX_IS_BOOL: return bool_value(x.type == SLUICE_BOOL);
    case SX_IS_ARRAY: return bool_value(x.type == SLUICE_ARRAY);
    case SX_IS_OBJECT: return bool_value(x.type == SLUICE_OBJECT);
    case SX_LOWER: return case_map(p, x, false);
    case SX_UPPER: return case_map(p, x, true);
    case SX_ABS:
        if (x.type == SLUICE_INT)
            return x.as.i == std::numeric_limits<int64_t>::min() ? double_value(9223372036854775808.0)
                                                                : int_value(x.as.i < 0 ? -x.as.i : x.as.i);
        if (x.type == SLUICE_DOUBLE) return double_value(std::fabs(x.as.d));
        return null_value();
    case SX_ROUND: return rounding(x, std::round);
    case SX_FLOOR: return rounding(x, std::floor);
    case SX_CEIL: return rounding(x, std::ceil);
    case SX_NUMBER: return to_number(p, x, false);
    case SX_INT: return to_number(p, x, true);
    case SX_STRING: {
        if (x.type == SLUICE_STRING) return x;
        std::string text;
        if (!to_text(p, x, text)) return null_value();
        char *s = p->scratch.alloc(text.size() + 1);
        if (s == nullptr) return null_value();
        std::memcpy(s, text.data(), text.size() + 1);
        return string_value(s, text.size());
    }
    case SX_MATCHES: {
        if (x.type != SLUICE_STRING || n.aux < 0 || static_cast<size_t>(n.aux) >= p->regexes.size())
            return null_value();
        // RE2: time linear in the value's length (docs/expressions.md), no submatches.
        const re2::RE2 &re = *p->regexes[static_cast<size_t>(n.aux)];
        re2::StringPiece text(x.len ? x.as.s : "", x.len);
        return bool_value(re.Match(text, 0, text.size(), re2::RE2::UNANCHORED, nullptr, 0));
    }
    default: break;
    }
    sluice_value y = n.nargs > 1 ? eval(p, a[1], r) : null_value();
    switch (n.op) {
    case SX_STARTS_WITH:
        if (x.type != SLUICE_STRING || y.type != SLUICE_STRING) return null_value();
        return bool_value(y.len <= x.len && (y.len == 0 || std::memcmp(x.as.s, y.as.s, y.len) == 0));
    case SX_ENDS_WITH:
        if (x.type != SLUICE_STRING || y.type != SLUICE_STRING) return null_value();
        return bool_value(y.len <= x.len && (y.len == 0 || std::memcmp(x.as.s + (x.len - y.len), y.as.s, y.len) == 0));
    case SX_CONTAINS:
        if (x.type == SLUICE_STRING && y.type != SLUICE_STRING) return null_value();
        if (x.type != SLUICE_STRING && x.type != SLUICE_ARRAY && x.type != SLUICE_OBJECT) return null_value();
        return bool_value(contains_value(x, y));
    default: return null_value();
    }
}

// Any node, by its kind: the general case, and the reference the shapes below agree with.
sluice_value eval_node(sx_program *p, const Node &n, const sluice_record *r) {
    switch (n.kind) {
    case CONST: return n.value;
    case FIELD: {
        sluice_value v;
        return get_field(r, n, v) ? v : null_value();
    }
    case MEMBER: {
        sluice_value obj = eval(p, n.a, r), v;
        if (obj.type != SLUICE_OBJECT) return null_value();
        return get_member(obj, n, v) ? v : null_value();
    }
    case INDEX: {
        sluice_value base = eval(p, n.a, r), idx = eval(p, n.b, r), v;
        if (base.type == SLUICE_ARRAY) {
            if (idx.type != SLUICE_INT) return null_value();
            int64_t k = idx.as.i < 0 ? idx.as.i + static_cast<int64_t>(base.len) : idx.as.i;
            if (k < 0 || k >= static_cast<int64_t>(base.len)) return null_value();
            return get_item(base, static_cast<uint32_t>(k), v) ? v : null_value();
        }
        if (base.type == SLUICE_OBJECT && idx.type == SLUICE_STRING)
            return find_name(base, idx.as.s, idx.len, v) ? v : null_value();
        return null_value();
    }
    case OP: {
        switch (n.op) {
        case SX_AND: return bool_value(truthy(eval(p, n.a, r)) && truthy(eval(p, n.b, r)));
        case SX_OR: return bool_value(truthy(eval(p, n.a, r)) || truthy(eval(p, n.b, r)));
        case SX_NOT: return bool_value(!truthy(eval(p, n.a, r)));
        case SX_COND: return truthy(eval(p, n.a, r)) ? eval(p, n.b, r) : eval(p, n.c, r);
        case SX_NEG: {
            sluice_value v = eval(p, n.a, r);
            if (v.type == SLUICE_INT)
                return v.as.i == std::numeric_limits<int64_t>::min() ? double_value(9223372036854775808.0)
                                                                    : int_value(-v.as.i);
            if (v.type == SLUICE_DOUBLE) return double_value(-v.as.d);
            return null_value();
        }
        default: break;
        }
        sluice_value a = eval(p, n.a, r), b = eval(p, n.b, r);
        switch (n.op) {
        case SX_ADD:
        case SX_SUB:
        case SX_MUL:
        case SX_DIV:
        case SX_MOD: return arithmetic(p, n.op, a, b);
        case SX_EQ: return bool_value(equal(a, b));
        case SX_NE: return bool_value(!equal(a, b));
        case SX_IN: return bool_value(contains_value(b, a));
        default: break;
        }
        int c;
        if (is_number(a) && is_number(b)) {
            c = compare_numbers(a, b);
            if (c == 2) return bool_value(false);
        } else if (a.type == SLUICE_STRING && b.type == SLUICE_STRING) {
            c = compare_strings(a, b);
        } else {
            return bool_value(false);  // null, or values that have no order between them
        }
        switch (n.op) {
        case SX_LT: return bool_value(c < 0);
        case SX_LE: return bool_value(c <= 0);
        case SX_GT: return bool_value(c > 0);
        case SX_GE: return bool_value(c >= 0);
        }
        return null_value();
    }
    case LIST: {
        auto *items = reinterpret_cast<sluice_value *>(p->scratch.alloc(sizeof(sluice_value) * (n.nargs ? n.nargs : 1)));
        if (items == nullptr) return null_value();
        for (uint32_t k = 0; k < n.nargs; k++) items[k] = eval(p, p->args[n.args + k], r);
        sluice_value v = null_value();
        v.type = SLUICE_ARRAY;
        v.len = n.nargs;
        v.as.items = items;
        return v;
    }
    case CALL: return call(p, n, r);
    case FUNCTION: return ev_function(p, n, r);
    }
    return null_value();
}

// --- Shapes with a function of their own (chosen by choose()) ---

// The field with the node's interned key, as the general path finds it (sr_get: the first
// of a flat record that holds a name twice, read inline; of a lazy record, the value it has
// now, without parsing any other field, nor the items of a container).
inline bool field_at(const Node &n, const sluice_record *r, sluice_value &out) { return sr_get_inline(r, n.key, &out) == 1; }

sluice_value ev_const(sx_program *, const Node &n, const sluice_record *) { return n.value; }

// A container's len is its count, also for a lazy record's (its items are not built).
inline sluice_value size_of(const sluice_value &v) {
    if (v.type == SLUICE_ARRAY || v.type == SLUICE_OBJECT) return int_value(v.len);
    if (v.type == SLUICE_STRING) return int_value(static_cast<int64_t>(utf8_length(v.as.s, v.len)));
    return null_value();
}

// How an operand is read. The usual shapes — a field, the size of a field — are read
// inline by the node that uses them; anything else through its own function.
struct AnyOperand {
    static sluice_value get(sx_program *p, const Node &n, const sluice_record *r) { return n.fn(p, n, r); }
};
struct FieldOperand {
    static sluice_value get(sx_program *, const Node &n, const sluice_record *r) {
        sluice_value v;
        return field_at(n, r, v) ? v : null_value();
    }
};
struct SizeOfFieldOperand {  // n is the size() call, holding the field's key
    static sluice_value get(sx_program *, const Node &n, const sluice_record *r) {
        sluice_value v;
        return field_at(n, r, v) ? size_of(v) : null_value();
    }
};

// A top-level field with an interned key.
sluice_value ev_field(sx_program *p, const Node &n, const sluice_record *r) { return FieldOperand::get(p, n, r); }

// size(field), the field having an interned key (kept in the call's node).
sluice_value ev_size_of_field(sx_program *p, const Node &n, const sluice_record *r) {
    return SizeOfFieldOperand::get(p, n, r);
}

// A comparison with a constant integer on the right: integers are compared directly;
// anything else as the general path does.
template <uint32_t OP, class Operand>
sluice_value ev_compare_int(sx_program *p, const Node &n, const sluice_record *r) {
    const Node &left = p->nodes[n.a];
    sluice_value a = Operand::get(p, left, r);
    const sluice_value &b = p->nodes[n.b].value;
    if (a.type == SLUICE_INT) {
        int64_t x = a.as.i, y = b.as.i;
        switch (OP) {
        case SX_LT: return bool_value(x < y);
        case SX_LE: return bool_value(x <= y);
        case SX_GT: return bool_value(x > y);
        case SX_GE: return bool_value(x >= y);
        case SX_EQ: return bool_value(x == y);
        default: return bool_value(x != y);
        }
    }
    if (OP == SX_EQ || OP == SX_NE) {
        bool same = equal(a, b);
        return bool_value(OP == SX_EQ ? same : !same);
    }
    if (!is_number(a)) return bool_value(false);
    int c = compare_numbers(a, b);
    if (c == 2) return bool_value(false);
    switch (OP) {
    case SX_LT: return bool_value(c < 0);
    case SX_LE: return bool_value(c <= 0);
    case SX_GT: return bool_value(c > 0);
    default: return bool_value(c >= 0);
    }
}

template <uint32_t OP>
EvalFn compare_int_for(const Node &left) {
    if (left.fn == ev_field) return ev_compare_int<OP, FieldOperand>;
    if (left.fn == ev_size_of_field) return ev_compare_int<OP, SizeOfFieldOperand>;
    return ev_compare_int<OP, AnyOperand>;
}

sluice_value ev_and(sx_program *p, const Node &n, const sluice_record *r) {
    return bool_value(test(p, n.a, r) && test(p, n.b, r));
}
sluice_value ev_or(sx_program *p, const Node &n, const sluice_record *r) {
    return bool_value(test(p, n.a, r) || test(p, n.b, r));
}

}  // namespace

void choose(sx_program *p, Node &n) {
    n.fn = eval_node;
    auto node = [p](uint32_t i) -> const Node * { return i < p->nodes.size() ? &p->nodes[i] : nullptr; };
    switch (n.kind) {
    case CONST: n.fn = ev_const; break;
    case FUNCTION: n.fn = ev_function; break;
    case FIELD:
        if (n.key != SLUICE_NO_KEY) n.fn = ev_field;
        break;
    case CALL:
        if (n.op == SX_SIZE && n.nargs == 1 && n.args < p->args.size()) {
            const Node *x = node(p->args[n.args]);
            if (x && x->kind == FIELD && x->key != SLUICE_NO_KEY) {
                n.key = x->key;
                n.fn = ev_size_of_field;
            }
        }
        break;
    case OP: {
        if (n.op == SX_AND) n.fn = ev_and;
        if (n.op == SX_OR) n.fn = ev_or;
        const Node *b = node(n.b), *a = node(n.a);
        if (!b || b->kind != CONST || b->value.type != SLUICE_INT || !a) break;
        switch (n.op) {
        case SX_LT: n.fn = compare_int_for<SX_LT>(*a); break;
        case SX_LE: n.fn = compare_int_for<SX_LE>(*a); break;
        case SX_GT: n.fn = compare_int_for<SX_GT>(*a); break;
        case SX_GE: n.fn = compare_int_for<SX_GE>(*a); break;
        case SX_EQ: n.fn = compare_int_for<SX_EQ>(*a); break;
        case SX_NE: n.fn = compare_int_for<SX_NE>(*a); break;
        default: break;
        }
        break;
    }
    default: break;
    }
}

bool equal(const sluice_value &a, const sluice_value &b) {
    if (is_number(a) && is_number(b)) return compare_numbers(a, b) == 0;
    if (a.type != b.type) return false;
    switch (a.type) {
    case SLUICE_NULL: return true;
    case SLUICE_BOOL: return a.as.b == b.as.b;
    case SLUICE_STRING: return a.len == b.len && (a.len == 0 || std::memcmp(a.as.s, b.as.s, a.len) == 0);
    // Containers item by item, member by member, through the reader (flat or lazy alike).
    case SLUICE_ARRAY:
        if (a.len != b.len) return false;
        for (uint32_t i = 0; i < a.len; i++) {
            sluice_value x, y;
            if (!get_item(a, i, x) || !get_item(b, i, y) || !equal(x, y)) return false;
        }
        return true;
    case SLUICE_OBJECT:
        if (a.len != b.len) return false;
        for (uint32_t i = 0; i < a.len; i++) {
            sluice_field f;
            sluice_value other;
            if (sr_member_at(&a, i, &f) != 1 || !find_name(b, f.name, f.name_len, other) || !equal(f.value, other))
                return false;
        }
        return true;
    }
    return false;
}

bool to_text(sx_program *p, const sluice_value &v, std::string &out) {
    (void)p;
    out.clear();
    char num[32];
    switch (v.type) {
    case SLUICE_NULL: return false;
    case SLUICE_BOOL: out = v.as.b ? "true" : "false"; return true;
    case SLUICE_INT: out = std::to_string(v.as.i); return true;
    case SLUICE_DOUBLE: out.assign(num, sr_format_number(num, v.as.d)); return true;
    case SLUICE_STRING: out.assign(v.len ? v.as.s : "", v.len); return true;
    default: {
        sr_buf buf{};
        sr_write_value_json(&buf, &v);
        out.assign(buf.data ? buf.data : "", buf.len);
        sr_buf_free(&buf);
        return true;
    }
    }
}

}  // namespace sluice_expr

using namespace sluice_expr;

extern "C" sluice_value sx_eval(sx_program *p, uint32_t root, const sluice_record *record) noexcept try {
    if (p->failed) return sluice_value{};
    p->scratch.reset();
    sluice_record empty{};
    if (!record) record = &empty;
    if (root >= p->nodes.size()) return sluice_value{};
    return eval(p, root, record);
} catch (...) {
    return sluice_value{};  // out of memory: null
}

extern "C" int sx_eval_bool(sx_program *p, uint32_t root, const sluice_record *record) noexcept try {
    if (p->failed) return 0;
    p->scratch.reset();
    sluice_record empty{};
    if (!record) record = &empty;
    if (root >= p->nodes.size()) return 0;
    return test(p, root, record);
} catch (...) {
    return 0;  // out of memory: not true
}

extern "C" int sx_text(sx_program *p, const sluice_value *value, sluice_str *out) noexcept try {
    if (!to_text(p, *value, p->text)) return 0;
    out->ptr = p->text.data();
    out->len = p->text.size();
    return 1;
} catch (...) {
    return 0;  // out of memory: no text
}
