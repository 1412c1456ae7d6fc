/* A functions-only library for the expression tests: one function per C type the host
 * converts through libffi. */
#include <sluice_plugin.h>

SLUICE_EXPORT int64_t calc_add(int64_t a, int64_t b) { return a + b; }
SLUICE_EXPORT uint8_t calc_not(uint8_t b) { return b ? 0 : 1; }
SLUICE_EXPORT double calc_half(double d) { return d / 2; }
SLUICE_EXPORT uint64_t calc_area(int32_t w, uint32_t h) { return (uint64_t)((int64_t)w * (int64_t)h); }
SLUICE_EXPORT float calc_scale(float x, uint64_t k) { return x * (float)k; }

/* The text upper-cased (ASCII) with "!" appended, in a buffer of this thread. */
SLUICE_EXPORT sluice_str calc_shout(const char *s, size_t len) {
    static _Thread_local char buf[256];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    for (size_t i = 0; i < n; i++) buf[i] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 32) : s[i];
    buf[n] = '!';
    sluice_str r = {buf, n + 1};
    return r;
}
/* No value. */
SLUICE_EXPORT sluice_str calc_nothing(const char *s, size_t len) {
    (void)s;
    (void)len;
    sluice_str r = {NULL, 0};
    return r;
}
/* Ten times the byte length: declared as "size", which only Calc.size reaches. */
SLUICE_EXPORT int64_t calc_size(const char *s, size_t len) {
    (void)s;
    return (int64_t)len * 10;
}
static const sluice_plugin CALC = {
    .size = sizeof(sluice_plugin), .type = SLUICE_FUNCTIONS, .name = "Calc", .version = "1.0.0",
};
SLUICE_DEFINE_LIBRARY(&CALC)
