/*
 * Checks the typed property helpers of sluice_plugin.h (sluice_property_int64, _double,
 * _bool, _copy) without a host: a context holding the property, an emitter whose fail()
 * records the message. Built with plain `cc -std=c99 -Wall -Wextra -Werror -pedantic`
 * (PropertyHelperTests), also with the sanitizers when the compiler has them.
 *
 * Every value is laid out so that its last byte is the last byte of a readable page,
 * followed by a page that may not be read: a helper reading one byte past the slice (which
 * is not NUL-terminated) crashes the program. A few values are slices of longer text.
 *
 * Prints one line per failed check and "N checks, M failed"; exits 1 when any failed.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <sluice_plugin.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int checks, failures;

/* ---- the fake host ------------------------------------------------------------------- */

static char failed_message[4096];
static int fail_calls;

static void record_fail(void *ctx, const char *message, size_t len) {
    (void)ctx;
    fail_calls++;
    if (len >= sizeof failed_message) len = sizeof failed_message - 1;
    memcpy(failed_message, message, len);
    failed_message[len] = '\0';
}

static sluice_emitter make_emitter(void) {
    sluice_emitter out;
    memset(&out, 0, sizeof out);
    out.size = sizeof out;
    out.fail = record_fail;
    return out;
}

static long page_size;
/* Readable pages, each followed by one that is not: for values, and for copy's buffers. */
static char *value_page, *buffer_page;

static char *guarded_page(void) {
    char *pages = mmap(NULL, (size_t)page_size * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
    if (pages == MAP_FAILED || mprotect(pages + page_size, (size_t)page_size, PROT_NONE) != 0) {
        perror("mmap");
        _exit(2);
    }
    return pages;
}

static void setup_guard(void) {
    page_size = sysconf(_SC_PAGESIZE);
    value_page = guarded_page();
    buffer_page = guarded_page();
}

/* `len` bytes of `text` ending exactly where the readable page ends. */
static const char *at_page_end(const char *text, size_t len) {
    char *p = value_page + page_size - (long)len;
    memcpy(p, text, len);
    return p;
}

/* A context with a decoy property and, unless value is NULL, property "p" = the first
   `len` bytes of value (at the page's end, or inside `value` itself when `in_place`). */
typedef struct {
    sluice_kv kv[2];
    sluice_context ctx;
} fake_context;

static const sluice_context *make_context(fake_context *f, const char *value, size_t len, int in_place) {
    memset(f, 0, sizeof *f);
    f->kv[0].key = SLUICE_LIT("pp");
    f->kv[0].value = SLUICE_LIT("decoy");
    f->ctx.size = sizeof f->ctx;
    f->ctx.nproperties = 1;
    f->ctx.properties = f->kv;
    if (value != NULL) {
        f->kv[1].key = SLUICE_LIT("p");
        f->kv[1].value.ptr = in_place ? value : at_page_end(value, len);
        f->kv[1].value.len = len;
        f->ctx.nproperties = 2;
    }
    fail_calls = 0;
    failed_message[0] = '\0';
    return &f->ctx;
}

/* ---- checking ------------------------------------------------------------------------ */

static void failed(int line, const char *what) {
    failures++;
    printf("FAIL line %d: %s\n", line, what);
}

/* The status, and the message fail() got: exactly `message` on error, no call when OK. */
static int check_outcome(int line, sluice_status got, sluice_status want, const char *message) {
    char why[8192];
    checks++;
    if (got != want) {
        snprintf(why, sizeof why, "status %d, expected %d (message: %s)", (int)got, (int)want, failed_message);
        failed(line, why);
        return 0;
    }
    if (want == SLUICE_OK && fail_calls != 0) {
        snprintf(why, sizeof why, "SLUICE_OK but fail() was called: %s", failed_message);
        failed(line, why);
        return 0;
    }
    if (want == SLUICE_ERROR && (fail_calls != 1 || strcmp(failed_message, message) != 0)) {
        snprintf(why, sizeof why, "fail() called %d times with\n    %s\n  expected\n    %s", fail_calls,
                 failed_message, message);
        failed(line, why);
        return 0;
    }
    return 1;
}

/* A value set as a string literal (embedded NULs included), or not set. */
#define SET(literal) literal, sizeof(literal) - 1, 0
#define SLICE(text, n) text, n, 1
#define UNSET NULL, 0, 0

static void int64_case(int line, const char *value, size_t len, int in_place, int64_t def, sluice_status want,
                       int64_t want_value, const char *message) {
    fake_context f;
    const sluice_context *ctx = make_context(&f, value, len, in_place);
    sluice_emitter out = make_emitter();
    int64_t got = -42;
    sluice_status status = sluice_property_int64(ctx, &out, "p", def, &got);
    if (!check_outcome(line, status, want, message)) return;
    char why[128];
    if (want == SLUICE_OK && got != want_value) {
        snprintf(why, sizeof why, "value %lld, expected %lld", (long long)got, (long long)want_value);
        failed(line, why);
    } else if (want != SLUICE_OK && got != -42) {
        failed(line, "the value was written on SLUICE_ERROR");
    }
}

static void double_case(int line, const char *value, size_t len, int in_place, double def, sluice_status want,
                        double want_value, const char *message) {
    fake_context f;
    const sluice_context *ctx = make_context(&f, value, len, in_place);
    sluice_emitter out = make_emitter();
    double got = -42.0;
    errno = EDOM;
    sluice_status status = sluice_property_double(ctx, &out, "p", def, &got);
    if (errno != EDOM) failed(line, "errno was not kept");
    if (!check_outcome(line, status, want, message)) return;
    char why[128];
    if (want == SLUICE_OK && memcmp(&got, &want_value, sizeof got) != 0) {
        snprintf(why, sizeof why, "value %.17g, expected %.17g", got, want_value);
        failed(line, why);
    } else if (want != SLUICE_OK && got != -42.0) {
        failed(line, "the value was written on SLUICE_ERROR");
    }
}

static void bool_case(int line, const char *value, size_t len, int in_place, int def, sluice_status want,
                      int want_value, const char *message) {
    fake_context f;
    const sluice_context *ctx = make_context(&f, value, len, in_place);
    sluice_emitter out = make_emitter();
    int got = -42;
    sluice_status status = sluice_property_bool(ctx, &out, "p", def, &got);
    if (!check_outcome(line, status, want, message)) return;
    char why[128];
    if (want == SLUICE_OK && got != want_value) {
        snprintf(why, sizeof why, "value %d, expected %d", got, want_value);
        failed(line, why);
    } else if (want != SLUICE_OK && got != -42) {
        failed(line, "the value was written on SLUICE_ERROR");
    }
}

/* The buffer, too, ends where the readable page ends: writing past bufsize crashes. */
static void copy_case(int line, const char *value, size_t len, int in_place, const char *def, size_t bufsize,
                      sluice_status want, const char *want_text, const char *message) {
    fake_context f;
    const sluice_context *ctx = make_context(&f, value, len, in_place);
    sluice_emitter out = make_emitter();
    char *buf = buffer_page + page_size - (long)bufsize;
    memset(buffer_page, 'x', (size_t)page_size);
    sluice_status status = sluice_property_copy(ctx, &out, "p", def, buf, bufsize);
    if (!check_outcome(line, status, want, message)) return;
    char why[512];
    if (want == SLUICE_OK && strcmp(buf, want_text) != 0) {
        snprintf(why, sizeof why, "copied \"%s\", expected \"%s\"", buf, want_text);
        failed(line, why);
    } else if (want != SLUICE_OK && bufsize > 0 && buf[0] != '\0') {
        failed(line, "buf does not hold \"\" after SLUICE_ERROR");
    }
}

#define INT64(...) int64_case(__LINE__, __VA_ARGS__)
#define DOUBLE(...) double_case(__LINE__, __VA_ARGS__)
#define BOOL(...) bool_case(__LINE__, __VA_ARGS__)
#define COPY(...) copy_case(__LINE__, __VA_ARGS__)
#define OK SLUICE_OK, 
#define BAD SLUICE_ERROR, 0,
#define BADD SLUICE_ERROR, 0.0,

#define NOT_INT(v) "property 'p' must be an integer, not \"" v "\""
#define INT_RANGE(v) \
    "property 'p' must be an integer from -9223372036854775808 to 9223372036854775807, not \"" v "\""
#define NOT_DOUBLE(v) "property 'p' must be a decimal number (like 2, 0.5 or 1e-3), not \"" v "\""
#define DOUBLE_RANGE(v) \
    "property 'p' must be a number from -1.7976931348623157e308 to 1.7976931348623157e308, not \"" v "\""
#define NOT_BOOL(v) "property 'p' must be true or false, not \"" v "\""

int main(void) {
    setup_guard();

    /* ---- int64 ---- */
    INT64(UNSET, 7, OK 7, NULL);
    INT64(UNSET, INT64_MIN, OK INT64_MIN, NULL);
    INT64(SET("10"), 7, OK 10, NULL);
    INT64(SET("-3"), 7, OK -3, NULL);
    INT64(SET("+7"), 0, OK 7, NULL);
    INT64(SET("007"), 0, OK 7, NULL);
    INT64(SET("0"), 7, OK 0, NULL);
    INT64(SET("-0"), 7, OK 0, NULL);
    INT64(SET("9223372036854775807"), 0, OK INT64_MAX, NULL);
    INT64(SET("-9223372036854775808"), 0, OK INT64_MIN, NULL);
    INT64(SET("000000000000000000000000000009223372036854775807"), 0, OK INT64_MAX, NULL);
    INT64(SLICE("12345", 2), 0, OK 12, NULL);
    INT64(SLICE("-7 and more", 2), 0, OK -7, NULL);
    INT64(SET("9223372036854775808"), 0, BAD INT_RANGE("9223372036854775808"));
    INT64(SET("-9223372036854775809"), 0, BAD INT_RANGE("-9223372036854775809"));
    INT64(SET("18446744073709551616"), 0, BAD INT_RANGE("18446744073709551616"));
    INT64(SET("99999999999999999999999999999999"), 0, BAD INT_RANGE("99999999999999999999999999999999"));
    INT64(SET("99999999999999999999x"), 0, BAD NOT_INT("99999999999999999999x"));
    INT64(SET("five"), 10, BAD NOT_INT("five"));
    INT64(SET(""), 10, BAD NOT_INT(""));
    INT64(SET("-"), 10, BAD NOT_INT("-"));
    INT64(SET("+"), 10, BAD NOT_INT("+"));
    INT64(SET("--1"), 10, BAD NOT_INT("--1"));
    INT64(SET("1.0"), 10, BAD NOT_INT("1.0"));
    INT64(SET("1e3"), 10, BAD NOT_INT("1e3"));
    INT64(SET("0x10"), 10, BAD NOT_INT("0x10"));
    INT64(SET(" 10"), 10, BAD NOT_INT(" 10"));
    INT64(SET("10 "), 10, BAD NOT_INT("10 "));
    INT64(SET("10five"), 10, BAD NOT_INT("10five"));
    INT64(SET("1\0002"), 10, BAD "property 'p' must be an integer, not \"1\"");
    INT64(SET("1234567890123456789012345678901234567890123456789012345678901234"), 0,
          BAD "property 'p' must be an integer from -9223372036854775808 to 9223372036854775807, "
              "not a value of 64 bytes");
    INT64(SET("123456789012345678901234567890123456789012345678901234567890123"), 0,
          BAD INT_RANGE("123456789012345678901234567890123456789012345678901234567890123"));

    /* ---- double ---- */
    DOUBLE(UNSET, 2.5, OK 2.5, NULL);
    DOUBLE(SET("0.5"), 0, OK 0.5, NULL);
    DOUBLE(SET("-2"), 0, OK -2.0, NULL);
    DOUBLE(SET("10"), 0, OK 10.0, NULL);
    DOUBLE(SET("1e-3"), 0, OK 1e-3, NULL);
    DOUBLE(SET("6.02E+23"), 0, OK 6.02e23, NULL);
    DOUBLE(SET(".5"), 0, OK 0.5, NULL);
    DOUBLE(SET("5."), 0, OK 5.0, NULL);
    DOUBLE(SET("+1.25"), 0, OK 1.25, NULL);
    DOUBLE(SET("-0"), 1, OK -0.0, NULL);
    DOUBLE(SET("0.1"), 0, OK 0.1, NULL);
    DOUBLE(SET("1.7976931348623157e308"), 0, OK 1.7976931348623157e308, NULL);
    DOUBLE(SET("5e-324"), 0, OK 5e-324, NULL);
    DOUBLE(SET("1e-999"), 1, OK 0.0, NULL);
    DOUBLE(SLICE("1.5e9", 3), 0, OK 1.5, NULL);
    DOUBLE(SLICE("2e10", 2), 0, BADD NOT_DOUBLE("2e"));
    DOUBLE(SET("1e999"), 0, BADD DOUBLE_RANGE("1e999"));
    DOUBLE(SET("-1e999"), 0, BADD DOUBLE_RANGE("-1e999"));
    DOUBLE(SET("1.8e308"), 0, BADD DOUBLE_RANGE("1.8e308"));
    DOUBLE(SET("five"), 0, BADD NOT_DOUBLE("five"));
    DOUBLE(SET(""), 0, BADD NOT_DOUBLE(""));
    DOUBLE(SET("nan"), 0, BADD NOT_DOUBLE("nan"));
    DOUBLE(SET("NaN"), 0, BADD NOT_DOUBLE("NaN"));
    DOUBLE(SET("inf"), 0, BADD NOT_DOUBLE("inf"));
    DOUBLE(SET("-inf"), 0, BADD NOT_DOUBLE("-inf"));
    DOUBLE(SET("Infinity"), 0, BADD NOT_DOUBLE("Infinity"));
    DOUBLE(SET("0x1p3"), 0, BADD NOT_DOUBLE("0x1p3"));
    DOUBLE(SET("1e"), 0, BADD NOT_DOUBLE("1e"));
    DOUBLE(SET("1e+"), 0, BADD NOT_DOUBLE("1e+"));
    DOUBLE(SET("."), 0, BADD NOT_DOUBLE("."));
    DOUBLE(SET("-"), 0, BADD NOT_DOUBLE("-"));
    DOUBLE(SET("-.e1"), 0, BADD NOT_DOUBLE("-.e1"));
    DOUBLE(SET(" 1"), 0, BADD NOT_DOUBLE(" 1"));
    DOUBLE(SET("1 "), 0, BADD NOT_DOUBLE("1 "));
    DOUBLE(SET("1.5x"), 0, BADD NOT_DOUBLE("1.5x"));
    DOUBLE(SET("1,5"), 0, BADD NOT_DOUBLE("1,5"));
    DOUBLE(SET("1.2.3"), 0, BADD NOT_DOUBLE("1.2.3"));
    DOUBLE(SET("--1"), 0, BADD NOT_DOUBLE("--1"));
    DOUBLE(SET("1\0005"), 0, BADD "property 'p' must be a decimal number (like 2, 0.5 or 1e-3), not \"1\"");
    /* 128 characters is the most; 129 is refused by its length. */
    DOUBLE(SET("0.000000000000000000000000000000000000000000000000000000000000000000000000000000"
               "000000000000000000000000000000000000000000000001"),
           1, OK 1e-126, NULL);
    DOUBLE(SET("0.000000000000000000000000000000000000000000000000000000000000000000000000000000"
               "0000000000000000000000000000000000000000000000001"),
           1, BADD "property 'p' must be a decimal number of at most 128 characters, not a value of 129 bytes");

    /* ---- bool ---- */
    BOOL(UNSET, 1, OK 1, NULL);
    BOOL(UNSET, 0, OK 0, NULL);
    BOOL(SET("true"), 0, OK 1, NULL);
    BOOL(SET("false"), 1, OK 0, NULL);
    BOOL(SET("TRUE"), 0, OK 1, NULL);
    BOOL(SET("False"), 1, OK 0, NULL);
    BOOL(SLICE("trueish", 4), 0, OK 1, NULL);
    BOOL(SLICE("false", 4), 0, BAD NOT_BOOL("fals"));
    BOOL(SET("1"), 0, BAD NOT_BOOL("1"));
    BOOL(SET("0"), 1, BAD NOT_BOOL("0"));
    BOOL(SET("yes"), 0, BAD NOT_BOOL("yes"));
    BOOL(SET("no"), 1, BAD NOT_BOOL("no"));
    BOOL(SET("on"), 0, BAD NOT_BOOL("on"));
    BOOL(SET("off"), 1, BAD NOT_BOOL("off"));
    BOOL(SET(""), 1, BAD NOT_BOOL(""));
    BOOL(SET("t"), 1, BAD NOT_BOOL("t"));
    BOOL(SET(" true"), 1, BAD NOT_BOOL(" true"));
    BOOL(SET("true "), 1, BAD NOT_BOOL("true "));
    BOOL(SET("truex"), 1, BAD NOT_BOOL("truex"));
    BOOL(SET("tru\x80"), 1, BAD NOT_BOOL("tru\x80"));

    /* ---- copy ---- */
    COPY(UNSET, "abc", 16, OK "abc", NULL);
    COPY(UNSET, "", 1, OK "", NULL);
    COPY(UNSET, NULL, 16, SLUICE_ERROR, "", "property 'p' is required");
    COPY(SET("hello"), "abc", 6, OK "hello", NULL);
    COPY(SET("hello"), NULL, 6, OK "hello", NULL);
    COPY(SET(""), "abc", 1, OK "", NULL);
    COPY(SLICE("abcdef", 2), NULL, 3, OK "ab", NULL);
    COPY(SET("hello"), "abc", 5, SLUICE_ERROR, "", "property 'p' is too long: 5 bytes, at most 4 fit");
    COPY(SET("hello"), "abc", 0, SLUICE_ERROR, "", "property 'p' is too long: 5 bytes, at most 0 fit");
    COPY(UNSET, "abcdef", 4, SLUICE_ERROR, "",
         "the default of property 'p' is too long: 6 bytes, at most 3 fit");
    COPY(SET("a\0b"), "abc", 16, SLUICE_ERROR, "", "property 'p' must not hold a NUL byte");
    COPY(SET("ab\0"), "abc", 16, SLUICE_ERROR, "", "property 'p' must not hold a NUL byte");

    printf("%d checks, %d failed\n", checks, failures);
    return failures == 0 ? 0 : 1;
}
