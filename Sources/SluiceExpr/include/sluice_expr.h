/*
 * sluice_expr.h — the expression evaluator and the built-in rule stages (C interface, C++
 * inside). The language is documented in docs/expressions.md.
 *
 * The engine parses and checks an expression (Sources/SluiceEngine/Expressions) and builds
 * it here, node by node, into a program: a tree over interned keys with its constants,
 * compiled regexes and prepared plugin functions. Evaluating a node reads the record in
 * place and allocates nothing once the program's scratch memory has grown to the largest
 * intermediate string it needed. Evaluating recurses once per level of the tree: the engine
 * refuses an expression deeper than 200 levels before building it (Parser.maxDepth), so
 * the stack a program needs is bounded.
 *
 * Nothing here throws across the interface (C++ callers: every function is noexcept). When
 * memory runs out: sx_program_new and sx_function_new give NULL (the latter with "out of
 * memory" in `err`), sx_regex -1 with the reason; a node builder (sx_const … sx_call_function)
 * gives SX_NONE and marks the program failed (sx_program_failed): such a program must not
 * be used — sx_eval then gives null and sx_eval_bool 0, and the stage constructors give
 * NULL; evaluating gives null (sx_eval), 0 (sx_eval_bool) or no text (sx_text); the
 * built-in stages fail the batch with "out of memory while evaluating expressions".
 *
 * Values are sluice_value: null (also for a missing field), bool, int, double, string,
 * array, object. The Filter, Derive and AlertRule stages are plugins of this host's own
 * library (sx_builtin_library): the engine drives them through the plugin ABI like any
 * other, so their output, errors and alerts take the same paths.
 */
#ifndef SLUICE_EXPR_H
#define SLUICE_EXPR_H

#include <sluice_plugin.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define SX_NOEXCEPT noexcept
extern "C" {
#else
#define SX_NOEXCEPT
#endif

typedef struct sx_program sx_program;
typedef struct sx_function sx_function;

/** No node: an optional operand left out. */
#define SX_NONE 0xffffffffu

/* Operators (sx_op). */
enum {
    SX_NEG = 1, SX_NOT,
    SX_ADD, SX_SUB, SX_MUL, SX_DIV, SX_MOD,
    SX_EQ, SX_NE, SX_LT, SX_LE, SX_GT, SX_GE,
    SX_AND, SX_OR, SX_IN,
    SX_COND, /* a ? b : c */
};

/* Built-in functions (sx_call). Argument counts are checked by the engine. */
enum {
    SX_SIZE = 1, SX_EXISTS, SX_IS_NULL, SX_IS_NUMBER, SX_IS_INT, SX_IS_STRING, SX_IS_BOOL,
    SX_IS_ARRAY, SX_IS_OBJECT,
    SX_STARTS_WITH, SX_ENDS_WITH, SX_CONTAINS, SX_LOWER, SX_UPPER, SX_MATCHES,
    SX_NOW, SX_ABS, SX_MIN, SX_MAX, SX_ROUND, SX_FLOOR, SX_CEIL,
    SX_STRING, SX_NUMBER, SX_INT, SX_COALESCE,
    SX_PREVIOUS, SX_CHANGED,
};

/* The C types a plugin function takes and returns (sluice_plugin.h, section 7). */
enum {
    SX_T_BOOL = 1, SX_T_INT32, SX_T_INT64, SX_T_UINT32, SX_T_UINT64, SX_T_FLOAT, SX_T_DOUBLE,
    SX_T_STRING,
};

/* ---- plugin functions -------------------------------------------------------------------- */

/** Prepares calls of the C function at `fn` (an ffi_cif, built once). `label` names it in
 *  messages ("Geo.distanceMeters"). NULL with the reason in `err` when libffi refuses. */
sx_function *sx_function_new(void *fn, const uint32_t *args, uint32_t nargs, uint32_t returns,
                             const char *label, char *err, size_t err_cap) SX_NOEXCEPT;

/* ---- building a program --------------------------------------------------------------- */

sx_program *sx_program_new(void) SX_NOEXCEPT;
void sx_program_free(sx_program *program) SX_NOEXCEPT;

/** A constant (deep-copied into the program). */
uint32_t sx_const(sx_program *p, const sluice_value *value) SX_NOEXCEPT;
/** A top-level field of the record. `key` may be SLUICE_NO_KEY: then it is found by name. */
uint32_t sx_field(sx_program *p, sluice_key key, const char *name, size_t len) SX_NOEXCEPT;
/** A member of the object `object` evaluates to. */
uint32_t sx_member(sx_program *p, uint32_t object, sluice_key key, const char *name, size_t len) SX_NOEXCEPT;
/** `base[index]`: an array element (negative counts from the end) or an object member. */
uint32_t sx_index(sx_program *p, uint32_t base, uint32_t index) SX_NOEXCEPT;
/** An operator with one (SX_NEG, SX_NOT), two or three (SX_COND) operands. */
uint32_t sx_op(sx_program *p, uint32_t op, uint32_t a, uint32_t b, uint32_t c) SX_NOEXCEPT;
/** A list built from the values of `items`. */
uint32_t sx_list(sx_program *p, const uint32_t *items, uint32_t n) SX_NOEXCEPT;
/** A built-in function. SX_MATCHES takes its pattern from `regex` (sx_regex); SX_PREVIOUS
 *  and SX_CHANGED each get a memory of their own. */
uint32_t sx_call(sx_program *p, uint32_t builtin, const uint32_t *args, uint32_t n, int32_t regex) SX_NOEXCEPT;
/** A plugin function, with one argument node per declared argument. */
uint32_t sx_call_function(sx_program *p, const sx_function *f, const uint32_t *args, uint32_t n) SX_NOEXCEPT;
/** The memory one compiled pattern may use (RE2's max_mem: its program and the cache it
 *  matches with), and the most instructions its program may have (matching time grows with
 *  them, linearly: docs/expressions.md); a pattern needing more is refused. */
#define SX_REGEX_MAX_MEM (1 << 20)
#define SX_REGEX_MAX_PROGRAM 10000
/** A program's budget for all its matches() calls: the memory of its different patterns
 *  (each compiled once, counted at SX_REGEX_MAX_MEM: 64 patterns), and the instructions of
 *  every call's pattern added up (a call costs up to a step per instruction per byte of its
 *  value, even when its pattern is another call's), so that one record's matches take at
 *  most about SX_REGEX_MAX_PROGRAM_TOTAL × 5 ns per byte of the values matched. */
#define SX_REGEX_MAX_MEM_TOTAL (64 << 20)
#define SX_REGEX_MAX_PROGRAM_TOTAL 20000
/** The pattern of one matches() call: an RE2 regular expression (docs/expressions.md: no
 *  backreferences or lookaround; matched in time linear in the value's length), compiled
 *  once per program however many calls use it. Its number, or -1 with the whole message in
 *  `err`: RE2's reason with a hint; a construct a POSIX (glibc) pattern means differently
 *  ({,n}, \<, \>, \`, \', +?, {n}?, [.a.], [=a=], a backslash inside [ ] other than
 *  \\ and the class escapes \d \w \s \p and their capitals); or the program's budget
 *  spent. */
int32_t sx_regex(sx_program *p, const char *pattern, size_t len, char *err, size_t err_cap) SX_NOEXCEPT;
/** Bounds the memory of previous() and changed(): at most `max_keys` keys per call site
 *  (the least recently seen go first), each forgotten `ttl_ms` after it was last seen
 *  (0: never). */
void sx_program_set_state(sx_program *p, uint64_t max_keys, uint64_t ttl_ms) SX_NOEXCEPT;
/** Keys forgotten to keep within max_keys since the last call (the count is reset). */
uint64_t sx_program_take_evicted(sx_program *p) SX_NOEXCEPT;
/** 1 when a node could not be built (memory ran out): the program must not be used. */
int sx_program_failed(const sx_program *p) SX_NOEXCEPT;

/* ---- evaluating ----------------------------------------------------------------------- */

/** Sets what now() returns (milliseconds since 1970); stages set it once per batch. */
void sx_program_set_now(sx_program *p, int64_t now_ms) SX_NOEXCEPT;
/** The value of node `root` for `record`. Strings it made are valid until the next
 *  evaluation in this program. */
sluice_value sx_eval(sx_program *p, uint32_t root, const sluice_record *record) SX_NOEXCEPT;
/** 1 when node `root` is true for `record` (anything but the boolean true is not). */
int sx_eval_bool(sx_program *p, uint32_t root, const sluice_record *record) SX_NOEXCEPT;
/** The value as alert-payload text: strings as they are, numbers as sr_format_number,
 *  booleans as true/false, arrays and objects as JSON. Returns 0 for null (no text). */
int sx_text(sx_program *p, const sluice_value *value, sluice_str *out) SX_NOEXCEPT;

/* ---- the built-in stages ---------------------------------------------------------------- */

/** The host's own plugin library: Filter, Derive and AlertRule (transforms). Their create()
 *  refuses: the engine makes their instances from checked programs with the functions
 *  below and hands them to the ABI as if create() had. */
const sluice_library *sx_builtin_library(void) SX_NOEXCEPT;

typedef struct sx_stage sx_stage;
/** Filter: keeps the records for which `where` is true; the others go to its "rejected"
 *  output port (emit_to) while a connection takes it, counted as "rejected", and are
 *  otherwise counted as "dropped". */
sx_stage *sx_filter_new(sx_program *p, uint32_t where) SX_NOEXCEPT;
/** Derive: sets field names[i] (keys[i]) to the value of roots[i], in order. */
sx_stage *sx_derive_new(sx_program *p, const sluice_key *keys, const char *const *names, const uint32_t *roots,
                        uint32_t n) SX_NOEXCEPT;
/** AlertRule: passes every record on; raises an alert with payload names[i] → text of
 *  roots[i] for each record where `when` is true (n == 0: the record's own fields). */
sx_stage *sx_rule_new(sx_program *p, uint32_t when, const char *const *names, const uint32_t *roots, uint32_t n) SX_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#undef SX_NOEXCEPT

#endif
