// Plugin functions called through libffi: the call interface is prepared once
// (sx_function_new), each call converts the evaluated arguments to the declared C types —
// or gives null without calling when one does not fit.
#include "program.hpp"

#include <cmath>
#include <cstdio>
#include <new>
#include <cstring>
#include <ffi.h>
#include <limits>

struct sx_function {
    void *fn = nullptr;
    ffi_cif cif{};
    std::vector<uint32_t> args;      // declared types
    std::vector<ffi_type *> types;   // one per C parameter (a string takes two)
    uint32_t returns = 0;
    ffi_type string_type{};          // sluice_str, returned by value
    ffi_type *string_elements[3] = {nullptr, nullptr, nullptr};
    std::string label;
};

namespace {

ffi_type *ffi_for(uint32_t t) {
    switch (t) {
    case SX_T_BOOL: return &ffi_type_uint8;
    case SX_T_INT32: return &ffi_type_sint32;
    case SX_T_INT64: return &ffi_type_sint64;
    case SX_T_UINT32: return &ffi_type_uint32;
    case SX_T_UINT64: return &ffi_type_uint64;
    case SX_T_FLOAT: return &ffi_type_float;
    case SX_T_DOUBLE: return &ffi_type_double;
    default: return nullptr;
    }
}

// One argument slot, large enough for any scalar.
union Slot {
    uint8_t u8;
    int32_t i32;
    int64_t i64;
    uint32_t u32;
    uint64_t u64;
    float f;
    double d;
    const char *s;
    size_t len;
};

inline bool integral(const sluice_value &v, int64_t lo, int64_t hi, int64_t &out) {
    if (v.type == SLUICE_INT) {
        out = v.as.i;
    } else if (v.type == SLUICE_DOUBLE && std::isfinite(v.as.d) && std::trunc(v.as.d) == v.as.d &&
               std::fabs(v.as.d) < 9.2e18) {
        out = static_cast<int64_t>(v.as.d);
    } else {
        return false;
    }
    return out >= lo && out <= hi;
}

}  // namespace

extern "C" sx_function *sx_function_new(void *fn, const uint32_t *args, uint32_t nargs, uint32_t returns,
                                        const char *label, char *err, size_t err_cap) noexcept {
    if (!fn) {
        std::snprintf(err, err_cap, "no function address");
        return nullptr;
    }
    if (nargs > 16) {
        std::snprintf(err, err_cap, "takes %u arguments; at most 16 are supported", nargs);
        return nullptr;
    }
    sx_function *f = new (std::nothrow) sx_function;
    if (!f) {
        std::snprintf(err, err_cap, "out of memory");
        return nullptr;
    }
    try {
        f->label = label ? label : "function";
        f->args.reserve(nargs);
        f->types.reserve(2 * size_t(nargs));  // push_back below cannot throw
    } catch (...) {
        std::snprintf(err, err_cap, "out of memory");
        delete f;
        return nullptr;
    }
    f->fn = fn;
    f->returns = returns;
    f->string_elements[0] = &ffi_type_pointer;
    f->string_elements[1] = sizeof(size_t) == 8 ? &ffi_type_uint64 : &ffi_type_uint32;
    f->string_elements[2] = nullptr;
    f->string_type.size = 0;
    f->string_type.alignment = 0;
    f->string_type.type = FFI_TYPE_STRUCT;
    f->string_type.elements = f->string_elements;
    for (uint32_t i = 0; i < nargs; i++) {
        f->args.push_back(args[i]);
        if (args[i] == SX_T_STRING) {
            f->types.push_back(&ffi_type_pointer);
            f->types.push_back(f->string_elements[1]);
        } else if (ffi_type *t = ffi_for(args[i])) {
            f->types.push_back(t);
        } else {
            std::snprintf(err, err_cap, "argument %u has an unknown type (%u)", i + 1, args[i]);
            delete f;
            return nullptr;
        }
    }
    ffi_type *rtype = returns == SX_T_STRING ? &f->string_type : ffi_for(returns);
    if (!rtype) {
        std::snprintf(err, err_cap, "the return type is unknown (%u)", returns);
        delete f;
        return nullptr;
    }
    ffi_status st = ffi_prep_cif(&f->cif, FFI_DEFAULT_ABI, static_cast<unsigned>(f->types.size()), rtype,
                                 f->types.empty() ? nullptr : f->types.data());
    if (st != FFI_OK) {
        std::snprintf(err, err_cap, "libffi cannot prepare the call (status %d)", static_cast<int>(st));
        delete f;
        return nullptr;
    }
    return f;
}

namespace sluice_expr {

namespace {

const char kEmpty[1] = {0};

// Converts one argument to its declared C type into slots[k] (a string takes two slots:
// pointer and length), advancing k; false when the value does not fit the type.
__attribute__((always_inline)) inline bool put_arg(uint32_t type, const sluice_value &v, Slot *slots, void **values, size_t &k) {
    int64_t x;
    switch (type) {
    case SX_T_BOOL:
        if (v.type != SLUICE_BOOL) return false;
        slots[k].u8 = v.as.b ? 1 : 0;
        break;
    case SX_T_INT32:
        if (!integral(v, INT32_MIN, INT32_MAX, x)) return false;
        slots[k].i32 = static_cast<int32_t>(x);
        break;
    case SX_T_INT64:
        if (!integral(v, INT64_MIN, INT64_MAX, x)) return false;
        slots[k].i64 = x;
        break;
    case SX_T_UINT32:
        if (!integral(v, 0, UINT32_MAX, x)) return false;
        slots[k].u32 = static_cast<uint32_t>(x);
        break;
    case SX_T_UINT64:
        if (!integral(v, 0, INT64_MAX, x)) return false;
        slots[k].u64 = static_cast<uint64_t>(x);
        break;
    case SX_T_FLOAT:
        if (v.type == SLUICE_INT) slots[k].f = static_cast<float>(v.as.i);
        else if (v.type == SLUICE_DOUBLE) slots[k].f = static_cast<float>(v.as.d);
        else return false;
        break;
    case SX_T_DOUBLE:
        if (v.type == SLUICE_INT) slots[k].d = static_cast<double>(v.as.i);
        else if (v.type == SLUICE_DOUBLE) slots[k].d = v.as.d;
        else return false;
        break;
    case SX_T_STRING:
        if (v.type != SLUICE_STRING) return false;
        slots[k].s = v.len ? v.as.s : kEmpty;
        values[k] = &slots[k];
        k++;
        slots[k].len = v.len;
        break;
    default: return false;
    }
    values[k] = &slots[k];
    k++;
    return true;
}

// Calls the function with its converted arguments and converts what it returns.
inline sluice_value call_prepared(sx_program *p, const sx_function *f, void **values) {
    sluice_value out;
    std::memset(&out, 0, sizeof out);
    // The return buffer: at least 8 bytes (libffi widens small integers), 16 for a sluice_str.
    alignas(16) unsigned char ret[16] = {0};
    ffi_call(const_cast<ffi_cif *>(&f->cif), FFI_FN(f->fn), ret, values);
    switch (f->returns) {
    case SX_T_BOOL: {
        ffi_arg r;
        std::memcpy(&r, ret, sizeof r);
        out.type = SLUICE_BOOL;
        out.as.b = (r & 0xff) ? 1 : 0;
        break;
    }
    case SX_T_INT32: {
        ffi_sarg r;
        std::memcpy(&r, ret, sizeof r);
        out.type = SLUICE_INT;
        out.as.i = static_cast<int32_t>(r);
        break;
    }
    case SX_T_UINT32: {
        ffi_arg r;
        std::memcpy(&r, ret, sizeof r);
        out.type = SLUICE_INT;
        out.as.i = static_cast<uint32_t>(r);
        break;
    }
    case SX_T_INT64: {
        int64_t r;
        std::memcpy(&r, ret, sizeof r);
        out.type = SLUICE_INT;
        out.as.i = r;
        break;
    }
    case SX_T_UINT64: {
        uint64_t r;
        std::memcpy(&r, ret, sizeof r);
        if (r <= static_cast<uint64_t>(INT64_MAX)) {
            out.type = SLUICE_INT;
            out.as.i = static_cast<int64_t>(r);
        } else {
            out.type = SLUICE_DOUBLE;
            out.as.d = static_cast<double>(r);
        }
        break;
    }
    case SX_T_FLOAT: {
        float r;
        std::memcpy(&r, ret, sizeof r);
        out.type = SLUICE_DOUBLE;
        out.as.d = r;
        break;
    }
    case SX_T_DOUBLE: {
        double r;
        std::memcpy(&r, ret, sizeof r);
        out.type = SLUICE_DOUBLE;
        out.as.d = r;
        break;
    }
    case SX_T_STRING: {
        sluice_str s;
        std::memcpy(&s, ret, sizeof s);
        if (!s.ptr || s.len > 0xFFFFFFFEu) break;  // null
        char *copy = p->scratch.alloc(s.len + 1);
        if (copy == nullptr) break;  // null: past the evaluation's scratch budget
        if (s.len) std::memcpy(copy, s.ptr, s.len);
        copy[s.len] = 0;
        out.type = SLUICE_STRING;
        out.len = static_cast<uint32_t>(s.len);
        out.as.s = copy;
        break;
    }
    }
    return out;
}


}  // namespace

// A plugin function's node: each argument evaluated (all of them, in order, even after one
// does not fit: previous()/changed() in an argument keep their memory the same way) and
// converted straight into its slot, then the call.
sluice_value ev_function(sx_program *p, const Node &n, const sluice_record *r) {
    const sx_function *f = n.function;
    sluice_value out;
    std::memset(&out, 0, sizeof out);
    bool fits = f && n.nargs == f->args.size() && n.nargs <= 16;
    Slot slots[32];
    void *values[32];
    size_t k = 0;
    const uint32_t *arg = p->args.data() + n.args;
    for (uint32_t i = 0; i < n.nargs; i++) {
        sluice_value v = eval(p, arg[i], r);
        if (fits) fits = put_arg(f->args[i], v, slots, values, k);
    }
    if (!fits) return out;
    return call_prepared(p, f, values);
}

}  // namespace sluice_expr
