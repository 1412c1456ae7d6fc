// Checks a message value with simdjson, the parser the host itself parses records with, so
// that a value the host would refuse is sent to the error port by KafkaSource in its own
// shape ({topic, partition, offset, text}) instead of reaching the host's JSON Lines parser.
#include "json_check.h"

#include <simdjson.h>

#include <cstdio>
#include <new>

namespace {
// The host parses records at most 513 levels deep: the record's own object and 512 levels
// below it (Sources/SluiceRecords/parse.cpp, kMaxDepth). simdjson counts the record's
// object as a level.
constexpr size_t kMaxLevels = 513;
}  // namespace

struct kjson_checker {
    simdjson::dom::parser parser;
};

extern "C" kjson_checker *kjson_checker_new(void) {
    auto *c = new (std::nothrow) kjson_checker();
    if (c && c->parser.allocate(4096, kMaxLevels) != simdjson::SUCCESS) {
        delete c;
        return nullptr;
    }
    return c;
}

extern "C" void kjson_checker_free(kjson_checker *c) { delete c; }

extern "C" int kjson_check_object(kjson_checker *c, const char *text, size_t len, char *why, size_t cap) {
    try {
        simdjson::dom::element doc;
        auto err = c->parser.parse(text, len, true).get(doc);
        if (err == simdjson::DEPTH_ERROR) {
            std::snprintf(why, cap, "invalid JSON: nesting deeper than %zu levels", kMaxLevels - 1);
            return -1;
        }
        if (err) {
            std::snprintf(why, cap, "invalid JSON: %s", simdjson::error_message(err));
            return -1;
        }
        if (doc.type() != simdjson::dom::element_type::OBJECT) {
            std::snprintf(why, cap, "not a JSON object");
            return -1;
        }
        return 0;
    } catch (...) {
        std::snprintf(why, cap, "out of memory checking a %zu-byte value", len);
        return -2;
    }
}
