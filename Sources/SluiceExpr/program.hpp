// A compiled expression program: its nodes, constants, regexes, memories and scratch.
// Shared by the files of this module; not part of its C interface.
#pragma once
#include "sluice_expr.h"

#include <deque>
#include <list>
#include <memory>
#include <re2/re2.h>
#include <string>
#include <unordered_map>
#include <vector>

namespace sluice_expr {

enum NodeKind : uint32_t { CONST, FIELD, MEMBER, INDEX, OP, LIST, CALL, FUNCTION };

struct Node;
// How a node is evaluated: chosen once, when the node is added (choose()), so evaluation
// is a chain of direct calls of functions made for the node's shape — no dispatch on the
// node's kind per record.
using EvalFn = sluice_value (*)(sx_program *p, const Node &n, const sluice_record *r);

struct Node {
    NodeKind kind;
    uint32_t op = 0;        // OP: the operator; CALL: the built-in
    uint32_t a = SX_NONE, b = SX_NONE, c = SX_NONE;
    uint32_t args = 0, nargs = 0;  // LIST, CALL, FUNCTION: positions in Program::args
    sluice_key key = SLUICE_NO_KEY;  // FIELD, MEMBER
    const char *name = nullptr;      // FIELD, MEMBER (owned by the program)
    uint32_t name_len = 0;
    int32_t aux = -1;                // CALL: regex or memory number
    const sx_function *function = nullptr;
    sluice_value value{};            // CONST
    EvalFn fn = nullptr;
};

// Sets n.fn for the node's shape; its operands are already in p->nodes.
void choose(sx_program *p, Node &n);

// The memory of one previous() / changed() call site: key text → the value last seen.
class Memory {
  public:
    struct Entry {
        std::string key;
        sluice_value value{};
        std::string text;  // the value's bytes when it is a string (or JSON text)
        int64_t seen_ms = 0;
    };
    // The value last stored for `key` (nullptr: none, or expired), then stores `value`.
    const Entry *swap(const std::string &key, const sluice_value &value, int64_t now_ms, uint64_t max_keys,
                      uint64_t ttl_ms, uint64_t &evicted, Entry &previous);

  private:
    std::list<Entry> order_;  // least recently seen first
    std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

// Growable scratch for strings made during one evaluation: chunks are kept, so after the
// first records nothing is allocated. One evaluation may make at most `max_bytes` of them:
// past that alloc gives nullptr and the value being made is null (a balanced tree of
// `s + s` over a large field would otherwise ask for gigabytes).
class Scratch {
  public:
    static constexpr size_t max_bytes = size_t(64) << 20;
    char *alloc(size_t n);
    void reset() {
        chunk_ = 0;
        used_ = 0;
        total_ = 0;
    }

  private:
    std::vector<std::unique_ptr<char[]>> chunks_;
    std::vector<size_t> sizes_;
    size_t chunk_ = 0, used_ = 0, total_ = 0;
};

}  // namespace sluice_expr

struct sx_program {
    std::vector<sluice_expr::Node> nodes;
    std::vector<uint32_t> args;
    std::deque<std::string> strings;          // names and constant text
    std::deque<std::vector<sluice_value>> arrays;  // constant lists
    std::deque<std::vector<sluice_field>> objects;
    std::vector<std::unique_ptr<re2::RE2>> regexes;  // matches() patterns (sx_regex), each once
    std::unordered_map<std::string, int32_t> regex_numbers;  // a pattern's text → its number
    uint64_t regex_instructions = 0;  // the program sizes of every matches() call's pattern, added up
    std::vector<sluice_expr::Memory> memories;
    uint64_t max_keys = 100000, ttl_ms = 0, evicted = 0;
    int64_t now_ms = 0;
    sluice_expr::Scratch scratch;
    std::vector<sluice_value> list_scratch;  // values of non-constant lists
    std::string text;                        // sx_text's buffer
    bool failed = false;                     // a node could not be built (out of memory)

    ~sx_program();
    uint32_t add(sluice_expr::Node n) {
        sluice_expr::choose(this, n);
        nodes.push_back(n);
        return static_cast<uint32_t>(nodes.size() - 1);
    }
    const char *keep(const char *s, size_t len) {
        strings.emplace_back(s ? s : "", s ? len : 0);
        return strings.back().c_str();
    }
    sluice_value deep_copy(const sluice_value &v);
};

namespace sluice_expr {
// Evaluates node `i` (the scratch is not reset).
inline sluice_value eval(sx_program *p, uint32_t i, const sluice_record *r) {
    const Node &n = p->nodes[i];
    return n.fn(p, n, r);
}
// Evaluates node `i` as a condition: true only for the boolean true.
inline bool test(sx_program *p, uint32_t i, const sluice_record *r) {
    sluice_value v = eval(p, i, r);
    return v.type == SLUICE_BOOL && v.as.b;
}
// A plugin function's node (its arguments evaluated and converted, then the call).
sluice_value ev_function(sx_program *p, const Node &n, const sluice_record *r);
// Deep equality: numbers by value, null equals only null.
bool equal(const sluice_value &a, const sluice_value &b);
// A value as text for payloads, keys and string(): false for null.
bool to_text(sx_program *p, const sluice_value &v, std::string &out);
}  // namespace sluice_expr
