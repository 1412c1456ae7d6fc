// Bump allocator for one batch's records: allocation is a pointer bump, release is a reset.
#include "sluice_records.h"
#include "internal.hpp"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <random>
#include <vector>

namespace {

// Allocations start this far into a chunk, so the bytes just before any allocation (where
// a fields header would be) are always the arena's own memory.
constexpr size_t kChunkLead = 64;

// The table of live generations: slot -> the generation its arena has now (0: no arena).
constexpr uint32_t kSlots = 1u << 12;
std::atomic<uint64_t> live[kSlots];
std::atomic<uint64_t> next_generation{1};
std::mutex slots_lock;
std::vector<uint32_t> free_slots;
uint32_t slots_taken = 0;

uint32_t take_slot() {
    std::lock_guard<std::mutex> guard(slots_lock);
    if (!free_slots.empty()) {
        uint32_t s = free_slots.back();
        free_slots.pop_back();
        return s;
    }
    return slots_taken < kSlots ? slots_taken++ : sluice_records::kNoSlot;
}

void give_slot(uint32_t s) {
    if (s == sluice_records::kNoSlot) return;
    live[s].store(0, std::memory_order_release);
    std::lock_guard<std::mutex> guard(slots_lock);
    free_slots.push_back(s);
}

void new_generation(sr_arena *a) {
    a->generation = next_generation.fetch_add(1, std::memory_order_relaxed);
    if (a->slot != sluice_records::kNoSlot) live[a->slot].store(a->generation, std::memory_order_release);
}

uint64_t process_secret() {
    static const uint64_t secret = [] {
        std::random_device rd;
        return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ 0x9E3779B97F4A7C15ull;
    }();
    return secret;
}

}  // namespace

uint64_t sluice_records::tag_of(const void *at, uint32_t slot, uint64_t generation) {
    return process_secret() ^ reinterpret_cast<uintptr_t>(at) ^ (generation * 0xD6E8FEB86659FD93ull) ^
           (static_cast<uint64_t>(slot) * 0x9E3779B97F4A7C15ull);
}

uint64_t sluice_records::live_generation(uint32_t slot) {
    return slot < kSlots ? live[slot].load(std::memory_order_acquire) : 0;
}

uint64_t sluice_records::arena_generation(const sr_arena *a) { return a->generation; }
uint32_t sluice_records::arena_slot(const sr_arena *a) { return a->slot; }

sluice_field *sluice_records::new_fields(sr_arena *arena, uint32_t cap, uint32_t used) {
    auto *h = static_cast<FieldsHeader *>(
        arena_alloc(arena, sizeof(FieldsHeader) + uint64_t(cap) * sizeof(sluice_field), 16));
    auto *fields = reinterpret_cast<sluice_field *>(h + 1);
    h->tag = tag_of(fields, arena->slot, arena->generation);
    h->src = nullptr;
    h->src_gen = 0;
    h->cap = cap;
    h->used = used;
    h->src_len = 0;
    h->src_fields = 0;
    h->slot = arena->slot;
    h->src_slot = kNoSlot;
    return fields;
}

sluice_records::FieldsHeader *sluice_records::fields_header(const sluice_field *fields) {
    if (!fields || (reinterpret_cast<uintptr_t>(fields) & 15) != 0) return nullptr;
    auto *h = reinterpret_cast<FieldsHeader *>(const_cast<sluice_field *>(fields)) - 1;
    uint64_t generation = live_generation(h->slot);
    if (generation == 0 || h->tag != tag_of(fields, h->slot, generation)) return nullptr;
    return h;
}

bool sluice_records::source_text(const sluice_record &r, const char **src, uint32_t *len, uint32_t *src_fields) {
    const FieldsHeader *h = fields_header(r.fields);
    if (!h || !h->src || r.nfields < h->src_fields || live_generation(h->src_slot) != h->src_gen) return false;
    *src = h->src;
    *len = h->src_len;
    *src_fields = h->src_fields;
    return true;
}

// A new chunk of `size` bytes for `a` (within its limit); throws std::bad_alloc.
static sr_arena::Chunk new_chunk(sr_arena *a, size_t size) {
    if (a->limit && (size > a->limit || a->held > a->limit - size)) throw std::bad_alloc();
    a->chunks.reserve(a->chunks.size() + 1);  // so that push_back cannot fail with the chunk in hand
    char *p = static_cast<char *>(std::malloc(size));
    if (!p) throw std::bad_alloc();
    a->held += size;
    return sr_arena::Chunk{p, size};
}

extern "C" sr_arena *sr_arena_new(size_t chunk_bytes) noexcept {
    sr_arena *a = nullptr;
    try {
        a = new sr_arena();
        a->chunk_bytes = chunk_bytes < 4096 ? 4096 : chunk_bytes;
        a->chunks.push_back(new_chunk(a, a->chunk_bytes));
    } catch (...) {
        delete a;  // its chunks are empty: nothing else to free
        return nullptr;
    }
    a->offset = kChunkLead;
    a->slot = take_slot();
    new_generation(a);
    return a;
}

extern "C" void sr_arena_set_limit(sr_arena *a, size_t max_bytes) noexcept { a->limit = max_bytes; }

extern "C" void sr_arena_free(sr_arena *a) noexcept {
    if (!a) return;
    give_slot(a->slot);
    for (auto &c : a->chunks) std::free(c.data);
    delete a;
}

extern "C" void sr_arena_reset(sr_arena *a) noexcept {
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
        a->chunks.assign(1, keep);  // fewer than it holds: no allocation
        a->held = keep.size;
    }
    a->current = 0;
    a->offset = kChunkLead;
    a->used = 0;
    new_generation(a);
}

void *sluice_records::arena_grow(sr_arena *a, size_t bytes, size_t align) {
    // Sizes come from counts a plugin or a worker gave: never let them wrap.
    if (bytes > (SIZE_MAX >> 2) || align == 0 || align > 4096 || (align & (align - 1)) != 0) throw std::bad_alloc();
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
            a->offset = kChunkLead;
            continue;
        }
        size_t size = a->chunk_bytes;
        while (size < bytes + align + kChunkLead) size *= 2;
        a->chunks.push_back(new_chunk(a, size));
        a->current = a->chunks.size() - 1;
        a->offset = kChunkLead;
    }
}

extern "C" void *sr_arena_alloc(sr_arena *a, size_t bytes, size_t align) noexcept {
    return sluice_records::guard<void *>(nullptr, [&] { return sluice_records::arena_grow(a, bytes, align); });
}

extern "C" size_t sr_arena_used(const sr_arena *a) noexcept { return a->used; }

const char *sluice_records::arena_strdup(sr_arena *a, const char *s, size_t len) {
    if (len == SIZE_MAX) throw std::bad_alloc();
    char *p = static_cast<char *>(arena_alloc(a, len + 1, 1));
    if (len) std::memcpy(p, s, len);
    p[len] = 0;
    return p;
}

extern "C" const char *sr_arena_strdup(sr_arena *a, const char *s, size_t len) noexcept {
    return sluice_records::guard<const char *>(nullptr, [&] { return sluice_records::arena_strdup(a, s, len); });
}

extern "C" int64_t sr_record_source_fields(const sluice_record *record) noexcept {
    if (record && sr_is_handle(record)) return sluice_records::lazy_source_fields(*record);
    const char *src;
    uint32_t len, held;
    return record && sluice_records::source_text(*record, &src, &len, &held) ? int64_t(held) : -1;
}
