// Alert aggregation and alert envelopes: the per-alert work of the host's alert flow
// (SluiceEngine/Alerts: AlertAggregator, EnvelopeWriter), done here on the bytes in the
// batch arena, so that a batch's alerts cost no Swift string, array or reference count
// each. What the results mean (payloads, ids, keys, the JSON of an envelope) is described
// in sluice_records.h ("alerts") and docs/alerts.md.
#include "internal.hpp"

#include <algorithm>
#include <charconv>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <cmath>
#include <cstdlib>
#include <string>

using namespace sluice_records;

namespace {

// ---- numbers ------------------------------------------------------------------------------

// The text as a finite decimal number, exactly as strtod reads it, or false. Only the
// characters of decimal numbers are taken (strtod alone would also read "0x1A", "inf" or
// "nan"). An optional '-' and at most 15 digits is read here exactly (below 2^53, so the
// same double strtod gives); anything else goes to strtod.
bool read_number(const char *text, size_t len, double *out) {
    if (text == nullptr || len == 0 || len >= 64) return false;
    size_t i = 0;
    bool negative = text[0] == '-';
    if (negative) i = 1;
    if (i < len && len - i <= 15) {
        uint64_t v = 0;
        size_t j = i;
        for (; j < len; j++) {
            unsigned d = static_cast<unsigned char>(text[j]) - '0';
            if (d > 9) break;
            v = v * 10 + d;
        }
        if (j == len) {
            double d = static_cast<double>(v);
            *out = negative ? -d : d;
            return true;
        }
    }
    for (size_t k = 0; k < len; k++) {
        char c = text[k];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) return false;
    }
    char copy[64];
    std::memcpy(copy, text, len);
    copy[len] = 0;
    char *end = nullptr;
    double d = std::strtod(copy, &end);
    if (end != copy + len || !std::isfinite(d)) return false;
    *out = d;
    return true;
}

// The value of the first payload entry named `name`, or null.
inline const sluice_kv *entry(const sluice_kv *payload, size_t n, const std::string &name) {
    for (size_t i = 0; i < n; i++) {
        const sluice_kv &kv = payload[i];
        if (kv.key.len == name.size() && (name.empty() || same_bytes(kv.key.ptr, name.data(), name.size()))) return &kv;
    }
    return nullptr;
}

// ---- a growable byte buffer, appended inline ---------------------------------------------

// Bytes appended with a compare and a copy each (std::string's append is an out-of-line
// call each time: a sixth of an envelope's cost, when every envelope is a few dozen of them).
struct Bytes {
    std::string room;  // its size is the room; [0, n) is written
    size_t n = 0;

    void clear() { n = 0; }
    const char *data() const { return room.data(); }
    size_t size() const { return n; }
    __attribute__((noinline)) void grow(size_t more) { room.resize(std::max<size_t>(n + more, room.size() * 2 + 256)); }
    void put(const char *p, size_t len) {
        if (len > room.size() - n) grow(len);
        std::memcpy(&room[n], p, len);
        n += len;
    }
    void put(char c) {
        if (n == room.size()) grow(1);
        room[n++] = c;
    }
    template <size_t N> void put(const char (&lit)[N]) { put(lit, N - 1); }
    std::string str() const { return std::string(data(), n); }
};

// ---- the stable hash ----------------------------------------------------------------------

// Two 64-bit FNV-1a hashes with different offsets: a 128-bit id, stable across runs and
// machines. Each part ends with a 0xFF byte ("ab","c" differs from "a","bc"); a missing
// value is 0xFE 0xFF, which no UTF-8 text gives.
struct StableHash {
    uint64_t a = 0xcbf29ce484222325ull;
    uint64_t b = 0x6c62272e07bb0142ull;

    static constexpr uint64_t kPrime = 0x00000100000001B3ull;
    static inline void mix(uint64_t &a, uint64_t &b, unsigned char byte) {
        a = (a ^ byte) * kPrime;
        b = (b ^ byte) * kPrime;
        b = (b << 7) | (b >> 57);
    }
    void mix(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++) mix(a, b, static_cast<unsigned char>(p[i]));
    }
    void mix(const Bytes &bytes) { mix(bytes.data(), bytes.size()); }

    // MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
    static uint64_t finish(uint64_t x) {
        x ^= x >> 33;
        x *= 0xff51afd7ed558ccdull;
        x ^= x >> 33;
        x *= 0xc4ceb9fe1a85ec53ull;
        x ^= x >> 33;
        return x;
    }
    // The hash as 32 lowercase hex digits.
    void hex(char *out) const {
        static const char digits[] = "0123456789abcdef";
        uint64_t x = finish(a), y = finish(b ^ a);
        for (int i = 0; i < 16; i++) {
            out[15 - i] = digits[(x >> (4 * i)) & 0xF];
            out[31 - i] = digits[(y >> (4 * i)) & 0xF];
        }
    }
};

// The bytes a StableHash takes for some parts, in the order given: built first and mixed
// after, so that several hashes can take their bytes at once (mix_together).
struct HashBytes : Bytes {
    void add(const char *p, size_t n) {
        put(p, n);
        put('\xFF');
    }
    void add(sluice_str v) { add(v.ptr ? v.ptr : "", v.ptr ? v.len : 0); }
    void add(const std::string &v) { add(v.data(), v.size()); }
    // A number as its decimal text.
    void add_int(int64_t n) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof digits, n);
        add(digits, static_cast<size_t>(r.ptr - digits));
    }
    void add_u64(uint64_t n) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof digits, n);
        add(digits, static_cast<size_t>(r.ptr - digits));
    }
    void add_missing() { put("\xFE\xFF", 2); }
};

// Mixes bytes[k] into h[k] for K hashes at once, the same results as one at a time: each
// byte of a hash waits for the one before (a multiply, about four cycles), so K hashes side
// by side take about as long as one.
#if defined(__x86_64__)
// Four hashes' two halves in the eight lanes of one register, eight bytes of each input at a
// time: per byte a shift, an and, an xor, a multiply and a rotate (of the b lanes) for all
// four, where the scalar loop takes about six instructions per half. The bytes [0, n) of
// each input (n a multiple of 8); the same results as StableHash::mix byte by byte.
__attribute__((target("avx512f,avx512dq"))) void mix4_wide(uint64_t *a, uint64_t *b, const unsigned char *const *p,
                                                            size_t n) {
    __m512i h = _mm512_set_epi64(static_cast<long long>(b[3]), static_cast<long long>(a[3]), static_cast<long long>(b[2]),
                                 static_cast<long long>(a[2]), static_cast<long long>(b[1]), static_cast<long long>(a[1]),
                                 static_cast<long long>(b[0]), static_cast<long long>(a[0]));
    const __m512i prime = _mm512_set1_epi64(static_cast<long long>(StableHash::kPrime));
    const __m512i turn = _mm512_set_epi64(7, 0, 7, 0, 7, 0, 7, 0);  // b lanes rotate by 7
    const __m512i byte = _mm512_set1_epi64(0xFF);
    for (size_t i = 0; i < n; i += 8) {
        long long w[4];
        for (int k = 0; k < 4; k++) std::memcpy(&w[k], p[k] + i, 8);
        __m512i v = _mm512_set_epi64(w[3], w[3], w[2], w[2], w[1], w[1], w[0], w[0]);
        for (int j = 0; j < 8; j++) {
            h = _mm512_mullo_epi64(_mm512_xor_si512(h, _mm512_and_si512(v, byte)), prime);
            h = _mm512_rolv_epi64(h, turn);
            v = _mm512_srli_epi64(v, 8);
        }
    }
    alignas(64) uint64_t out[8];
    _mm512_store_si512(reinterpret_cast<void *>(out), h);
    for (int k = 0; k < 4; k++) {
        a[k] = out[2 * k];
        b[k] = out[2 * k + 1];
    }
}

const bool can_mix4_wide = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
}();
#endif

template <size_t K> void mix_together(StableHash *h, const Bytes *const *bytes) {
    size_t common = bytes[0]->size();
    for (size_t k = 1; k < K; k++) common = std::min(common, bytes[k]->size());
    uint64_t a[K], b[K];
    const unsigned char *p[K];
    for (size_t k = 0; k < K; k++) {
        a[k] = h[k].a;
        b[k] = h[k].b;
        p[k] = reinterpret_cast<const unsigned char *>(bytes[k]->data());
    }
    size_t i = 0;
#if defined(__x86_64__)
    if constexpr (K == 4) {
        if (can_mix4_wide && common >= 8) {
            i = common & ~size_t(7);
            mix4_wide(a, b, p, i);
        }
    }
#endif
    for (; i < common; i++)
        for (size_t k = 0; k < K; k++) StableHash::mix(a[k], b[k], p[k][i]);
    for (size_t k = 0; k < K; k++) {
        for (size_t j = common; j < bytes[k]->size(); j++) StableHash::mix(a[k], b[k], p[k][j]);
        h[k].a = a[k];
        h[k].b = b[k];
    }
}

// ---- a growable text, appended without checks per byte -----------------------------------

struct Text : Bytes {
    using Bytes::put;
    void put_u64(uint64_t v) {
        char digits[24];
        auto r = std::to_chars(digits, digits + sizeof digits, v);
        put(digits, static_cast<size_t>(r.ptr - digits));
    }
    // `p` as a quoted, escaped JSON string (the escapes of sr_write_json_string).
    void put_string(const char *p, size_t len) {
        // Most strings need no escape: copied as they are checked, quotes around.
        if (len > room.size() - n || room.size() - n - len < 2) grow(len + 2);
        char *o = &room[n];
        o[0] = '"';
        size_t i = 0;
        for (; i < len; i++) {
            const unsigned char c = static_cast<unsigned char>(p[i]);
            if (c < 0x20 || c == '"' || c == '\\') break;
            o[1 + i] = static_cast<char>(c);
        }
        if (i == len) {
            o[1 + len] = '"';
            n += len + 2;
            return;
        }
        n += 1 + i;
        put_escaped(p + i, len - i);
        put('"');
    }
    // The rest of a string from its first byte that needs an escape (the escapes of
    // sr_write_json_string).
    void put_escaped(const char *p, size_t len) {
        static const char hexd[] = "0123456789abcdef";
        size_t run = 0;  // bytes since the last escape, appended at once
        for (size_t i = 0; i < len; i++) {
            unsigned char c = static_cast<unsigned char>(p[i]);
            if (c >= 0x20 && c != '"' && c != '\\') continue;
            put(p + run, i - run);
            run = i + 1;
            switch (c) {
            case '"': put("\\\""); break;
            case '\\': put("\\\\"); break;
            case '\n': put("\\n"); break;
            case '\r': put("\\r"); break;
            case '\t': put("\\t"); break;
            case '\b': put("\\b"); break;
            case '\f': put("\\f"); break;
            default: {
                char u[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 0xF]};
                put(u, 6);
            }
            }
        }
        put(p + run, len - run);
    }
    void put_string(sluice_str v) { put_string(v.ptr ? v.ptr : "", v.ptr ? v.len : 0); }
};

std::string to_string(sluice_str s) { return s.ptr ? std::string(s.ptr, s.len) : std::string(); }

sluice_str arena_copy(sr_arena *arena, const char *p, size_t n) {
    return sluice_str{arena_strdup(arena, p, n), n};
}

}  // namespace

// ---- aggregation ------------------------------------------------------------------------------

// A batch's groups are folded in alert by alert: as a stage raises them (sr_aggregator_add:
// nothing kept but a new group's values), or from alerts already copied (sr_aggregate, which
// then writes one alert per group and starts the next batch: finish). A call's alerts can be
// taken back (sr_aggregator_mark, sr_aggregator_rollback).
struct sr_aggregator {
    std::vector<std::string> group_by;
    struct Aggregate {
        std::string name;
        bool has_field;
        std::string field;
        int function;
    };
    std::vector<Aggregate> aggregates;

    // The batch's groups so far (the vectors kept for their capacity).
    struct Accumulator {
        uint64_t present, numbers;
        double sum, min, max;
    };
    // A slot: its group + 1 (0: empty) and the top half of the group's hash, so that a
    // probe reads one line before it finds its group. (An alert's look-up touches its slot,
    // its group, its key's bytes and its accumulators: each a cache line the batch's
    // records may have pushed out since the group's last alert.)
    struct Slot {
        uint32_t group;
        uint32_t tag;
    };
    struct Group {
        uint64_t hash;
        uint64_t count;  // its raw alerts
        size_t start;    // where its key begins in `pool`
        size_t len;      // and its length
    };
    std::vector<Slot> slots;             // power-of-two count
    std::vector<Group> groups;
    std::string pool;                    // the groups' keys, one after the other
    std::vector<Accumulator> accumulators;  // group * aggregates + aggregate
    std::vector<const sluice_kv *> parts;  // per alert: its groupBy entries (null: missing)
    uint64_t pending = 0;                // alerts folded in since the last finish

    // What a rollback goes back to: the groups at the mark, and their counts and
    // accumulators, saved when the call first changes one of them (a call that starts the
    // batch, as one call per batch does, saves nothing).
    size_t mark_groups = 0;
    uint64_t mark_pending = 0;
    bool saved = false;
    std::vector<uint64_t> saved_counts;
    std::vector<Accumulator> saved_accumulators;

    std::vector<sluice_kv> snapshot;  // a plugin's pairs as they were checked
    std::vector<char> scratch;        // and their bytes, copied once

    sr_aggregator(std::vector<std::string> by, std::vector<Aggregate> aggs)
        : group_by(std::move(by)), aggregates(std::move(aggs)) {
        parts.assign(group_by.size(), nullptr);
        slots.assign(64, Slot{0, 0});
    }

    // Mixes a word into a hash.
    static uint64_t mix(uint64_t h, uint64_t w) {
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        return h ^ (h >> 32);
    }
    // Mixes bytes into a hash, 8 at a time, the last few gathered in a register. (Read
    // where the alert's value lies: a key copied out first and read back at once, or a
    // word built in memory from the last bytes, waits for those stores to land, a
    // store-forwarding stall.)
    static uint64_t mix(uint64_t h, const char *p, size_t n) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            h = mix(h, w);
        }
        if (i < n) {
            uint64_t w = 0;
            for (size_t j = 0; i + j < n; j++) w |= static_cast<uint64_t>(static_cast<unsigned char>(p[i + j])) << (8 * j);
            h = mix(h, w);
        }
        return h;
    }

    // The alert's group key (in `parts`): its hash, and its length in `pool`'s form — per
    // groupBy field, a present value's length (4 bytes) then its bytes; a missing one: 0xFF
    // bytes, a length no value has.
    uint64_t key_hash(size_t *len) const {
        uint64_t h = 0x9E3779B97F4A7C15ull ^ parts.size();
        size_t n = 0;
        for (const sluice_kv *kv : parts) {
            if (kv) {
                // (A payload is at most 1 GiB: its lengths fit in 4 bytes.)
                const uint32_t len = static_cast<uint32_t>(kv->value.len);
                h = mix(mix(h, len), kv->value.ptr, len);
                n += 4 + static_cast<size_t>(len);
            } else {
                h = mix(h, ~0ull);
                n += 4;
            }
        }
        *len = n;
        return StableHash::finish(h);  // every bit of the values reaches the slot's bits
    }

    // Whether the key at `p` in `pool` is the one in `parts`.
    bool same_key(const char *p) const {
        for (const sluice_kv *kv : parts) {
            uint32_t len;
            std::memcpy(&len, p, 4);
            if (!kv) {
                if (len != UINT32_MAX) return false;
                p += 4;
                continue;
            }
            if (len != static_cast<uint32_t>(kv->value.len) || !same_bytes(p + 4, kv->value.ptr, len)) return false;
            p += 4 + len;
        }
        return true;
    }

    // Whether the values in `parts` are valid UTF-8.
    bool utf8_parts() const {
        for (const sluice_kv *kv : parts)
            if (kv && !valid_utf8(kv->value.ptr, kv->value.len)) return false;
        return true;
    }

    // The group of the key in `parts` (hash `h`, `len` bytes): an existing one, or a new
    // one (then `is_new`). With `check`, no group is made of values that are not UTF-8:
    // then SIZE_MAX. (A group's values are UTF-8, so such values are no group's.)
    size_t group(uint64_t h, size_t len, bool check, bool *is_new) {
        const size_t mask = slots.size() - 1;
        const uint32_t tag = static_cast<uint32_t>(h >> 32);
        size_t slot = static_cast<size_t>(h) & mask;
        for (Slot e; (e = slots[slot]).group != 0; slot = (slot + 1) & mask) {
            if (e.tag != tag) continue;
            const Group &gr = groups[e.group - 1];
            if (gr.hash == h && gr.len == len && same_key(pool.data() + gr.start)) {
                *is_new = false;
                return e.group - 1;
            }
        }
        if (check && !utf8_parts()) return SIZE_MAX;
        // The slot is taken last: if memory runs out before, the table has no trace of the
        // group (the caller forgets the key's bytes).
        const size_t g = groups.size(), start = pool.size();
        for (const sluice_kv *kv : parts) {
            const uint32_t n = kv ? static_cast<uint32_t>(kv->value.len) : UINT32_MAX;
            char bytes[4];
            std::memcpy(bytes, &n, 4);  // as same_key reads it back
            pool.append(bytes, 4);
            if (kv && n) pool.append(kv->value.ptr, n);
        }
        groups.push_back(Group{h, 0, start, len});
        if (groups.size() * 2 > slots.size()) rehash(slots.size() * 2);
        else slots[slot] = Slot{static_cast<uint32_t>(g + 1), tag};
        *is_new = true;
        return g;
    }

    // The groups from `keep` on forgotten (their keys and accumulators too).
    void truncate(size_t keep) {
        if (groups.size() <= keep) return;
        pool.resize(groups[keep].start);
        groups.resize(keep);
        accumulators.resize(keep * aggregates.size());
        rehash(slots.size());
    }

    // The slots made again for the groups there are: in place at the same size (which
    // cannot fail: a rollback and truncate rely on it), or in a new array when the table
    // grows (the old one stays whole if memory runs out).
    void rehash(size_t nslots) {
        std::vector<Slot> fresh;
        if (nslots != slots.size()) fresh.assign(nslots, Slot{0, 0});
        else std::fill(slots.begin(), slots.end(), Slot{0, 0});
        std::vector<Slot> &to = nslots != slots.size() ? fresh : slots;
        const size_t mask = nslots - 1;
        for (size_t g = 0; g < groups.size(); g++) {
            size_t slot = static_cast<size_t>(groups[g].hash) & mask;
            while (to[slot].group != 0) slot = (slot + 1) & mask;
            to[slot] = Slot{static_cast<uint32_t>(g + 1), static_cast<uint32_t>(groups[g].hash >> 32)};
        }
        if (&to == &fresh) slots.swap(fresh);
    }

    // Folds in one alert (`n` pairs). With `check`, a new group's values are checked: when
    // they are not UTF-8 nothing is folded and this returns false (the payload is then folded
    // from its cleaned copy, which makes its group what a copied alert's is).
    bool fold(const sluice_kv *payload, size_t n, bool check) {
        const size_t nagg = aggregates.size();
        for (size_t k = 0; k < group_by.size(); k++) parts[k] = entry(payload, n, group_by[k]);
        size_t len;
        const uint64_t h = key_hash(&len);
        bool is_new;
        const size_t before = groups.size(), pool_before = pool.size();
        size_t g;
        try {
            g = group(h, len, check, &is_new);
            if (g == SIZE_MAX) return false;
            if (is_new)
                for (size_t i = 0; i < nagg; i++) accumulators.push_back(Accumulator{0, 0, 0.0, HUGE_VAL, -HUGE_VAL});
        } catch (...) {
            truncate(before);  // no group without its accumulators
            pool.resize(pool_before);
            accumulators.resize(before * nagg);
            throw;
        }
        if (!is_new && g < mark_groups && !saved) {
            saved_counts.resize(mark_groups);
            for (size_t k = 0; k < mark_groups; k++) saved_counts[k] = groups[k].count;
            saved_accumulators.assign(accumulators.begin(), accumulators.begin() + static_cast<std::ptrdiff_t>(mark_groups * nagg));
            saved = true;
        }
        groups[g].count += 1;
        pending += 1;
        for (size_t i = 0; i < nagg; i++) {
            const Aggregate &spec = aggregates[i];
            if (!spec.has_field) continue;
            const sluice_kv *kv = entry(payload, n, spec.field);
            if (!kv) continue;
            Accumulator &acc = accumulators[g * nagg + i];
            acc.present += 1;
            double x;
            if (!read_number(kv->value.ptr, kv->value.len, &x)) continue;
            acc.numbers += 1;
            acc.sum += x;
            if (x < acc.min) acc.min = x;   // the first of equal values stays (Swift's min)
            if (x >= acc.max) acc.max = x;  // the last of equal values wins (Swift's max)
        }
        return true;
    }

    void mark() {
        mark_groups = groups.size();
        mark_pending = pending;
        saved = false;
    }

    void rollback() {
        if (saved) {
            for (size_t k = 0; k < saved_counts.size(); k++) groups[k].count = saved_counts[k];
            std::copy(saved_accumulators.begin(), saved_accumulators.end(), accumulators.begin());
        }
        truncate(mark_groups);
        pending = mark_pending;
        saved = false;
    }

    // No group: the next batch starts (as many slots as the last one needed: a stage's
    // groups change little from one batch to the next, so the table rarely grows).
    void clear() {
        std::fill(slots.begin(), slots.end(), Slot{0, 0});
        groups.clear();
        pool.clear();
        accumulators.clear();
        pending = 0;
        mark_groups = 0;
        mark_pending = 0;
        saved = false;
    }

    // One alert per group into `arena`, then no group.
    int64_t finish(sr_arena *arena, const sr_aggregated_alert **out);
};

int64_t sr_aggregator::finish(sr_arena *arena, const sr_aggregated_alert **out) {
    *out = nullptr;
    const size_t ngroups = groups.size();
    if (ngroups == 0) {
        clear();
        return 0;
    }
    const size_t nagg = aggregates.size(), nby = group_by.size();
    // The names, once per batch: every group's payload shares them.
    auto *names = static_cast<sluice_str *>(arena_alloc(arena, sizeof(sluice_str) * (nby + nagg + 1), alignof(sluice_str)));
    for (size_t i = 0; i < nby; i++) names[i] = arena_copy(arena, group_by[i].data(), group_by[i].size());
    for (size_t i = 0; i < nagg; i++) names[nby + i] = arena_copy(arena, aggregates[i].name.data(), aggregates[i].name.size());
    auto *made = static_cast<sr_aggregated_alert *>(
        arena_alloc(arena, sizeof(sr_aggregated_alert) * ngroups, alignof(sr_aggregated_alert)));
    const size_t capacity = nby + nagg;
    for (size_t g = 0; g < ngroups; g++) {
        auto *kvs = static_cast<sluice_kv *>(arena_alloc(arena, sizeof(sluice_kv) * (capacity ? capacity : 1), alignof(sluice_kv)));
        auto *invalid = static_cast<uint64_t *>(arena_alloc(arena, sizeof(uint64_t) * (nagg ? nagg : 1), alignof(uint64_t)));
        size_t k = 0;
        // The group's values, as its key holds them: those its alerts have.
        const char *p = pool.data() + groups[g].start;
        for (size_t f = 0; f < nby; f++) {
            uint32_t len;
            std::memcpy(&len, p, 4);
            p += 4;
            if (len == UINT32_MAX) continue;
            kvs[k++] = sluice_kv{names[f], arena_copy(arena, p, len)};
            p += len;
        }
        const uint64_t alerts_in_group = groups[g].count;
        for (size_t i = 0; i < nagg; i++) {
            const Aggregate &spec = aggregates[i];
            const Accumulator &acc = accumulators[g * nagg + i];
            char text[32];
            size_t len;
            invalid[i] = 0;
            switch (spec.function) {
            case SR_AGGREGATE_COUNT:
                len = sr_format_number(text, static_cast<double>(spec.has_field ? acc.present : alerts_in_group));
                break;
            case SR_AGGREGATE_SUM:
            case SR_AGGREGATE_AVG:
            case SR_AGGREGATE_MIN:
            case SR_AGGREGATE_MAX: {
                double value = NAN;  // no number at all: "null"
                if (acc.numbers > 0) {
                    switch (spec.function) {
                    case SR_AGGREGATE_SUM: value = acc.sum; break;
                    case SR_AGGREGATE_AVG: value = acc.sum / static_cast<double>(acc.numbers); break;
                    case SR_AGGREGATE_MIN: value = acc.min; break;
                    default: value = acc.max; break;
                    }
                }
                len = sr_format_number(text, value);
                if (acc.numbers < alerts_in_group) invalid[i] = alerts_in_group - acc.numbers;
                break;
            }
            default:
                len = sr_format_number(text, NAN);  // "null": computed elsewhere (a window's distinct)
                break;
            }
            kvs[k++] = sluice_kv{names[nby + i], arena_copy(arena, text, len)};
        }
        made[g] = sr_aggregated_alert{kvs, k, alerts_in_group, invalid};
    }
    clear();
    *out = made;
    return static_cast<int64_t>(ngroups);
}

extern "C" int sr_alert_number(const char *text, size_t len, double *out) noexcept {
    double d;
    if (!read_number(text, len, &d)) return 0;
    if (out) *out = d;
    return 1;
}

extern "C" sr_aggregator *sr_aggregator_new(const sluice_str *group_by, size_t ngroup_by,
                                            const sr_aggregate_spec *aggregates, size_t naggregates) noexcept {
    return guard<sr_aggregator *>(nullptr, [&] {
        std::vector<std::string> by;
        std::vector<sr_aggregator::Aggregate> aggs;
        for (size_t i = 0; i < ngroup_by; i++) by.push_back(to_string(group_by[i]));
        for (size_t i = 0; i < naggregates; i++) {
            const sr_aggregate_spec &s = aggregates[i];
            aggs.push_back({to_string(s.name), s.field.ptr != nullptr, to_string(s.field), s.function});
        }
        return new sr_aggregator(std::move(by), std::move(aggs));
    });
}

extern "C" void sr_aggregator_free(sr_aggregator *agg) noexcept { delete agg; }

extern "C" int sr_aggregator_add(sr_aggregator *agg, sr_arena *arena, const sluice_kv *payload, uint32_t count,
                                 uint64_t max_bytes, char *err, size_t cap) noexcept {
    return guard_err(err, cap, [&]() -> int {
        if (agg->snapshot.size() < count) agg->snapshot.resize(count);
        sluice_kv *pairs = agg->snapshot.data();
        uint64_t bytes = 0;
        if (check_alert_payload(payload, count, max_bytes, pairs, &bytes, err, cap) != 0) return -1;
        // The bytes copied once, out of the plugin's reach: every check and every use below
        // reads this copy (a plugin's thread changing them meanwhile changes nothing here).
        if (agg->scratch.size() < bytes + 1) agg->scratch.resize(static_cast<size_t>(bytes) + 1);
        char *to = agg->scratch.data();
        // A name that is not ASCII may be cleaned into a groupBy or aggregate field's name:
        // such a payload, and one that would open a group with values that are not UTF-8, is
        // folded from its cleaned copy (sr_copy_kvs), as sr_aggregate would fold it.
        bool plain = true;
        for (uint32_t i = 0; i < count; i++) {
            sluice_str &key = pairs[i].key, &value = pairs[i].value;
            plain &= copy_ascii(to, key.ptr, key.len);
            key.ptr = to;
            to += key.len;
            copy_ascii(to, value.ptr, value.len);
            value.ptr = to;
            to += value.len;
        }
        const bool folded = plain && agg->fold(pairs, count, true);
        // A rare big payload's room is given back once payloads are small again.
        if (agg->scratch.size() > (1u << 20) && bytes < agg->scratch.size() / 4) std::vector<char>().swap(agg->scratch);
        if (folded) return 0;
        const sluice_kv *copy = nullptr;
        if (sr_copy_kvs(arena, payload, count, max_bytes, &copy, err, cap) != 0) return -1;
        agg->fold(copy, count, false);
        return 0;
    });
}

extern "C" void sr_aggregator_mark(sr_aggregator *agg) noexcept { agg->mark(); }

extern "C" void sr_aggregator_rollback(sr_aggregator *agg) noexcept { agg->rollback(); }

extern "C" uint64_t sr_aggregator_pending(const sr_aggregator *agg) noexcept { return agg->pending; }

extern "C" int64_t sr_aggregate(sr_aggregator *agg, sr_arena *arena, const sr_raw_alert *alerts, size_t count,
                                const sr_aggregated_alert **out) noexcept {
    return guard<int64_t>(-1, [&]() -> int64_t {
        *out = nullptr;
        for (size_t a = 0; a < count; a++) agg->fold(alerts[a].payload, alerts[a].payload ? alerts[a].count : 0, false);
        return agg->finish(arena, out);
    });
}

// ---- envelopes -------------------------------------------------------------------------------

struct sr_envelope_writer {
    sr_arena *arena;
    sluice_str namespace_name, pipeline, stage, run;
    uint64_t batch;
    int64_t timestamp_ms;
    StableHash prefix;  // the id's hash after run, namespace, pipeline, stage and batch
    StableHash keyed;   // the key's hash after namespace, pipeline and stage
    bool has_key_fields;
    std::vector<std::string> key_fields;
    const sluice_str *key_field_names;  // in the arena; null when there are none
    std::string middle;  // ,"namespace":…,"count":
    Text json;
    HashBytes key_bytes[4], id_bytes[4];  // per call (kept for their capacity)
};

extern "C" sr_envelope_writer *sr_envelope_writer_new(sr_arena *arena, const sr_envelope_parts *parts) noexcept {
    return guard<sr_envelope_writer *>(nullptr, [&] {
        auto *w = new sr_envelope_writer();
        try {
            w->arena = arena;
            w->namespace_name = arena_copy(arena, parts->namespace_name.ptr ? parts->namespace_name.ptr : "", parts->namespace_name.len);
            w->pipeline = arena_copy(arena, parts->pipeline.ptr ? parts->pipeline.ptr : "", parts->pipeline.len);
            w->stage = arena_copy(arena, parts->stage.ptr ? parts->stage.ptr : "", parts->stage.len);
            w->run = arena_copy(arena, parts->run.ptr ? parts->run.ptr : "", parts->run.len);
            w->batch = parts->batch;
            w->timestamp_ms = parts->timestamp_ms;
            HashBytes prefix, keyed;
            prefix.add(parts->run);
            prefix.add(parts->namespace_name);
            prefix.add(parts->pipeline);
            prefix.add(parts->stage);
            prefix.add_u64(parts->batch);
            w->prefix.mix(prefix);
            keyed.add(parts->namespace_name);
            keyed.add(parts->pipeline);
            keyed.add(parts->stage);
            w->keyed.mix(keyed);
            w->has_key_fields = parts->has_key_fields != 0;
            w->key_field_names = nullptr;
            if (w->has_key_fields && parts->nkey_fields > 0) {
                auto *names = static_cast<sluice_str *>(arena_alloc(arena, sizeof(sluice_str) * parts->nkey_fields, alignof(sluice_str)));
                for (size_t i = 0; i < parts->nkey_fields; i++) {
                    w->key_fields.push_back(to_string(parts->key_fields[i]));
                    names[i] = arena_copy(arena, w->key_fields.back().data(), w->key_fields.back().size());
                }
                w->key_field_names = names;
            }
            Text m;
            m.put(",\"namespace\":");
            m.put_string(parts->namespace_name);
            m.put(",\"pipeline\":");
            m.put_string(parts->pipeline);
            m.put(",\"stage\":");
            m.put_string(parts->stage);
            m.put(",\"run\":");
            m.put_string(parts->run);
            m.put(",\"batch\":");
            m.put_u64(parts->batch);
            m.put(",\"timestamp\":");
            m.put_string(parts->timestamp);
            m.put(",\"count\":");
            w->middle = m.str();
            w->json.grow(512);
        } catch (...) {
            delete w;
            throw;
        }
        return w;
    });
}

extern "C" void sr_envelope_writer_free(sr_envelope_writer *w) noexcept { delete w; }

namespace {

// The bytes of an envelope's key after the writer's `keyed` part: its key fields' names
// and values (a missing one marked), or the whole payload's.
void key_bytes(const sr_envelope_writer *w, const sluice_kv *payload, size_t npayload, HashBytes &out) {
    out.clear();
    if (w->has_key_fields) {
        for (const std::string &field : w->key_fields) {
            out.add(field);
            if (const sluice_kv *kv = entry(payload, npayload, field)) out.add(kv->value); else out.add_missing();
        }
    } else {
        for (size_t i = 0; i < npayload; i++) {
            out.add(payload[i].key);
            out.add(payload[i].value);
        }
    }
}

// The bytes of the id of an envelope with no life after the writer's `prefix`: its ordinal
// and its payload.
void id_bytes(const sluice_kv *payload, size_t npayload, uint64_t ordinal, HashBytes &out) {
    out.clear();
    out.add_int(static_cast<int64_t>(ordinal));
    for (size_t i = 0; i < npayload; i++) {
        out.add(payload[i].key);
        out.add(payload[i].value);
    }
}

// The envelope of one alert whose key and id (and incident, with a life) are hashed: its
// JSON and its sluice_alert, in the arena.
sluice_alert *write_envelope(sr_envelope_writer *w, const sluice_kv *given, size_t npayload, uint64_t count,
                             const sr_invalid_count *invalid, size_t ninvalid, const sr_envelope_life *life,
                             const StableHash &key, const StableHash &id, const StableHash &incident) {
    const sluice_kv *payload = given;
    Text &j = w->json;
    j.clear();
    char hex[32];
    j.put("{\"id\":\"");
    id.hex(hex);
    j.put(hex, 32);
    j.put("\",\"key\":\"");
    key.hex(hex);
    j.put(hex, 32);
    j.put('"');
    j.put(w->middle.data(), w->middle.size());
    j.put_u64(count);
    size_t incident_offset = 0;
    if (life) {
        j.put(",\"status\":");
        j.put_string(life->status);
        j.put(",\"notification\":");
        j.put_string(life->notification);
        j.put(",\"severity\":");
        j.put_string(life->severity);
        j.put(",\"incident\":\"");
        incident_offset = j.size();
        incident.hex(hex);
        j.put(hex, 32);
        j.put('"');
        j.put(",\"startsAt\":");
        j.put_string(life->starts_at);
        if (life->resolved) {
            j.put(",\"endsAt\":");
            j.put_string(life->ends_at);
        }
    }
    j.put(",\"payload\":{");
    for (size_t i = 0; i < npayload; i++) {
        if (i > 0) j.put(',');
        j.put_string(payload[i].key);
        j.put(':');
        j.put_string(payload[i].value);
    }
    j.put('}');
    if (invalid && ninvalid > 0) {
        j.put(",\"invalid\":{");
        for (size_t i = 0; i < ninvalid; i++) {
            if (i > 0) j.put(',');
            j.put_string(invalid[i].name);
            j.put(':');
            j.put_u64(invalid[i].count);
        }
        j.put('}');
    }
    j.put('}');

    sr_arena *arena = w->arena;
    auto *a = static_cast<sluice_alert *>(arena_alloc(arena, sizeof(sluice_alert), alignof(sluice_alert)));
    std::memset(a, 0, sizeof *a);
    a->size = static_cast<uint32_t>(sizeof(sluice_alert));
    a->npayload = static_cast<uint32_t>(npayload);
    a->id = arena_copy(arena, j.data() + 7, 32);
    a->namespace_name = w->namespace_name;
    a->pipeline = w->pipeline;
    a->stage = w->stage;
    a->run = w->run;
    a->batch = w->batch;
    a->timestamp_ms = w->timestamp_ms;
    a->count = count;
    a->payload = given;
    a->json = arena_copy(arena, j.data(), j.size());
    // The key's 32 digits follow `{"id":"<32>","key":"` in the JSON just copied.
    a->key = sluice_str{a->json.ptr + 48, 32};
    a->nkey_fields = w->has_key_fields ? static_cast<uint32_t>(w->key_fields.size()) : 0;
    a->key_fields = w->key_field_names;
    if (life) {
        a->status = arena_copy(arena, life->status.ptr ? life->status.ptr : "", life->status.len);
        a->notification = arena_copy(arena, life->notification.ptr ? life->notification.ptr : "", life->notification.len);
        a->severity = arena_copy(arena, life->severity.ptr ? life->severity.ptr : "", life->severity.len);
        a->incident = sluice_str{a->json.ptr + incident_offset, 32};
        a->starts_at_ms = life->starts_at_ms;
        a->ends_at_ms = life->resolved ? life->ends_at_ms : 0;
    }
    return a;
}

}  // namespace

extern "C" sluice_alert *sr_envelope_write(sr_envelope_writer *w, const sluice_kv *payload, size_t npayload, uint64_t count,
                                           const sr_invalid_count *invalid, size_t ninvalid, uint64_t ordinal,
                                           const sr_envelope_life *life) noexcept {
    if (!life) {
        // With no life: the one envelope of sr_envelope_write_many.
        const sr_envelope_input input{payload, npayload, count, invalid, ninvalid, ordinal};
        sluice_alert *out = nullptr;
        return sr_envelope_write_many(w, &input, 1, &out) == 0 ? out : nullptr;
    }
    return guard<sluice_alert *>(nullptr, [&]() -> sluice_alert * {
        const sluice_kv *given = payload;  // as it came, for the envelope
        if (!payload) npayload = 0;
        HashBytes &kb = w->key_bytes[0], &ib = w->id_bytes[0];
        key_bytes(w, payload, npayload, kb);
        StableHash key = w->keyed;
        key.mix(kb);
        // The incident's number, never given twice in a stage: the same when the incident
        // is made again after a restart.
        ib.clear();
        ib.add_int(static_cast<int64_t>(life->incident));
        StableHash incident = key;
        incident.mix(ib);
        ib.clear();
        ib.add(life->notification);
        ib.add_int(life->resolved ? life->ends_at_ms : w->timestamp_ms);
        StableHash id = incident;
        id.mix(ib);
        return write_envelope(w, given, npayload, count, invalid, ninvalid, life, key, id, incident);
    });
}

extern "C" int sr_envelope_write_many(sr_envelope_writer *w, const sr_envelope_input *inputs, size_t n,
                                      sluice_alert **out) noexcept {
    return guard<int>(-1, [&]() -> int {
        for (size_t first = 0; first < n; first += 4) {
            const size_t m = std::min<size_t>(4, n - first);
            StableHash keys[4], ids[4];
            for (size_t k = 0; k < m; k++) {
                const sr_envelope_input &in = inputs[first + k];
                const size_t np = in.payload ? in.npayload : 0;
                key_bytes(w, in.payload, np, w->key_bytes[k]);
                id_bytes(in.payload, np, in.ordinal, w->id_bytes[k]);
                keys[k] = w->keyed;
                ids[k] = w->prefix;
            }
            // Four keys side by side, then four ids; fewer left at the end: each one's key
            // and id side by side.
            if (m == 4) {
                const Bytes *kb[4] = {&w->key_bytes[0], &w->key_bytes[1], &w->key_bytes[2], &w->key_bytes[3]};
                const Bytes *ib[4] = {&w->id_bytes[0], &w->id_bytes[1], &w->id_bytes[2], &w->id_bytes[3]};
                mix_together<4>(keys, kb);
                mix_together<4>(ids, ib);
            } else {
                for (size_t k = 0; k < m; k++) {
                    StableHash h[2] = {keys[k], ids[k]};
                    const Bytes *bytes[2] = {&w->key_bytes[k], &w->id_bytes[k]};
                    mix_together<2>(h, bytes);
                    keys[k] = h[0];
                    ids[k] = h[1];
                }
            }
            for (size_t k = 0; k < m; k++) {
                const sr_envelope_input &in = inputs[first + k];
                out[first + k] = write_envelope(w, in.payload, in.payload ? in.npayload : 0, in.count, in.invalid, in.ninvalid,
                                                nullptr, keys[k], ids[k], StableHash());
            }
        }
        return 0;
    });
}
