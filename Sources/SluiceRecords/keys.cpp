// The process-wide table of interned field names. Reads are lock-free: entries are
// published in fixed chunks before the count that makes them visible.
#include "sluice_records.h"
#include "internal.hpp"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace {
constexpr uint32_t kChunkBits = 12;
constexpr uint32_t kChunkSize = 1u << kChunkBits;
constexpr uint32_t kChunks = SR_MAX_KEYS / kChunkSize;

struct Entry {
    const char *name;
    uint32_t len;
};

struct Table {
    std::mutex lock;
    std::unordered_map<std::string_view, sluice_key> index;
    std::atomic<Entry *> chunks[kChunks] = {};
    std::atomic<uint32_t> count{1};  // key 0 is SLUICE_NO_KEY
};

sluice_key (*resolver)(const char *, size_t) = nullptr;

Table &table() {
    static Table *t = new Table();  // never destroyed: keys live as long as the process
    return *t;
}
}  // namespace

extern "C" sluice_key sr_intern(const char *name, size_t len) noexcept try {
    Table &t = table();
    std::lock_guard<std::mutex> guard(t.lock);
    auto it = t.index.find(std::string_view(name, len));
    if (it != t.index.end()) return it->second;
    if (len > UINT32_MAX) return SLUICE_NO_KEY;
    uint32_t key = t.count.load(std::memory_order_relaxed);
    if (resolver) {
        // A worker: the host's number for the name, stored at that number.
        key = resolver(name, len);
        if (key == SLUICE_NO_KEY || key >= SR_MAX_KEYS) return SLUICE_NO_KEY;
        Entry *known = t.chunks[key >> kChunkBits].load(std::memory_order_relaxed);
        if (known && known[key & (kChunkSize - 1)].name) return SLUICE_NO_KEY;  // taken: the host is confused
    }
    if (key >= SR_MAX_KEYS) return SLUICE_NO_KEY;
    // Everything that can run out of memory comes before anything is stored, so a name
    // that could not be interned leaves the table as it was.
    std::unique_ptr<char[]> copy(new char[len + 1]);
    if (len) std::memcpy(copy.get(), name, len);
    copy[len] = 0;
    uint32_t c = key >> kChunkBits;
    Entry *chunk = t.chunks[c].load(std::memory_order_relaxed);
    if (!chunk) {
        chunk = new Entry[kChunkSize]();
        t.chunks[c].store(chunk, std::memory_order_release);
    }
    t.index.emplace(std::string_view(copy.get(), len), key);
    chunk[key & (kChunkSize - 1)] = Entry{copy.release(), static_cast<uint32_t>(len)};
    if (key + 1 > t.count.load(std::memory_order_relaxed)) t.count.store(key + 1, std::memory_order_release);
    return key;
} catch (...) {
    return SLUICE_NO_KEY;  // out of memory
}

extern "C" void sr_intern_set_resolver(sluice_key (*resolve)(const char *, size_t)) noexcept {
    std::lock_guard<std::mutex> guard(table().lock);
    resolver = resolve;
}

extern "C" const char *sr_key_name(sluice_key key, uint32_t *len) noexcept {
    Table &t = table();
    if (key == SLUICE_NO_KEY || key >= t.count.load(std::memory_order_acquire)) return nullptr;
    Entry *chunk = t.chunks[key >> kChunkBits].load(std::memory_order_acquire);
    if (!chunk) return nullptr;  // a worker's table has gaps
    const Entry &e = chunk[key & (kChunkSize - 1)];
    if (!e.name) return nullptr;
    if (len) *len = e.len;
    return e.name;
}

extern "C" uint32_t sr_key_count(void) noexcept { return table().count.load(std::memory_order_acquire) - 1; }

namespace sluice_records {

sluice_key KeyCache::get(std::string_view name) {
    auto it = cache_.find(name);
    if (it != cache_.end()) return it->second;
    sluice_key key = sr_intern(name.data(), name.size());
    if (key == SLUICE_NO_KEY) return key;
    uint32_t len = 0;
    const char *stable = sr_key_name(key, &len);
    cache_.emplace(std::string_view(stable, len), key);
    return key;
}

}  // namespace sluice_records
