/* The floor under a plugin-function call: libffi's ffi_call from plain C, with nothing
 * around it, for the signatures rules-bench measures from expressions (int64 -> int64,
 * (double, double) -> double, (ptr, len) -> int64), beside a direct call of the same
 * function. Prints the median of ROUNDS rounds of N calls each.
 * Usage: ffi_floor [ROUNDS] */
#define _POSIX_C_SOURCE 200809L
#include <ffi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline)) int64_t ident(int64_t x) { return x; }
__attribute__((noinline)) double addd(double a, double b) { return a + b; }
__attribute__((noinline)) int64_t len(const char *s, size_t n) { return s ? (int64_t)n : -1; }

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > 100) rounds = 5;
    enum { N = 2000000 };
    ffi_cif c_int, c_dd, c_str;
    ffi_type *a_int[1] = {&ffi_type_sint64};
    ffi_type *a_dd[2] = {&ffi_type_double, &ffi_type_double};
    ffi_type *a_str[2] = {&ffi_type_pointer, &ffi_type_uint64};
    if (ffi_prep_cif(&c_int, FFI_DEFAULT_ABI, 1, &ffi_type_sint64, a_int) != FFI_OK ||
        ffi_prep_cif(&c_dd, FFI_DEFAULT_ABI, 2, &ffi_type_double, a_dd) != FFI_OK ||
        ffi_prep_cif(&c_str, FFI_DEFAULT_ABI, 2, &ffi_type_sint64, a_str) != FFI_OK) {
        fprintf(stderr, "ffi_floor: ffi_prep_cif failed\n");
        return 1;
    }
    double t[4][100];
    volatile int64_t sink = 0;
    volatile double dsink = 0;
    for (int r = 0; r < rounds; r++) {
        int64_t x = 0;
        double d = 0, e = 1;
        const char *s = "store291";
        uint64_t n = 8;
        void *v_int[1] = {&x}, *v_dd[2] = {&d, &e}, *v_str[2] = {&s, &n};
        _Alignas(16) unsigned char ret[16];
        double t0 = now_ns();
        for (int i = 0; i < N; i++) { x = i; ffi_call(&c_int, FFI_FN(ident), ret, v_int); sink += *(int64_t *)ret; }
        double t1 = now_ns();
        for (int i = 0; i < N; i++) { d = i; ffi_call(&c_dd, FFI_FN(addd), ret, v_dd); dsink += *(double *)ret; }
        double t2 = now_ns();
        for (int i = 0; i < N; i++) { n = (uint64_t)(i & 7); ffi_call(&c_str, FFI_FN(len), ret, v_str); sink += *(int64_t *)ret; }
        double t3 = now_ns();
        for (int i = 0; i < N; i++) sink += ident(i);
        double t4 = now_ns();
        t[0][r] = (t1 - t0) / N; t[1][r] = (t2 - t1) / N; t[2][r] = (t3 - t2) / N; t[3][r] = (t4 - t3) / N;
    }
    for (int k = 0; k < 4; k++) qsort(t[k], (size_t)rounds, sizeof(double), by_value);
    printf("  libffi's own ffi_call from C (the floor): int64 %.2f ns, (double, double) %.2f ns, string %.2f ns;"
           " a direct call %.2f ns\n", t[0][rounds / 2], t[1][rounds / 2], t[2][rounds / 2], t[3][rounds / 2]);
    return 0;
}
