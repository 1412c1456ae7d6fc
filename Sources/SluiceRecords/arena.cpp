// Bump allocator for one batch's records: allocation is a pointer bump, release is a reset.
#include "sluice_records.h"
#include "internal.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

uint64_t sluice_records::arena_generation(const sr_arena *a) { return a->generation; }

static sr_arena::Chunk new_chunk(size_t size) {
    char *p = static_cast<char *>(std::malloc(size));
    if (!p) throw std::bad_alloc();
    return sr_arena::Chunk{p, size};
}

extern "C" sr_arena *sr_arena_new(size_t chunk_bytes) {
    auto *a = new sr_arena();
    a->chunk_bytes = chunk_bytes < 4096 ? 4096 : chunk_bytes;
    a->chunks.push_back(new_chunk(a->chunk_bytes));
    return a;
}

extern "C" void sr_arena_free(sr_arena *a) {
    if (!a) return;
    for (auto &c : a->chunks) std::free(c.data);
    delete a;
}

extern "C" void sr_arena_reset(sr_arena *a) {
    // Keep the chunks the batch used, up to kKeepBytes, so a steady workload stops
    // allocating (and the kernel stops handing out fresh zeroed pages at every batch);
    // past that, keep only the largest, so one huge batch does not hold memory for ever.
    constexpr size_t kKeepBytes = 64u << 20;
    size_t kept = 0;
    for (auto &c : a->chunks) kept += c.size;
    if (kept > kKeepBytes && a->chunks.size() > 1) {
        size_t best = 0;
        for (size_t i = 1; i < a->chunks.size(); i++)
            if (a->chunks[i].size > a->chunks[best].size) best = i;
        sr_arena::Chunk keep = a->chunks[best];
        for (size_t i = 0; i < a->chunks.size(); i++)
            if (i != best) std::free(a->chunks[i].data);
        a->chunks.assign(1, keep);
    }
    a->current = 0;
    a->offset = 0;
    a->used = 0;
    a->generation++;
}

extern "C" void *sr_arena_alloc(sr_arena *a, size_t bytes, size_t align) {
    // Sizes come from counts a plugin or a worker gave: never let them wrap.
    if (bytes > (SIZE_MAX >> 2) || align == 0 || align > 4096) throw std::bad_alloc();
    for (;;) {
        sr_arena::Chunk &c = a->chunks[a->current];
        size_t start = (a->offset + (align - 1)) & ~(align - 1);
        if (start + bytes <= c.size) {
            a->offset = start + bytes;
            a->used += bytes;
            return c.data + start;
        }
        if (a->current + 1 < a->chunks.size()) {
            a->current++;
            a->offset = 0;
            continue;
        }
        size_t size = a->chunk_bytes;
        while (size < bytes + align) size *= 2;
        a->chunks.push_back(new_chunk(size));
        a->current = a->chunks.size() - 1;
        a->offset = 0;
    }
}

extern "C" size_t sr_arena_used(const sr_arena *a) { return a->used; }

extern "C" const char *sr_arena_strdup(sr_arena *a, const char *s, size_t len) {
    char *p = static_cast<char *>(sr_arena_alloc(a, len + 1, 1));
    if (len) std::memcpy(p, s, len);
    p[len] = 0;
    return p;
}
