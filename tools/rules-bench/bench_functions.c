/* The rules benchmark's plugin functions: trivial bodies, so what is measured is the
 * call through libffi from an expression. */
#include <sluice_plugin.h>

SLUICE_EXPORT int64_t bench_ident(int64_t x) { return x; }
SLUICE_EXPORT double bench_add(double a, double b) { return a + b; }
SLUICE_EXPORT int64_t bench_len(const char *s, size_t len) { (void)s; return (int64_t)len; }

static const sluice_plugin BENCH = {
    .size = sizeof(sluice_plugin), .type = SLUICE_FUNCTIONS, .name = "BenchFunctions", .version = "1.0.0",
};
SLUICE_DEFINE_LIBRARY(&BENCH)
