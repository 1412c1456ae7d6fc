// Shared between the files of this module; not part of its C interface.
#pragma once
#include "sluice_records.h"

#include <cstring>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice_records {

// A per-parser (single-thread) cache in front of the global key table, so the hot path
// of parsing takes no lock.
class KeyCache {
  public:
    sluice_key get(std::string_view name);

  private:
    std::unordered_map<std::string_view, sluice_key> cache_;
};

// True when `key` is interned for exactly this name.
bool key_matches(sluice_key key, const char *name, size_t len);

// Equal bytes? Inlined for the short names records have, where a call to memcmp costs
// more than the compare.
inline bool same_bytes(const char *a, const char *b, size_t n) {
    if (n > 32) return std::memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

// Parses the JSON Lines of `text` (`len` bytes with SR_PADDING readable bytes after them, a
// copy of `original`) into `records`, and the lines that are not JSON objects into `bad`
// (their text pointing into `original`, their line numbers from 0). Returns the number of
// lines, blank ones included.
uint64_t parse_lines(sr_parser *parser, sr_arena *arena, const char *text, size_t len, const char *original,
                     std::vector<sluice_record> &records, std::vector<sr_bad_line> &bad);

// How many times the arena was reset.
uint64_t arena_generation(const sr_arena *arena);

}  // namespace sluice_records

struct sr_arena {
    struct Chunk {
        char *data;
        size_t size;
    };
    std::vector<Chunk> chunks;  // chunks[0..current] are in use
    size_t current = 0;
    size_t offset = 0;          // within chunks[current]
    size_t chunk_bytes;
    size_t used = 0;
    uint64_t generation = 0;    // counts resets: memory of an earlier batch is never trusted
};

namespace sluice_records {

// sr_arena_alloc with its common case (the current chunk has room) inlined.
inline void *arena_alloc(sr_arena *a, size_t bytes, size_t align) {
    const sr_arena::Chunk &c = a->chunks[a->current];
    size_t start = (a->offset + (align - 1)) & ~(align - 1);
    if (start + bytes <= c.size && start + bytes >= start) {
        a->offset = start + bytes;
        a->used += bytes;
        return c.data + start;
    }
    return sr_arena_alloc(a, bytes, align);
}

// Writes a NUL-terminated message into a caller's buffer.
void set_error(char *err, size_t cap, const char *fmt, ...);

}  // namespace sluice_records
