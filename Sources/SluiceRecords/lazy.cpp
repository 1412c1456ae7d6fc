// Lazy records (ABI 1.7): a line validated in full and indexed in one pass, its values
// parsed only when they are read.
//
//   LazyText    one per line, in the parsing thread's arena: the line (without its line
//               end and surrounding blanks) and the index of its top-level members.
//   LazyRecord  what a handle's `fields` points to: the LazyText and the fields emit_with
//               added or replaced (extras). The first one sits right after its LazyText;
//               emit_with claims free extra slots with one CAS (as FieldsHeader.used), or
//               makes a new LazyRecord sharing the LazyText (a fan-out, no room left).
//   LazyNode    a container value handed out by the reader (as.items / as.fields): where
//               its text is, its count, and the index of its items, built on first access.
// Each starts with a tag (a per-process secret mixed with its address and its arena's slot
// and generation, as FieldsHeader's) and is trusted only while its batch lives.
//
// The view of a record: sluice_record{fields = LazyRecord*, nfields = 0,
// flags = SLUICE_RECORD_HOST | the low bits of its arena generation | visible extras}.
//
// Reading and materialising allocate into the arena of the line (the batch's): one thread
// at a time reads a batch's handles, as the pipeline runner's thread does.
#include "sluice_records.h"
#include "internal.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#define SR_WIDE_ARRAYS 1
#endif

namespace sluice_records {

namespace {

constexpr int kMaxDepth = 64;               // deeper: the eager parser decides
constexpr uint32_t kMaxIntDigits = 18;      // an integer always fits int64: no overflow check
constexpr uint32_t kMaxDoubleDigits = 100;  // with |exponent| <= kMaxExponent: a finite,
constexpr uint32_t kMaxExponent = 200;      // normal double whatever the digits
constexpr uint32_t kVisible = 0x00FFFFFFu;  // in a view's flags: the extras it sees
// In a view's flags: the low 7 bits of its record's arena generation when the view was
// made. A record of a later batch can sit at the same address with a valid tag; the view
// of the earlier one then no longer matches (unless 128 generations apart exactly).
constexpr uint32_t kViewGeneration = 0x7F000000u;
inline uint32_t view_generation(uint64_t generation) { return static_cast<uint32_t>(generation & 0x7F) << 24; }
constexpr uint32_t kRoom = 4;               // extra slots after a line's record
constexpr uint32_t kNone = UINT32_MAX;

// LazyMember.flags
constexpr uint8_t kEscaped = 1;  // a string with escapes
constexpr uint8_t kNumber = 2;   // a number read once: its value's bits are in `cache`
// LazyText.flags
constexpr uint32_t kDuplicate = 1;  // an object of the line names a member twice

// Mixed into each kind's tag, and a marker the stale-handle check reads.
constexpr uint64_t kTextKind = 0x6C617A7974657874ull, kRecordKind = 0x6C617A797265636Full,
                   kNodeKind = 0x6C617A796E6F6465ull;
constexpr uint32_t kTextMagic = 0x4C5A5458u, kRecordMagic = 0x4C5A5243u, kNodeMagic = 0x4C5A4E44u;

struct Tagged {
    uint64_t tag;
    uint32_t slot;   // of the arena it lives in
    uint32_t magic;  // kind marker: these 16 bytes are all a check reads
};

// One member of an object, or one item of an array (key 0, no name): 40 bytes.
struct LazyMember {
    sluice_key key;
    uint32_t name_len;
    const char *name;  // NUL-terminated: interned, or a copy in the arena
    uint32_t off, len; // the value's text, from the start of the line
    uint32_t count;    // ARRAY: items; OBJECT: members (each name once)
    uint8_t kind;      // '"' string, 'i' int64, 'u' uint64 only, 'd' other number, 't' 'f' 'n', '[' '{'
    uint8_t flags;     // kEscaped, kNumber
    uint16_t reserved;
    void *cache;       // built on first read: a container's LazyNode, an escaped string's
                       // value, a number's bits
};
static_assert(sizeof(LazyMember) == 40, "members are packed");

struct LazyText : Tagged {
    sr_arena *arena;            // where it lives: caches are built there
    const char *text;           // the line
    uint32_t len, n;            // bytes; members (each name once)
    uint32_t flags, reserved;   // kDuplicate
    const sluice_field *flat;   // the materialised members (with a fields header), cached
    LazyMember *members() { return reinterpret_cast<LazyMember *>(this + 1); }
    const LazyMember *members() const { return reinterpret_cast<const LazyMember *>(this + 1); }
};
static_assert(sizeof(LazyText) % 8 == 0, "members follow aligned");

struct Extra {
    sluice_field f;     // flat: copied by sr_record_with
    uint32_t replaces;  // the member it replaces, or kNone (added)
    uint32_t reserved;
};
static_assert(offsetof(Extra, f) == 0, "put_with_added reads an extra's field at its start");

struct LazyRecord : Tagged {
    LazyText *text;
    Extra *extras;
    uint32_t cap, used;  // extra slots; taken (claimed by CAS)
};

struct LazyNode : Tagged {
    LazyText *text;
    LazyMember *items;   // the index, built on first access
    uint32_t off, len;   // the container's text
    uint32_t count;
    uint8_t kind;
};

const sluice_value kNoItems[1] = {};
const sluice_field kNoFields[1] = {};

inline void stamp(Tagged *h, const sr_arena *a, uint64_t kind, uint32_t magic) {
    h->slot = a->slot;
    h->magic = magic;
    h->tag = tag_of(h, a->slot, a->generation) ^ kind;
}

inline bool trusted(const Tagged *h, uint64_t kind) {
    if (!h) return false;
    uint64_t g = live_generation(h->slot);
    return g != 0 && h->tag == (tag_of(h, h->slot, g) ^ kind);
}

// What the parser allocates for one line, in one piece: the text's index and its record,
// then the record's extra slots.
constexpr size_t kBlockAlign = 16;
inline size_t line_index_bytes(uint32_t members) {
    return sizeof(LazyText) + size_t(members) * sizeof(LazyMember) + sizeof(LazyRecord);
}
inline size_t line_block_bytes(uint32_t members) { return line_index_bytes(members) + kRoom * sizeof(Extra); }

// A stage reads a batch's records in order, on another core than the one that indexed them:
// a read of a record that core has just written waits for its index and its text to come
// across. The parser lays each line's block right after the one before (each started on
// kBlockAlign), in the order of the lines, and the lines' text is one run: so the record
// kAhead lines on is about kAhead blocks, and kAhead lines of text, further on. Every read
// of a record asks for that one's (a request for what is already here costs next to
// nothing); asked for now, it is here when the stage reads it. The next lines' sizes are
// guessed from this one's, and a wrong guess (lines of other sizes, the end of the part)
// costs a useless fetch: a prefetch never faults. Addresses are reckoned as integers, as
// the guess may lie outside any object.
constexpr size_t kAhead = 8;
constexpr size_t kCacheLine = 64;
constexpr size_t kMostIndexLines = 8;  // a lookup scans the members from the first
inline void prefetch_ahead(const LazyText *t) {
    const size_t stride = (line_block_bytes(t->n) + kBlockAlign - 1) & ~(kBlockAlign - 1);
    const uintptr_t block = reinterpret_cast<uintptr_t>(t) + kAhead * stride;
    // The index (the text's header, then its members) and the record, which every read
    // touches: its cache lines from the first to the record's, but of a long index only the
    // first kMostIndexLines and the record's.
    const uintptr_t first = block & ~uintptr_t(kCacheLine - 1);
    const uintptr_t end = block + line_index_bytes(t->n);  // the record's end
    const uintptr_t cut = first + kMostIndexLines * kCacheLine;
    for (uintptr_t at = first; at < end && at < cut; at += kCacheLine)
        __builtin_prefetch(reinterpret_cast<const void *>(at));
    if (end > cut) {
        __builtin_prefetch(reinterpret_cast<const void *>(end - sizeof(LazyRecord)));
        __builtin_prefetch(reinterpret_cast<const void *>(end - 1));
    }
    const uintptr_t text = reinterpret_cast<uintptr_t>(t->text) + kAhead * (size_t(t->len) + 1);
    __builtin_prefetch(reinterpret_cast<const void *>(text));
    __builtin_prefetch(reinterpret_cast<const void *>(text + kCacheLine));
}

// The record behind a view, or nullptr when it is not a live handle.
inline LazyRecord *record_of(const sluice_record &r) {
    auto *R = reinterpret_cast<LazyRecord *>(const_cast<sluice_field *>(r.fields));
    if (!R || R->magic != kRecordMagic) return nullptr;
    const uint64_t g = live_generation(R->slot);
    if (g == 0 || R->tag != (tag_of(R, R->slot, g) ^ kRecordKind)) return nullptr;
    if ((r.flags & kViewGeneration) != view_generation(g)) return nullptr;  // a view of an earlier record here
    // A record in its line's arena was made while that line was live: trusted with it.
    if (R->slot != R->text->slot && !trusted(R->text, kTextKind)) return nullptr;
    prefetch_ahead(R->text);
    return R;
}

inline uint32_t visible(const sluice_record &r, const LazyRecord *R) {
    uint32_t v = r.flags & kVisible;
    uint32_t used = __atomic_load_n(&R->used, __ATOMIC_ACQUIRE);
    return v < used ? v : used;
}

// Blanks between tokens. Not '\r': the eager parser keeps no text holding one (it would end
// the line for some readers), so such a line is left to it and both ways write the same bytes.
inline bool blank(char c) { return c == ' ' || c == '\t'; }
// Blanks around a line (and lines of nothing else, which are skipped), as the eager parser
// trims them.
inline bool line_blank(char c) { return blank(c) || c == '\r'; }
inline bool digit(char c) { return static_cast<unsigned char>(c - '0') <= 9; }
inline uint64_t zero_bytes(uint64_t w) { return (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull; }

inline int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// The bytes a string's text stands for (s: just after its opening quote, n: up to its
// closing one, validated: surrogates only in pairs). out has room for n bytes (an escape
// is never shorter than what it stands for).
size_t unescape(const char *s, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        char c = s[i];
        if (c != '\\') {
            out[o++] = c;
            i++;
            continue;
        }
        char e = s[i + 1];
        i += 2;
        switch (e) {
        case 'n': out[o++] = '\n'; break;
        case 't': out[o++] = '\t'; break;
        case 'r': out[o++] = '\r'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'u': {
            uint32_t cp = static_cast<uint32_t>((hex(s[i]) << 12) | (hex(s[i + 1]) << 8) | (hex(s[i + 2]) << 4) | hex(s[i + 3]));
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {  // a pair (validated): the low half follows
                uint32_t low = static_cast<uint32_t>((hex(s[i + 2]) << 12) | (hex(s[i + 3]) << 8) | (hex(s[i + 4]) << 4) | hex(s[i + 5]));
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                out[o++] = static_cast<char>(0xF0 | (cp >> 18));
                out[o++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
                out[o++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = static_cast<char>(0x80 | (cp & 0x3F));
            } else if (cp < 0x80) {
                out[o++] = static_cast<char>(cp);
            } else if (cp < 0x800) {
                out[o++] = static_cast<char>(0xC0 | (cp >> 6));
                out[o++] = static_cast<char>(0x80 | (cp & 0x3F));
            } else {
                out[o++] = static_cast<char>(0xE0 | (cp >> 12));
                out[o++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
                out[o++] = static_cast<char>(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: out[o++] = e;  // " \ /
        }
    }
    return o;
}

// A name seen in a nested object, for finding names given twice.
struct NameRef {
    const char *raw;  // its text (escaped), or its bytes in the scratch
    uint32_t len;
    int64_t at;       // where its unescaped bytes are in the scratch, or -1
};

// ---- the validator ------------------------------------------------------------------------
// Accepts a value only when it is sure simdjson accepts it too and reads it as the eager
// parser does; anything else (bad JSON, or what it leaves to simdjson) is refused.
#if defined(SR_WIDE_ARRAYS)
// Scan::small_integers 64 bytes at a time, on a CPU with AVX-512BW (one window holds most
// arrays of a W1 event): the same judgement, with the 15-digit bound checked on the masks,
// as a 16-byte window without a comma enforces it. The text is readable 64 bytes past `at`
// (SR_PADDING after a part).
__attribute__((target("avx512f,avx512bw,popcnt"))) bool small_integers_64(const char **at, const char *end,
                                                                        uint32_t *n) {
    const char *q = *at;
    const __m512i zero = _mm512_set1_epi8('0'), nine = _mm512_set1_epi8(9), comma = _mm512_set1_epi8(',');
    const __m512i space = _mm512_set1_epi8(' '), tab = _mm512_set1_epi8('\t');
    uint32_t items = 0;
    for (;;) {
        const __m512i v = _mm512_loadu_si512(reinterpret_cast<const void *>(q));
        const uint64_t D = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, zero), nine);
        const uint64_t C = _mm512_cmpeq_epi8_mask(v, comma);
        const uint64_t B = _mm512_cmpeq_epi8_mask(v, space) | _mm512_cmpeq_epi8_mask(v, tab);
        // The window up to the first byte that is none of these; its last comma.
        const uint64_t other = ~(D | C | B);
        const uint64_t commas = C & (other ? (other & (0 - other)) - 1 : ~0ull);
        if (!(D & 1) || !commas) break;
        const uint32_t last = 63u - static_cast<uint32_t>(__builtin_clzll(commas));
        const uint64_t window = last == 63 ? ~0ull : (2ull << last) - 1;  // bytes 0..last
        // Each comma right after a digit; each blank right after a comma or a blank; no item
        // that starts with 0 and goes on with a digit; no run of 16 digits or more.
        const uint64_t starts = 1u | (((C | B) << 1) & D);
        const uint64_t zeros = _mm512_cmpeq_epi8_mask(v, zero);
        uint64_t runs = D & (D >> 1);
        runs &= runs >> 2;
        runs &= runs >> 4;
        runs &= runs >> 8;
        if ((C & ~(D << 1) & window) || (B & ~((C | B) << 1) & window) || (starts & zeros & (D >> 1) & window) ||
            (runs & window))
            break;
        items += static_cast<uint32_t>(__builtin_popcountll(commas));
        q += last + 1;
        while (q < end && blank(*q)) q++;
        if (q >= end) return false;  // `[1,` and the line ends
    }
    *at = q;
    *n += items;
    return true;
}

// Whether arrays are judged 64 bytes at a time: when the CPU can (sr_lazy_wide_arrays).
const bool can_wide_arrays = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bw") != 0;
}();
std::atomic<bool> wide_arrays{can_wide_arrays};
#endif

// Whether lines may be taken by an earlier line's shape (sr_lazy_shapes; LineShape).
std::atomic<bool> shapes{true};

struct Scan {
    const char *p, *end;
    bool escaped = false;  // the last string had an escape
    bool dup = false;      // an object named a member twice
    std::vector<NameRef> *names;
    std::string *scratch;

    inline void ws() {
        while (p < end && blank(*p)) p++;
    }

    // A UTF-8 sequence at p (a byte >= 0x80).
    bool utf8() {
        auto c = static_cast<unsigned char>(*p);
        int n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return false;
        if (end - p <= n) return false;
        for (int i = 1; i <= n; i++) {
            auto d = static_cast<unsigned char>(p[i]);
            if ((d & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return false;
        p += n + 1;
        return true;
    }

    // p just after the opening quote; leaves p just after the closing one.
    bool string() {
        for (;;) {
            uint64_t w;
            std::memcpy(&w, p, 8);  // the text is readable 8 bytes past the line
            uint64_t stop = zero_bytes(w ^ 0x2222222222222222ull) | zero_bytes(w ^ 0x5C5C5C5C5C5C5C5Cull) |
                            ((w - 0x2020202020202020ull) & ~w & 0x8080808080808080ull) | (w & 0x8080808080808080ull);
            if (!stop) {
                p += 8;
                if (p >= end) return false;
                continue;
            }
            p += __builtin_ctzll(stop) / 8;
            if (p >= end) return false;
            char c = *p;
            if (c == '"') {
                p++;
                return true;
            }
            if (c == '\\') {
                escaped = true;
                if (end - p < 2) return false;
                char e = p[1];
                if (e == 'u') {
                    if (end - p < 6) return false;
                    int cp = 0;
                    for (int i = 2; i < 6; i++) {
                        int h = hex(p[i]);
                        if (h < 0) return false;
                        cp = cp << 4 | h;
                    }
                    if (cp >= 0xD800 && cp <= 0xDFFF) {
                        // A high surrogate and a low one: a pair. Anything else with a
                        // surrogate is refused (simdjson explains why).
                        if (cp >= 0xDC00 || end - p < 12 || p[6] != '\\' || p[7] != 'u') return false;
                        int low = 0;
                        for (int i = 8; i < 12; i++) {
                            int h = hex(p[i]);
                            if (h < 0) return false;
                            low = low << 4 | h;
                        }
                        if (low < 0xDC00 || low > 0xDFFF) return false;
                        p += 6;
                    }
                    p += 6;
                } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                           e == 't') {
                    p += 2;
                } else {
                    return false;
                }
                continue;
            }
            if (static_cast<unsigned char>(c) < 0x20) return false;
            if (!utf8()) return false;
        }
    }

    // A number at p; *kind 'i' (an integer that fits int64), 'u' (a positive one that
    // fits only uint64: a double, as the eager parser reads it) or 'd'.
    bool number(uint8_t *kind) {
        const bool negative = *p == '-';
        if (negative) p++;
        if (p >= end) return false;
        const char *first = p;
        if (*p == '0') {
            p++;
        } else if (*p >= '1' && *p <= '9') {
            while (p < end && digit(*p)) p++;
        } else {
            return false;
        }
        uint32_t digits = static_cast<uint32_t>(p - first);
        bool integer = true;
        if (p < end && *p == '.') {
            p++;
            const char *f = p;
            while (p < end && digit(*p)) p++;
            if (p == f) return false;
            digits += static_cast<uint32_t>(p - f);
            integer = false;
        }
        if (p < end && (*p == 'e' || *p == 'E')) {
            p++;
            if (p < end && (*p == '+' || *p == '-')) p++;
            const char *f = p;
            uint32_t exponent = 0;
            while (p < end && digit(*p)) {
                if (exponent <= kMaxExponent) exponent = exponent * 10 + static_cast<uint32_t>(*p - '0');
                p++;
            }
            if (p == f || exponent > kMaxExponent) return false;
            integer = false;
        }
        if (integer && digits > kMaxIntDigits) {
            // Exactly as simdjson: int64, else uint64 when positive, else refused.
            if (digits > 20) return false;
            uint64_t v = 0;
            for (const char *d = first; d < first + digits; d++) {
                uint64_t dv = static_cast<uint64_t>(*d - '0');
                if (v > (UINT64_MAX - dv) / 10) return false;
                v = v * 10 + dv;
            }
            if (negative && v > (1ull << 63)) return false;
            *kind = !negative && v > static_cast<uint64_t>(INT64_MAX) ? 'u' : 'i';
            return true;
        }
        if (!integer && digits > kMaxDoubleDigits) return false;
        *kind = integer ? 'i' : 'd';
        return true;
    }

    bool literal(const char *w, size_t n) {
        if (static_cast<size_t>(end - p) < n || std::memcmp(p, w, n) != 0) return false;
        p += n;
        return true;
    }

    // A value at p (no blank before it); a container's count into *count.
    bool value(int depth, uint8_t *kind, uint32_t *count) {
        if (p >= end) return false;
        switch (*p) {
        case '"':
            p++;
            *kind = '"';
            return string();
        case '{':
            p++;
            *kind = '{';
            return object(depth, count);
        case '[':
            p++;
            *kind = '[';
            return array(depth, count);
        case 't': *kind = 't'; return literal("true", 4);
        case 'f': *kind = 'f'; return literal("false", 5);
        case 'n': *kind = 'n'; return literal("null", 4);
        default: return number(kind);
        }
    }

    // From q, the start of an array's item: whole runs of small non-negative integers
    // (at most 15 digits, no leading zero) each followed by a comma and any blanks, 16
    // bytes at a time. Moves q to the start of the first item it leaves to the caller
    // (the last one, or any that is not such an integer: a 16-byte window without a comma
    // ends it too) and adds the items it passed to *n. False when the text is bad JSON
    // (an item right after the line's end). The text is readable 64 bytes past q (the
    // 64-byte version reads that far): a line is followed by its line end or the parser's
    // padding (SR_PADDING), and stops before it.
    bool small_integers(const char **at, uint32_t *n) {
#if defined(SR_WIDE_ARRAYS)
        if (wide_arrays.load(std::memory_order_relaxed)) return small_integers_64(at, end, n);
#endif
#if defined(__SSE2__)
        const char *q = *at;
        const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9), comma = _mm_set1_epi8(',');
        const __m128i space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t');
        uint32_t items = 0;
        for (;;) {
            const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i *>(q));
            const __m128i d = _mm_sub_epi8(v, zero);
            const uint32_t D = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(d, nine), d)));
            const uint32_t C = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)));
            const uint32_t B = static_cast<uint32_t>(
                _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, space), _mm_cmpeq_epi8(v, tab))));
            // The window up to the first byte that is none of these; its last comma.
            const uint32_t in = static_cast<uint32_t>(__builtin_ctz(~(D | C | B) | 0x10000u));
            const uint32_t commas = C & ((1u << in) - 1);
            if (!(D & 1) || !commas) break;
            const uint32_t last = 31u - static_cast<uint32_t>(__builtin_clz(commas));
            const uint32_t window = (2u << last) - 1;  // bytes 0..last
            // Each comma right after a digit; each blank right after a comma or a blank;
            // no item that starts with 0 and goes on with a digit.
            const uint32_t starts = 1u | (((C | B) << 1) & D);
            const uint32_t zeros = static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero)));
            if ((C & ~(D << 1) & window) || (B & ~((C | B) << 1) & window) || (starts & zeros & (D >> 1) & window))
                break;
            items += static_cast<uint32_t>(__builtin_popcount(commas));
            q += last + 1;
            while (q < end && blank(*q)) q++;
            if (q >= end) return false;  // `[1,` and the line ends
        }
        *at = q;
        *n += items;
#else
        (void)at;
        (void)n;
#endif
        return true;
    }

    // p just after '['.
    bool array(int depth, uint32_t *count) {
        if (depth > kMaxDepth) return false;
        ws();
        uint32_t n = 0;
        if (p < end && *p == ']') {
            p++;
            *count = 0;
            return true;
        }
        // Arrays of small integers, the common case: first 16 bytes at a time while they
        // are items and separators (small_integers), then in a local loop (the pointer in
        // a register, no call per item); any other item through value().
        const char *q = p;
        if (!small_integers(&q, &n)) return false;
        for (;;) {
            char c = *q;
            if (c >= '1' && c <= '9') {
                const char *f = q;
                q++;
                while (digit(*q)) q++;
                if (*q == '.' || *q == 'e' || *q == 'E' || q - f > static_cast<long>(kMaxIntDigits)) {
                    p = f;
                    uint8_t k;
                    if (!number(&k)) return false;
                    q = p;
                }
            } else if (c == '0' && !digit(q[1]) && q[1] != '.' && q[1] != 'e' && q[1] != 'E') {
                q++;
            } else {
                p = q;
                uint8_t k;
                uint32_t cn;
                if (!value(depth + 1, &k, &cn)) return false;
                q = p;
            }
            if (q > end) return false;
            n++;
            while (q < end && blank(*q)) q++;
            if (q >= end) return false;
            if (*q == ',') {
                q++;
                while (q < end && blank(*q)) q++;
                if (q >= end) return false;
                continue;
            }
            if (*q == ']') {
                p = q + 1;
                *count = n;
                return true;
            }
            return false;
        }
    }

    // p just after '{'.
    bool object(int depth, uint32_t *count) {
        if (depth > kMaxDepth) return false;
        ws();
        if (p < end && *p == '}') {
            p++;
            *count = 0;
            return true;
        }
        const size_t first = names->size();
        const size_t scratch_len = scratch->size();
        for (;;) {
            if (p >= end || *p != '"') return false;
            const char *name = ++p;
            escaped = false;
            if (!string()) return false;
            uint32_t len = static_cast<uint32_t>(p - 1 - name);
            if (escaped) {
                size_t at = scratch->size();
                scratch->resize(at + len);
                size_t n = unescape(name, len, &(*scratch)[at]);
                scratch->resize(at + n);
                names->push_back(NameRef{nullptr, static_cast<uint32_t>(n), static_cast<int64_t>(at)});
            } else {
                names->push_back(NameRef{name, len, -1});
            }
            ws();
            if (p >= end || *p != ':') return false;
            p++;
            ws();
            uint8_t k;
            uint32_t cn;
            if (!value(depth + 1, &k, &cn)) return false;
            ws();
            if (p >= end) return false;
            if (*p == ',') {
                p++;
                ws();
                continue;
            }
            if (*p == '}') {
                p++;
                break;
            }
            return false;
        }
        const uint32_t m = static_cast<uint32_t>(names->size() - first);
        const uint32_t twice = duplicates(first);
        names->resize(first);
        scratch->resize(scratch_len);
        if (twice) dup = true;
        *count = m - twice;
        return true;
    }

    std::string_view bytes(const NameRef &r) const {
        return r.at < 0 ? std::string_view(r.raw, r.len) : std::string_view(scratch->data() + r.at, r.len);
    }

    // How many of the names from `first` on repeat an earlier one.
    uint32_t duplicates(size_t first) const {
        const size_t m = names->size() - first;
        const NameRef *v = names->data() + first;
        uint32_t twice = 0;
        if (m <= 16) {
            for (size_t j = 1; j < m; j++)
                for (size_t i = 0; i < j; i++)
                    if (v[i].len == v[j].len && bytes(v[i]) == bytes(v[j])) {
                        twice++;
                        break;
                    }
            return twice;
        }
        std::vector<std::string_view> sorted;
        sorted.reserve(m);
        for (size_t i = 0; i < m; i++) sorted.push_back(bytes(v[i]));
        std::sort(sorted.begin(), sorted.end());
        for (size_t i = 1; i < m; i++)
            if (sorted[i] == sorted[i - 1]) twice++;
        return twice;
    }
};

// Names of nested objects, read on the thread that reads the records.
thread_local KeyCache reader_keys;

void name_nested(sr_arena *arena, std::string_view name, sluice_key *key, const char **out, uint32_t *len) {
    *key = reader_keys.get(name);
    if (*key != SLUICE_NO_KEY) {
        *out = sr_key_name(*key, len);
        if (*out) return;
        *key = SLUICE_NO_KEY;
    }
    *out = arena_strdup(arena, name.data(), name.size());
    *len = static_cast<uint32_t>(name.size());
}

inline bool same_name(sluice_key ka, const char *na, uint32_t la, sluice_key kb, const char *nb, uint32_t lb) {
    if (ka != SLUICE_NO_KEY && kb != SLUICE_NO_KEY) return ka == kb;
    return la == lb && same_bytes(na, nb, la);
}

// Members i < j naming the same field: the first keeps its place and takes the last value
// (as the eager parser does). Returns the new count.
uint32_t fold_duplicates(LazyMember *m, uint32_t n) {
    uint32_t out = 0;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t i = 0;
        for (; i < out; i++)
            if (same_name(m[i].key, m[i].name, m[i].name_len, m[j].key, m[j].name, m[j].name_len)) break;
        if (i < out) {
            m[i].off = m[j].off;
            m[i].len = m[j].len;
            m[i].count = m[j].count;
            m[i].kind = m[j].kind;
            m[i].flags = m[j].flags;
            m[i].cache = nullptr;
        } else {
            m[out++] = m[j];
        }
    }
    return out;
}

// The index of the container [base + off, base + off + len) of a line already validated:
// its items, or its members (named, each name once), in `arena`.
LazyMember *index_container(sr_arena *arena, const LazyText *t, uint32_t off, uint32_t len, uint8_t kind,
                            uint32_t count) {
    std::vector<NameRef> names;
    std::string scratch;
    Scan s{t->text + off + 1, t->text + off + len, false, false, &names, &scratch};
    std::vector<LazyMember> items;
    items.reserve(count);
    s.ws();
    const char close = kind == '[' ? ']' : '}';
    while (s.p < s.end && *s.p != close) {
        LazyMember m{};
        if (kind == '{') {
            const char *name = ++s.p;
            s.escaped = false;
            if (!s.string()) throw std::bad_alloc();  // validated already: cannot happen
            size_t n = static_cast<size_t>(s.p - 1 - name);
            std::string_view bytes(name, n);
            if (s.escaped) {
                scratch.resize(n);
                bytes = std::string_view(scratch.data(), unescape(name, n, scratch.data()));
            }
            name_nested(arena, bytes, &m.key, &m.name, &m.name_len);
            s.ws();
            s.p++;  // ':'
            s.ws();
        }
        m.off = static_cast<uint32_t>(s.p - t->text);
        s.escaped = false;
        if (!s.value(1, &m.kind, &m.count)) throw std::bad_alloc();
        m.len = static_cast<uint32_t>(s.p - t->text) - m.off;
        m.flags = m.kind == '"' && s.escaped ? kEscaped : 0;
        items.push_back(m);
        s.ws();
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            s.ws();
        }
    }
    uint32_t n = static_cast<uint32_t>(items.size());
    if (kind == '{' && (t->flags & kDuplicate)) n = fold_duplicates(items.data(), n);
    auto *out = static_cast<LazyMember *>(arena_alloc(arena, (n ? n : 1) * sizeof(LazyMember), alignof(LazyMember)));
    if (n) std::memcpy(out, items.data(), n * sizeof(LazyMember));
    return out;
}

// ---- values ---------------------------------------------------------------------------------

// An integer the validator found to fit (at most 20 digits): its magnitude and sign.
uint64_t parse_magnitude(const char *p, uint32_t len, bool *negative) {
    *negative = *p == '-';
    uint64_t v = 0;
    for (uint32_t i = *negative ? 1 : 0; i < len; i++) v = v * 10 + static_cast<uint64_t>(p[i] - '0');
    return v;
}

int64_t parse_int(const char *p, uint32_t len) {
    bool negative;
    uint64_t v = parse_magnitude(p, len, &negative);
    return static_cast<int64_t>(negative ? 0 - v : v);  // -2^63 included
}

// The value of member (or item) m of line t, as the reader hands it out: strings into the
// line (escaped ones unescaped into its arena, once), containers as handles (built once).
bool read_member(LazyText *t, LazyMember &m, sluice_value *out) {
    const char *v = t->text + m.off;
    out->len = 0;
    out->as.i = 0;
    switch (m.kind) {
    case '"': {
        out->type = SLUICE_STRING;
        if (!(m.flags & kEscaped)) {
            out->len = m.len - 2;
            out->as.s = v + 1;
            return true;
        }
        auto *cached = static_cast<const sluice_value *>(__atomic_load_n(&m.cache, __ATOMIC_ACQUIRE));
        if (!cached) {
            auto *chars = static_cast<char *>(arena_alloc(t->arena, m.len - 1, 1));
            size_t n = unescape(v + 1, m.len - 2, chars);
            chars[n] = 0;
            auto *value = static_cast<sluice_value *>(arena_alloc(t->arena, sizeof(sluice_value), alignof(sluice_value)));
            value->type = SLUICE_STRING;
            value->len = static_cast<uint32_t>(n);
            value->as.s = chars;
            __atomic_store_n(&m.cache, value, __ATOMIC_RELEASE);
            cached = value;
        }
        *out = *cached;
        return true;
    }
    case 'i':
    case 'u':
    case 'd': {
        out->type = m.kind == 'i' ? SLUICE_INT : SLUICE_DOUBLE;
        // Parsed on first read; the value's 8 bytes kept in the member.
        if (__atomic_load_n(&m.flags, __ATOMIC_ACQUIRE) & kNumber) {
            std::memcpy(&out->as.i, &m.cache, sizeof out->as.i);
            return true;
        }
        if (m.kind == 'i') {
            out->as.i = parse_int(v, m.len);
        } else if (m.kind == 'u') {
            bool negative;
            out->as.d = static_cast<double>(parse_magnitude(v, m.len, &negative));
        } else {
            double d = 0;
            auto r = std::from_chars(v, v + m.len, d);
            if (r.ec != std::errc() || r.ptr != v + m.len) return false;  // cannot happen within the bounds
            out->as.d = d;
        }
        std::memcpy(&m.cache, &out->as.i, sizeof out->as.i);
        __atomic_store_n(&m.flags, static_cast<uint8_t>(m.flags | kNumber), __ATOMIC_RELEASE);
        return true;
    }
    case 't':
    case 'f':
        out->type = SLUICE_BOOL;
        out->as.b = m.kind == 't';
        return true;
    case 'n':
        out->type = SLUICE_NULL;
        return true;
    case '[':
    case '{': {
        out->type = m.kind == '[' ? SLUICE_ARRAY : SLUICE_OBJECT;
        out->len = m.count;
        if (m.count == 0) {
            if (m.kind == '[') out->as.items = kNoItems;
            else out->as.fields = kNoFields;
            return true;
        }
        auto *node = static_cast<LazyNode *>(__atomic_load_n(&m.cache, __ATOMIC_ACQUIRE));
        if (!node) {
            node = static_cast<LazyNode *>(arena_alloc(t->arena, sizeof(LazyNode), alignof(LazyNode)));
            node->text = t;
            node->items = nullptr;
            node->off = m.off;
            node->len = m.len;
            node->count = m.count;
            node->kind = m.kind;
            stamp(node, t->arena, kNodeKind, kNodeMagic);
            __atomic_store_n(&m.cache, node, __ATOMIC_RELEASE);
        }
        out->as.items = reinterpret_cast<const sluice_value *>(node);
        return true;
    }
    }
    return false;
}

LazyNode *node_of(const sluice_value &v) {
    if (v.len == 0) return nullptr;
    const void *p = v.type == SLUICE_ARRAY ? static_cast<const void *>(v.as.items) : static_cast<const void *>(v.as.fields);
    auto *h = static_cast<const Tagged *>(p);
    if (!h || h->magic != kNodeMagic || !trusted(h, kNodeKind)) return nullptr;
    auto *node = const_cast<LazyNode *>(static_cast<const LazyNode *>(h));
    return trusted(node->text, kTextKind) ? node : nullptr;
}

LazyMember *items_of(LazyNode *node) {
    LazyMember *items = static_cast<LazyMember *>(__atomic_load_n(&node->items, __ATOMIC_ACQUIRE));
    if (!items) {
        items = index_container(node->text->arena, node->text, node->off, node->len, node->kind, node->count);
        __atomic_store_n(&node->items, items, __ATOMIC_RELEASE);
    }
    return items;
}

// ---- the flat layout --------------------------------------------------------------------------

void build_value(sr_arena *arena, LazyText *t, LazyMember &m, sluice_value *out);

void build_members(sr_arena *arena, LazyText *t, LazyMember *members, uint32_t n, sluice_field *dst) {
    for (uint32_t i = 0; i < n; i++) {
        dst[i].key = members[i].key;
        dst[i].name = members[i].name;
        dst[i].name_len = members[i].name_len;
        build_value(arena, t, members[i], &dst[i].value);
    }
}

// The value of m in the flat layout, as the eager parser builds it: strings NUL-terminated
// in the arena, containers deep.
void build_value(sr_arena *arena, LazyText *t, LazyMember &m, sluice_value *out) {
    switch (m.kind) {
    case '"': {
        const char *v = t->text + m.off + 1;
        size_t n = m.len - 2;
        out->type = SLUICE_STRING;
        if (m.flags & kEscaped) {
            auto *chars = static_cast<char *>(arena_alloc(arena, n + 1, 1));
            size_t k = unescape(v, n, chars);
            chars[k] = 0;
            out->len = static_cast<uint32_t>(k);
            out->as.s = chars;
        } else {
            out->len = static_cast<uint32_t>(n);
            out->as.s = arena_strdup(arena, v, n);
        }
        return;
    }
    case '[':
    case '{': {
        uint32_t count = m.count;
        LazyMember *items = count ? index_container(arena, t, m.off, m.len, m.kind, count) : nullptr;
        out->len = count;
        if (m.kind == '[') {
            auto *dst = static_cast<sluice_value *>(arena_alloc(arena, count * sizeof(sluice_value) + 1, alignof(sluice_value)));
            for (uint32_t i = 0; i < count; i++) build_value(arena, t, items[i], &dst[i]);
            out->type = SLUICE_ARRAY;
            out->as.items = dst;
        } else {
            auto *dst = static_cast<sluice_field *>(arena_alloc(arena, count * sizeof(sluice_field) + 1, alignof(sluice_field)));
            build_members(arena, t, items, count, dst);
            out->type = SLUICE_OBJECT;
            out->as.fields = dst;
        }
        return;
    }
    default:
        if (!read_member(t, m, out)) throw std::bad_alloc();  // cannot happen: validated
    }
}

// The line's members in the flat layout, with a fields header holding the line as their
// source text (unless a name is given twice); built once per line.
const sluice_field *flat_members(sr_arena *arena, LazyText *t) {
    const sluice_field *cached = static_cast<const sluice_field *>(__atomic_load_n(&t->flat, __ATOMIC_ACQUIRE));
    if (cached && fields_header(cached)) return cached;
    sluice_field *dst = new_fields(arena, t->n + kRoom, t->n);
    build_members(arena, t, t->members(), t->n, dst);
    auto *h = reinterpret_cast<FieldsHeader *>(dst) - 1;
    if (!(t->flags & kDuplicate)) {
        h->src = t->text;
        h->src_len = t->len;
        h->src_fields = t->n;
        h->src_slot = t->slot;
        h->src_gen = live_generation(t->slot);
    }
    __atomic_store_n(&t->flat, dst, __ATOMIC_RELEASE);
    return dst;
}

// Does an extra of the view replace a member?
bool replaces_any(const LazyRecord *R, uint32_t vis) {
    for (uint32_t i = 0; i < vis; i++)
        if (R->extras[i].replaces != kNone) return true;
    return false;
}

void materialize_record(sr_arena *arena, const sluice_record &r, LazyRecord *R, sluice_record *out) {
    LazyText *t = R->text;
    const sluice_field *base = flat_members(arena, t);
    const uint32_t vis = visible(r, R);
    if (vis == 0) {
        *out = sluice_record{base, t->n, 0};
        return;
    }
    uint32_t total = t->n;
    for (uint32_t i = 0; i < vis; i++)
        if (R->extras[i].replaces == kNone) total++;
    sluice_field *dst = new_fields(arena, total + kRoom, total);
    if (t->n) std::memcpy(dst, base, t->n * sizeof(sluice_field));
    uint32_t k = t->n;
    bool replaced = false;
    for (uint32_t i = 0; i < vis; i++) {
        const Extra &e = R->extras[i];
        if (e.replaces == kNone) {
            dst[k++] = e.f;
        } else if (e.replaces < t->n) {
            dst[e.replaces].value = e.f.value;
            replaced = true;
        }
    }
    const FieldsHeader *bh = fields_header(base);
    auto *h = reinterpret_cast<FieldsHeader *>(dst) - 1;
    if (!replaced && bh && bh->src) {
        h->src = bh->src;
        h->src_len = bh->src_len;
        h->src_fields = bh->src_fields;
        h->src_slot = bh->src_slot;
        h->src_gen = bh->src_gen;
    }
    *out = sluice_record{dst, total, 0};
}

// A view's member index i when an extra replaces it: that extra's value.
const Extra *replacement(const LazyRecord *R, uint32_t vis, uint32_t member) {
    for (uint32_t i = vis; i-- > 0;)
        if (R->extras[i].replaces == member) return &R->extras[i];
    return nullptr;
}

}  // namespace

// ---- parsing lines ------------------------------------------------------------------------------

// The shape of a line indexed in full (LazyLines::learn says which): the bytes before each
// of its top-level values (the brace, the blanks, the commas, the quoted names and the
// colons) and after the last one, and each member's key. A line of the same shape — those bytes the same, in the same
// order — is indexed by comparing them and validating only its values: every byte it has
// outside its values is a byte of a line found valid, met in the same state, so the full
// scan would take them the same way (and its names are distinct, interned, unescaped). Most
// streams write every record with the same names in the same order and spacing; a line of
// another shape goes the full way, and teaches its shape.
struct LineShape {
    std::string glue;              // the segments, one after another
    std::vector<uint32_t> at;      // where segment i starts in glue; at[n]: the tail's start
    std::vector<LazyMember> keys;  // each member's key and name (the rest is the line's)
    uint32_t n = 0;                // members; 0: no shape
    uint32_t glue_len = 0;
    uint64_t streak = 0;           // lines in a row not taken by the shape
    bool fresh = false;            // learned on the line before

    // Are the bytes at p segment i's? (The text is readable past its end: SR_PADDING.)
    __attribute__((always_inline)) bool matches(const char *p, const char *end, uint32_t i) const {
        const uint32_t len = at[i + 1] - at[i];
        if (static_cast<size_t>(end - p) < len) return false;
        const char *g = glue.data() + at[i];
        if (len <= 16) return same_bytes(p, g, len);
        if (len <= 32) return same_bytes(p, g, 16) && same_bytes(p + len - 16, g + len - 16, 16);
        return std::memcmp(p, g, len) == 0;
    }
};

class LazyLines {
  public:
    FieldNamer names;
    LineShape shape;
    std::vector<LazyMember> members;
    std::vector<NameRef> nested;
    std::string scratch;
    std::string unescaped;
    std::vector<sluice_key> known;  // the keys of the last line found distinct
    uint64_t stamps[4096] = {};
    uint64_t line = 0;

    // Are the members' names distinct? (Keys, with the names of the few without one.)
    bool distinct(const LazyMember *m, uint32_t n) {
        if (n <= known.size()) {
            uint32_t i = 0;
            while (i < n && m[i].key == known[i] && m[i].key != SLUICE_NO_KEY) i++;
            if (i == n) return true;
        }
        line++;
        bool keyless = false;
        for (uint32_t i = 0; i < n; i++) {
            const sluice_key k = m[i].key;
            if (k == SLUICE_NO_KEY) {
                keyless = true;
                continue;
            }
            const uint64_t mark = (line << 20) | k;
            uint64_t &slot = stamps[k & 4095];
            if (slot == mark) return false;
            if ((slot >> 20) == line) {  // another name of this line shares the slot
                for (uint32_t j = 0; j < i; j++)
                    if (m[j].key == k) return false;
            }
            slot = mark;
        }
        if (keyless)
            for (uint32_t j = 1; j < n; j++)
                for (uint32_t i = 0; i < j; i++)
                    if (m[i].key == SLUICE_NO_KEY && m[j].key == SLUICE_NO_KEY &&
                        same_name(0, m[i].name, m[i].name_len, 0, m[j].name, m[j].name_len))
                        return false;
        known.resize(n);
        for (uint32_t i = 0; i < n; i++) known[i] = m[i].key;
        return true;
    }

    // The top-level value at v.p (no blank before it) of the line that starts at s, validated
    // and indexed into m (all but its name); v.p then just past it. False when it is bad.
    static bool member_value(Scan &v, const char *s, LazyMember &m) {
        m.off = static_cast<uint32_t>(v.p - s);
        m.reserved = 0;
        m.cache = nullptr;
        v.escaped = false;
        uint8_t kind = 0;
        uint32_t items = 0;
        if (!v.value(1, &kind, &items)) return false;
        m.kind = kind;
        m.count = items;
        m.len = static_cast<uint32_t>(v.p - s) - m.off;
        m.flags = kind == '"' && v.escaped ? kEscaped : 0;
        return true;
    }

    // Validates and indexes the line [s, s + n) (no blanks around it, readable SR_PADDING =
    // 64 bytes past its end) into `arena`: its record, or one whose fields are null when it is not sure
    // the line is a JSON object. (The record is returned, and each member built where it is
    // kept, field by field: a struct built on the stack and then copied whole is read back
    // before its stores have landed, a stall that cost a fifth of the indexing.)
    sluice_record index(sr_arena *arena, const char *s, size_t n) {
        const sluice_record refused{nullptr, 0, 0};
        if (n < 2 || n >= UINT32_MAX || *s != '{') return refused;
        bool learnable = true;  // no name escaped or without a key
        Scan v{s + 1, s + n, false, false, &nested, &scratch};
        nested.clear();
        scratch.clear();
        members.clear();
        v.ws();
        if (v.p < v.end && *v.p == '}') {
            v.p++;
        } else {
            for (;;) {
                if (v.p >= v.end || *v.p != '"') return refused;
                const char *name = ++v.p;
                v.escaped = false;
                if (!v.string()) return refused;
                size_t name_len = static_cast<size_t>(v.p - 1 - name);
                std::string_view bytes(name, name_len);
                if (v.escaped) {
                    learnable = false;
                    unescaped.resize(name_len + 16);  // readable 16 bytes on, as a name in the line
                    bytes = std::string_view(unescaped.data(), unescape(name, name_len, unescaped.data()));
                }
                v.ws();
                if (v.p >= v.end || *v.p != ':') return refused;
                v.p++;
                v.ws();
                const size_t pos = members.size();
                LazyMember &m = members.emplace_back();  // value() adds to no member list
                names.top_name_padded(arena, bytes, pos, &m.key, &m.name, &m.name_len);
                if (!member_value(v, s, m)) return refused;
                v.ws();
                if (v.p >= v.end) return refused;
                if (*v.p == ',') {
                    v.p++;
                    v.ws();
                    continue;
                }
                if (*v.p == '}') {
                    v.p++;
                    break;
                }
                return refused;
            }
        }
        if (v.p != v.end) return refused;
        uint32_t count = static_cast<uint32_t>(members.size());
        bool dup = v.dup;
        if (!distinct(members.data(), count)) {
            count = fold_duplicates(members.data(), count);
            dup = true;
            learnable = false;
        }
        if (learnable && count > 0) learn(s, n);
        return finish(arena, s, n, count, dup);
    }

    bool shaped_dup = false;  // the line just taken by its shape: a nested object named a member twice
    uint64_t shaped = 0;       // lines taken by their shape

    // Is there a shape? (A line of it needs no search for its end first.)
    bool has_shape() const { return shape.n != 0 && shapes.load(std::memory_order_relaxed); }

    // Is the shape worth trying on the next line: one of the last four was of it, or it was
    // learned on the line before? Lines of ever other shapes then pay for one try where
    // they pay for learning, one line in 16; a stream back to one shape is tried again at
    // the next learning.
    bool worth_trying() {
        const bool fresh = shape.fresh;
        shape.fresh = false;
        return shape.streak < 4 || fresh;
    }

    // The line from s (no blank before it) indexed by the shape into `members`: where the
    // shape's last byte is past, or nullptr when the text is not of that shape (or a value
    // is bad: the full scan then judges the line). `end` is the text's end, not the line's:
    // no value and no byte of the shape can be a line end, so the line has ended where the
    // shape does, if what follows is blanks and a line end. The shape's bytes and each
    // value are read exactly as the full scan of the line up to there would read them.
    const char *shaped_end(const char *s, const char *end) {
        if (static_cast<size_t>(end - s) >= UINT32_MAX) end = s + (UINT32_MAX - 1);  // offsets are 32-bit
        const char *p = s;
        members.resize(shape.n);
        Scan v{s, end, false, false, &nested, &scratch};
        nested.clear();
        scratch.clear();
        for (uint32_t i = 0; i < shape.n; i++) {
            if (!shape.matches(p, end, i)) return nullptr;
            p += shape.at[i + 1] - shape.at[i];
            LazyMember &m = members[i];
            const LazyMember &k = shape.keys[i];
            m.key = k.key;
            m.name = k.name;
            m.name_len = k.name_len;
            v.p = p;
            if (!member_value(v, s, m)) return nullptr;
            p = v.p;
        }
        // The tail: the blanks and the closing brace.
        if (!shape.matches(p, end, shape.n)) return nullptr;
        shaped_dup = v.dup;
        return p + (shape.glue_len - shape.at[shape.n]);
    }

    // The line [s, e) that shaped_end just read: its record.
    sluice_record finish_shaped(sr_arena *arena, const char *s, const char *e) {
        shape.streak = 0;
        shaped++;
        return finish(arena, s, static_cast<size_t>(e - s), shape.n, shaped_dup);
    }

    // A line was not taken by the shape (tried or not).
    void missed_shape() { shape.streak++; }

    // Takes the shape of the line just indexed in full (members distinct, named by keys)
    // when there is none, or when it is the 2nd, 4th, 8th or 16th line in a row not taken
    // by the shape, then every 16th: one odd line does not displace the shape of the lines
    // around it, lines of ever other shapes pay for learning on one line in 16 at most, and
    // a stream that settles on a new shape is taken by it within 16 lines.
    void learn(const char *s, size_t n) {
        if (!shapes.load(std::memory_order_relaxed)) return;
        const uint64_t m = shape.streak;
        if (shape.n && (m < 2 || (m <= 16 ? (m & (m - 1)) != 0 : m % 16 != 0))) return;
        const uint32_t count = static_cast<uint32_t>(members.size());
        for (uint32_t i = 0; i < count; i++)
            if (members[i].key == SLUICE_NO_KEY) return;  // its name lives in a batch's arena
        shape.glue.clear();
        shape.at.clear();
        shape.keys.clear();
        uint32_t from = 0;
        for (uint32_t i = 0; i < count; i++) {
            const LazyMember &m = members[i];
            shape.at.push_back(static_cast<uint32_t>(shape.glue.size()));
            shape.glue.append(s + from, m.off - from);
            shape.keys.push_back(m);
            from = m.off + m.len;
        }
        shape.at.push_back(static_cast<uint32_t>(shape.glue.size()));
        shape.glue.append(s + from, n - from);
        shape.glue_len = static_cast<uint32_t>(shape.glue.size());
        shape.at.push_back(shape.glue_len);
        shape.n = count;
        shape.fresh = true;
    }

    // The line's block: its index (the `count` members built), its record and the record's
    // extra slots, in one allocation.
    sluice_record finish(sr_arena *arena, const char *s, size_t n, uint32_t count, bool dup) {
        auto *t = static_cast<LazyText *>(arena_alloc(arena, line_block_bytes(count), kBlockAlign));
        t->arena = arena;
        t->text = s;
        t->len = static_cast<uint32_t>(n);
        t->n = count;
        t->flags = dup ? kDuplicate : 0;
        t->reserved = 0;
        t->flat = nullptr;
        if (count) std::memcpy(t->members(), members.data(), count * sizeof(LazyMember));
        stamp(t, arena, kTextKind, kTextMagic);
        auto *r = reinterpret_cast<LazyRecord *>(t->members() + count);
        r->text = t;
        r->extras = reinterpret_cast<Extra *>(r + 1);
        r->cap = kRoom;
        r->used = 0;
        stamp(r, arena, kRecordKind, kRecordMagic);
        return sluice_record{reinterpret_cast<const sluice_field *>(r), 0,
                             SLUICE_RECORD_HOST | view_generation(arena->generation)};
    }
};

LazyLines *lazy_lines_new() { return new LazyLines(); }
void lazy_lines_free(LazyLines *lines) { delete lines; }
uint64_t lazy_lines_shaped(const LazyLines *lines) { return lines->shaped; }

uint64_t parse_lines_lazy(LazyLines *lz, sr_parser *parser, sr_arena *arena, const char *text, size_t len,
                          const char *original, std::vector<sluice_record> &records, std::vector<sr_bad_line> &bad) {
    const char *end = text + len;
    const char *line = text;
    uint64_t number = 0;
    char err[160];
    // Handles can be trusted only in an arena with a slot in the table of generations.
    const bool lazy = arena->slot != kNoSlot;
    while (line < end) {
        if (lazy && lz->has_shape()) {
            // A line of the last shape: read by it, and its end found where the shape ends.
            if (lz->worth_trying()) {
                const char *s = line;
                while (s < end && line_blank(*s)) s++;
                if (const char *e = lz->shaped_end(s, end)) {
                    const char *after = e;
                    while (after < end && line_blank(*after)) after++;
                    if (after == end || *after == '\n') {
                        records.push_back(lz->finish_shaped(arena, s, e));
                        number++;
                        line = after == end ? end : after + 1;
                        continue;
                    }
                }
            }
            lz->missed_shape();
        }
        const char *nl = static_cast<const char *>(std::memchr(line, '\n', static_cast<size_t>(end - line)));
        const char *stop = nl ? nl : end;
        size_t n = static_cast<size_t>(stop - line);
        if (n && line[n - 1] == '\r') n--;
        const char *s = line, *e = line + n;
        while (s < e && line_blank(*s)) s++;
        while (e > s && line_blank(e[-1])) e--;
        if (s < e) {
            // (The indexed record stays in registers: one whose address the eager parser
            // takes is stored in halves and read back whole, a store-forwarding stall.)
            const sluice_record r = lazy ? lz->index(arena, s, static_cast<size_t>(e - s)) : sluice_record{nullptr, 0, 0};
            sluice_record eager{nullptr, 0, 0};
            if (r.fields) {
                records.push_back(r);
            } else if (parse_line_eager(parser, arena, line, n, &eager, err, sizeof err) == 0) {
                records.push_back(eager);  // valid, but not for the indexer to judge
            } else {
                sr_bad_line b;
                b.line = number;
                b.text = original + (line - text);
                b.len = n;
                std::memcpy(b.reason, err, sizeof b.reason);
                b.reason[sizeof b.reason - 1] = 0;
                bad.push_back(b);
            }
        }
        number++;
        line = nl ? nl + 1 : end;
    }
    return number;
}

// ---- reading --------------------------------------------------------------------------------

bool lazy_is_node(const void *items, bool *stale) {
    *stale = false;
    auto *h = static_cast<const Tagged *>(items);
    if (!h || h->magic != kNodeMagic) return false;
    auto *node = static_cast<const LazyNode *>(h);
    if (trusted(h, kNodeKind) && trusted(node->text, kTextKind)) return true;
    // A flat value's first word starts with its type (0-6): a tag of an ended batch does
    // not, but for one chance in 2^32.
    *stale = static_cast<uint32_t>(h->tag) > SLUICE_OBJECT;
    return false;
}

int lazy_get(const sluice_record &r, sluice_key key, const char *name, size_t len, sluice_value *out) {
    LazyRecord *R = record_of(r);
    if (!R) return -1;
    const bool by_key = key != SLUICE_NO_KEY;
    if (!by_key && !name) return 0;
    const uint32_t vis = visible(r, R);
    for (uint32_t i = vis; i-- > 0;) {
        const sluice_field &f = R->extras[i].f;
        if (by_key ? f.key == key : (f.name_len == len && same_bytes(f.name, name, len))) {
            *out = f.value;
            return 1;
        }
    }
    LazyText *t = R->text;
    LazyMember *m = t->members();
    for (uint32_t i = 0, n = t->n; i < n; i++) {
        if (by_key ? m[i].key == key : (m[i].name_len == len && same_bytes(m[i].name, name, len)))
            return read_member(t, m[i], out) ? 1 : -1;
    }
    return 0;
}

uint32_t lazy_count(const sluice_record &r) {
    LazyRecord *R = record_of(r);
    if (!R) return 0;
    uint32_t n = R->text->n;
    for (uint32_t i = 0, vis = visible(r, R); i < vis; i++)
        if (R->extras[i].replaces == kNone) n++;
    return n;
}

int lazy_field_at(const sluice_record &r, uint32_t i, sluice_field *out) {
    LazyRecord *R = record_of(r);
    if (!R) return -1;
    LazyText *t = R->text;
    const uint32_t vis = visible(r, R);
    if (i < t->n) {
        LazyMember &m = t->members()[i];
        out->key = m.key;
        out->name = m.name;
        out->name_len = m.name_len;
        if (const Extra *e = replacement(R, vis, i)) {
            out->value = e->f.value;
            return 1;
        }
        return read_member(t, m, &out->value) ? 1 : -1;
    }
    uint32_t k = i - t->n;
    for (uint32_t j = 0; j < vis; j++) {
        if (R->extras[j].replaces != kNone) continue;
        if (k-- == 0) {
            *out = R->extras[j].f;
            return 1;
        }
    }
    return 0;
}

int lazy_member(const sluice_value &object, sluice_key key, const char *name, size_t len, sluice_value *out) {
    LazyNode *node = node_of(object);
    if (!node || node->kind != '{') return -1;
    if (key == SLUICE_NO_KEY && !name) return 0;
    LazyMember *m = items_of(node);
    for (uint32_t i = 0; i < node->count; i++) {
        if (key != SLUICE_NO_KEY ? m[i].key == key : (m[i].name_len == len && same_bytes(m[i].name, name, len)))
            return read_member(node->text, m[i], out) ? 1 : -1;
    }
    return 0;
}

int lazy_member_at(const sluice_value &object, uint32_t i, sluice_field *out) {
    LazyNode *node = node_of(object);
    if (!node || node->kind != '{') return -1;
    if (i >= node->count) return 0;
    LazyMember &m = items_of(node)[i];
    out->key = m.key;
    out->name = m.name;
    out->name_len = m.name_len;
    return read_member(node->text, m, &out->value) ? 1 : -1;
}

int lazy_item(const sluice_value &array, uint32_t i, sluice_value *out) {
    LazyNode *node = node_of(array);
    if (!node || node->kind != '[') return -1;
    if (i >= node->count) return 0;
    return read_member(node->text, items_of(node)[i], out) ? 1 : -1;
}

// ---- the flat layout ----------------------------------------------------------------------------

int lazy_materialize(sr_arena *arena, const sluice_record &r, sluice_record *out, char *err, size_t cap) {
    LazyRecord *R = record_of(r);
    if (!R) {
        set_error(err, cap, "a record of a batch that ended");
        return -1;
    }
    materialize_record(arena, r, R, out);
    return 0;
}

bool lazy_flat(const sluice_record &r, sluice_record *out) {
    LazyRecord *R = record_of(r);
    if (!R) return false;
    materialize_record(R->text->arena, r, R, out);
    return true;
}

int lazy_materialize_value(sr_arena *arena, const sluice_value &v, sluice_value *out, char *err, size_t cap) {
    LazyNode *node = node_of(v);
    if (!node) {
        set_error(err, cap, "a value of a batch that ended");
        return -1;
    }
    LazyMember m{};
    m.off = node->off;
    m.len = node->len;
    m.count = node->count;
    m.kind = node->kind;
    build_value(arena, node->text, m, out);
    return 0;
}

// ---- emit_with and copies -------------------------------------------------------------------------

int lazy_record_with(sr_arena *arena, const sluice_record &base, const sluice_field *fresh, uint32_t nset,
                     sluice_record *out, char *err, size_t cap) {
    LazyRecord *R = record_of(base);
    if (!R) {
        set_error(err, cap, "a record of a batch that ended");
        return -1;
    }
    LazyText *t = R->text;
    const uint32_t vis = visible(base, R);
    if (arena->slot == kNoSlot) {  // no tag can be trusted there: the flat layout
        sluice_record flat;
        materialize_record(arena, base, R, &flat);
        return sr_record_with(arena, &flat, fresh, nset, out, err, cap);
    }
    // The new extras, in order; a field named twice in `set` keeps its first place.
    Extra small[8];
    std::vector<Extra> many;
    Extra *adds = small;
    if (nset > 8) {
        many.resize(nset);
        adds = many.data();
    }
    uint32_t nadd = 0;
    bool changes_visible = false;  // an extra the view sees gets a new value: a copy
    std::vector<std::pair<uint32_t, sluice_value>> changes;
    for (uint32_t i = 0; i < nset; i++) {
        const sluice_field &f = fresh[i];
        auto named = [&](const sluice_field &g) { return same_name(g.key, g.name, g.name_len, f.key, f.name, f.name_len); };
        uint32_t j = 0;
        for (; j < nadd; j++)
            if (named(adds[j].f)) break;
        if (j < nadd) {
            adds[j].f.value = f.value;
            continue;
        }
        uint32_t e = vis;
        while (e-- > 0)
            if (named(R->extras[e].f)) break;
        if (e != UINT32_MAX) {
            changes_visible = true;
            changes.emplace_back(e, f.value);
            continue;
        }
        uint32_t m = 0;
        const LazyMember *members = t->members();
        for (; m < t->n; m++)
            if (same_name(members[m].key, members[m].name, members[m].name_len, f.key, f.name, f.name_len)) break;
        adds[nadd++] = Extra{f, m < t->n ? m : kNone, 0};
    }
    // In place when the slots after the view's extras are free: claimed with one atomic
    // step, so of two stages adding to the same record one wins and the other copies.
    uint32_t expected = vis;
    if (!changes_visible && uint64_t(vis) + nadd <= R->cap && uint64_t(vis) + nadd <= kVisible &&
        (nadd == 0 || __atomic_compare_exchange_n(&R->used, &expected, vis + nadd, false, __ATOMIC_ACQ_REL,
                                                  __ATOMIC_ACQUIRE))) {
        if (nadd) std::memcpy(R->extras + vis, adds, nadd * sizeof(Extra));
        *out = sluice_record{base.fields, 0, SLUICE_RECORD_HOST | (base.flags & kViewGeneration) | (vis + nadd)};
        return 0;
    }
    uint64_t most = uint64_t(vis) + nadd;
    uint64_t room = most + (most / 2 > kRoom ? most / 2 : kRoom);
    if (most > kVisible) {
        set_error(err, cap, "a record with more than %u added fields", kVisible);
        return -1;
    }
    if (room > kVisible) room = kVisible;
    auto *copy = static_cast<LazyRecord *>(arena_alloc(arena, sizeof(LazyRecord) + room * sizeof(Extra), 16));
    copy->text = t;
    copy->extras = reinterpret_cast<Extra *>(copy + 1);
    copy->cap = static_cast<uint32_t>(room);
    if (vis) std::memcpy(copy->extras, R->extras, vis * sizeof(Extra));
    for (auto &c : changes) copy->extras[c.first].f.value = c.second;
    if (nadd) std::memcpy(copy->extras + vis, adds, nadd * sizeof(Extra));
    copy->used = static_cast<uint32_t>(most);
    stamp(copy, arena, kRecordKind, kRecordMagic);
    *out = sluice_record{reinterpret_cast<const sluice_field *>(copy), 0,
                         SLUICE_RECORD_HOST | view_generation(arena->generation) | static_cast<uint32_t>(most)};
    return 0;
}

int lazy_copy_record(const sluice_record &in, sluice_record *out, char *err, size_t cap) {
    LazyRecord *R = record_of(in);
    if (!R) {
        set_error(err, cap, "a record of a batch that ended");
        return -1;
    }
    *out = sluice_record{in.fields, 0, SLUICE_RECORD_HOST | (in.flags & kViewGeneration) | visible(in, R)};
    return 0;
}

// ---- writing ------------------------------------------------------------------------------------

int lazy_write_record_json(sr_buf *b, const sluice_record &r) {
    LazyRecord *R = record_of(r);
    if (!R) return -1;
    sluice_record flat;
    materialize_record(R->text->arena, r, R, &flat);
    return sr_write_record_json(b, &flat);
}

int64_t lazy_source_fields(const sluice_record &r) {
    LazyRecord *R = record_of(r);
    if (!R || (R->text->flags & kDuplicate) || replaces_any(R, visible(r, R))) return -1;
    return R->text->n;
}

int lazy_render_record_json(sr_buf *b, const sluice_record &r) {
    LazyRecord *R = record_of(r);
    if (!R) return -1;
    LazyText *t = R->text;
    const uint32_t vis = visible(r, R);
    if ((t->flags & kDuplicate) || replaces_any(R, vis)) return lazy_write_record_json(b, r);
    if (vis == 0) return sr_buf_append(b, t->text, t->len);
    try {
        put_with_added(b, t->text, t->len, t->n > 0, &R->extras[0].f, sizeof(Extra), vis);
    } catch (...) {
        b->failed = 1;  // out of memory
    }
    return b->failed ? -1 : 0;
}

int lazy_write_value_json(sr_buf *b, const sluice_value &v) {
    LazyNode *node = node_of(v);
    if (!node) return -1;
    sluice_value flat;
    char err[8];
    if (lazy_materialize_value(node->text->arena, v, &flat, err, sizeof err) != 0) return -1;
    return sr_write_value_json(b, &flat);
}

}  // namespace sluice_records

extern "C" int sr_lazy_shapes(int on) noexcept {
    sluice_records::shapes.store(on != 0, std::memory_order_relaxed);
    return on != 0 ? 1 : 0;
}

extern "C" int sr_lazy_wide_arrays(int on) noexcept {
#if defined(SR_WIDE_ARRAYS)
    sluice_records::wide_arrays.store(on != 0 && sluice_records::can_wide_arrays, std::memory_order_relaxed);
    return sluice_records::wide_arrays.load(std::memory_order_relaxed) ? 1 : 0;
#else
    (void)on;
    return 0;
#endif
}
