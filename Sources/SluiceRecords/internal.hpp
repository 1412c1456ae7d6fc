// Shared between the files of this module; not part of its C interface.
#pragma once
#include "sluice_records.h"

#include <string_view>
#include <unordered_map>

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

// Writes a NUL-terminated message into a caller's buffer.
void set_error(char *err, size_t cap, const char *fmt, ...);

}  // namespace sluice_records
