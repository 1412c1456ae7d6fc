/*
 * Geo — a functions-only library, written in C: geographic functions for pipeline
 * expressions (sluice_plugin.h, section 7). It has no stages and no properties; the widgets
 * file widgets/Geo-functions.json declares what expressions may call:
 *
 *   expression                                          C symbol
 *   double distanceMeters(lat1, lon1, lat2, lon2)       geo_distance_m
 *   bool   insideCircle(lat, lon, centerLat, centerLon, radiusMeters)
 *                                                       geo_inside_circle
 *   bool   insidePolygon(lat, lon, polygon)             geo_inside_polygon
 *   string polygonProblem(polygon)                      geo_polygon_problem
 *
 * Coordinates are degrees (WGS84 latitude and longitude, as GPS gives them).
 *
 * distanceMeters: the great-circle (haversine) distance on a sphere of the mean Earth
 *   radius, 6,371,008.8 m (error up to about 0.5 % against the ellipsoid). NaN when any
 *   argument is NaN or infinite, or a latitude is outside [-90, 90]. A longitude may be
 *   any finite number: it is taken modulo 360 (190 is -170).
 *
 * insideCircle: 1 when distanceMeters(lat, lon, centerLat, centerLon) <= radiusMeters,
 *   else 0. 0 when the distance is NaN (see above) or the radius is negative or NaN; an
 *   infinite radius contains every valid point.
 *
 * insidePolygon: 1 when the point lies inside the polygon, by the even-odd rule (a ray
 *   cast in the plane of latitude and longitude: edges are straight lines in degrees, so
 *   an east-west edge follows its parallel, as on a usual web map — not a great circle).
 *   Right for fences that do not cross the antimeridian (longitude +-180) or contain a
 *   pole: such a fence cannot be written, since vertex longitudes must lie in [-180, 180].
 *   A point exactly on an edge may count as inside or outside. 0 when the polygon text is
 *   not valid (polygonProblem says why), when lat is NaN, infinite or outside [-90, 90], or
 *   lon is NaN or infinite; a finite lon outside [-180, 180] is taken modulo 360.
 *
 * polygonProblem: null when the text is a valid polygon, else one short English sentence
 *   saying what is wrong, e.g. "vertex 3: 'abc' is not a number".
 *
 * Polygon text — either form, with any whitespace around the parts:
 *   "lat lon, lat lon, lat lon"        vertices separated by ',' or ';' (one may end the
 *                                      text); latitude and longitude separated by spaces
 *   "[[lat, lon], [lat, lon], ...]"   JSON: note [lat, lon], not GeoJSON's [lon, lat]
 * Numbers are decimal: [+-]digits[.digits][e[+-]digits] (no hex, nan or inf). A polygon has
 * at least 3 and at most 10,000 vertices; the ring closes by itself, and a last vertex
 * equal to the first is dropped (not counted). Latitudes lie in [-90, 90], longitudes in
 * [-180, 180]. Text longer than 1 MiB is refused (invalid) without being read: 10,000
 * vertices of 17-digit numbers need less than half of that.
 *
 * Cost: each thread keeps the last polygon text it saw (a copy of the bytes) and its
 * parse, so calling insidePolygon for every record with the same fence text costs a
 * memcmp of the text and the ray cast (after a bounding-box check), never a parse. The
 * cache holds at most 1 MiB of text and 10,001 vertices per thread and is freed when the
 * thread exits. Only libc and libm are used (pthread keys, in libc since glibc 2.34, free
 * a thread's cache when the thread exits).
 */
#define _POSIX_C_SOURCE 200809L
#include <sluice_plugin.h>

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEO_EARTH_RADIUS_M 6371008.8
#define GEO_MAX_VERTICES 10000
#define GEO_MAX_TEXT ((size_t)1 << 20) /* 1 MiB */
#define GEO_PROBLEM_CAP 192

static const double GEO_RAD = 3.14159265358979323846 / 180.0;

static int valid_lat(double lat) { return lat >= -90.0 && lat <= 90.0; } /* 0 for NaN */

/* A finite longitude moved into [-180, 180] (fmod is exact). */
static double normal_lon(double lon) {
    if (lon >= -180.0 && lon <= 180.0) return lon;
    lon = fmod(lon, 360.0);
    if (lon > 180.0) lon -= 360.0;
    else if (lon < -180.0) lon += 360.0;
    return lon;
}

/* ======================================================================================
 * Distances
 * ==================================================================================== */

SLUICE_EXPORT double geo_distance_m(double lat1, double lon1, double lat2, double lon2) {
    if (!valid_lat(lat1) || !valid_lat(lat2) || !isfinite(lon1) || !isfinite(lon2)) return NAN;
    double dlat = (lat2 - lat1) * GEO_RAD;
    /* fmod first: lon2 - lon1 of two huge longitudes could overflow. */
    double dlon = (fmod(lon2, 360.0) - fmod(lon1, 360.0)) * GEO_RAD;
    double s_lat = sin(dlat * 0.5), s_lon = sin(dlon * 0.5);
    /* At a pole the longitude means nothing (cos(90 degrees) is 6e-17 in doubles, not 0). */
    double c1 = fabs(lat1) == 90.0 ? 0.0 : cos(lat1 * GEO_RAD);
    double c2 = fabs(lat2) == 90.0 ? 0.0 : cos(lat2 * GEO_RAD);
    double a = s_lat * s_lat + c1 * c2 * s_lon * s_lon;
    if (a > 1.0) a = 1.0; /* rounding, near antipodes */
    /* atan2 rather than asin(sqrt(a)): well conditioned for every a in [0, 1]. */
    return 2.0 * GEO_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1.0 - a));
}

SLUICE_EXPORT uint8_t geo_inside_circle(double lat, double lon, double centerLat, double centerLon,
                                        double radiusMeters) {
    if (!(radiusMeters >= 0.0)) return 0; /* negative or NaN */
    double d = geo_distance_m(lat, lon, centerLat, centerLon);
    return d <= radiusMeters ? 1 : 0; /* NaN compares false */
}

/* ======================================================================================
 * Polygons: parsing
 * ==================================================================================== */

typedef struct {
    double lat, lon;
} geo_vertex;

/* A parsed polygon text. In the thread's cache, `text` holds a copy of the bytes it was
 * parsed from (when `cached`); a failed parse is cached too (ok = 0, problem set). */
typedef struct {
    char *text;
    size_t len, text_cap;
    int cached;
    int ok;            /* a valid polygon */
    int out_of_memory; /* the parse could not finish: not a property of the text */
    geo_vertex *v;
    size_t n, v_cap;
    double min_lat, max_lat, min_lon, max_lon;
    char problem[GEO_PROBLEM_CAP];
} geo_polygon;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static int fail(geo_polygon *g, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->problem, sizeof g->problem, fmt, ap);
    va_end(ap);
    g->ok = 0;
    return 0;
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/*
 * Parses the n bytes at p, all of them, as a decimal number
 *     [+-] (digits [. digits*] | . digits) [(e|E) [+-] digits]
 * into *out; 0 when they are not such a number. Its own parser rather than strtod: strtod
 * follows the process's LC_NUMERIC (a host that set a German locale would read "52,5"),
 * accepts hex, "nan" and "inf", and needs a NUL-terminated copy. The result is correctly
 * rounded for up to 15 significant digits with a power of ten up to 22 (every coordinate
 * written by hand: one exact division or multiplication) and within a few units in the last
 * place otherwise; digits after the 19th significant one are ignored.
 */
static int parse_number(const char *p, size_t n, double *out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && (p[i] == '+' || p[i] == '-')) neg = p[i++] == '-';
    uint64_t mant = 0;
    int sig = 0, digits = 0;
    long exp10 = 0;
    for (; i < n && is_digit(p[i]); i++) {
        digits++;
        if (sig < 19) {
            if (mant || p[i] != '0') {
                mant = mant * 10 + (uint64_t)(p[i] - '0');
                sig++;
            }
        } else {
            exp10++;
        }
    }
    if (i < n && p[i] == '.') {
        for (i++; i < n && is_digit(p[i]); i++) {
            digits++;
            if (sig < 19) {
                if (mant || p[i] != '0') {
                    mant = mant * 10 + (uint64_t)(p[i] - '0');
                    sig++;
                }
                exp10--;
            }
        }
    }
    if (digits == 0) return 0;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < n && (p[i] == '+' || p[i] == '-')) eneg = p[i++] == '-';
        if (i >= n || !is_digit(p[i])) return 0;
        long e = 0;
        for (; i < n && is_digit(p[i]); i++)
            if (e < 100000) e = e * 10 + (p[i] - '0');
        exp10 += eneg ? -e : e;
    }
    if (i != n) return 0;

    double v;
    if (mant == 0 || exp10 < -400) { /* mant < 1e19: below 1e-381 is 0 */
        v = 0.0;
    } else if (exp10 > 400) {
        v = INFINITY;
    } else if (mant <= ((uint64_t)1 << 53) && exp10 >= -22 && exp10 <= 22) {
        v = (double)mant; /* exact, and so is the power of ten: one rounding */
        v = exp10 < 0 ? v / POW10[-exp10] : v * POW10[exp10];
    } else {
        v = (double)mant;
        long e = exp10;
        for (; e > 22; e -= 22) v *= 1e22;
        for (; e < -22; e += 22) v /= 1e22;
        v = e < 0 ? v / POW10[-e] : v * POW10[e];
    }
    *out = neg ? -v : v;
    return 1;
}

typedef struct {
    const char *p;
    size_t len, i;
} geo_scan;

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
static int is_punct(char c) { return c == ',' || c == ';' || c == '[' || c == ']'; }

static void skip_space(geo_scan *s) {
    while (s->i < s->len && is_space(s->p[s->i])) s->i++;
}

/* The end of the token starting at s->i: up to whitespace or punctuation. */
static size_t token_end(const geo_scan *s) {
    size_t e = s->i;
    while (e < s->len && !is_space(s->p[e]) && !is_punct(s->p[e])) e++;
    return e;
}

/* 'bytes' for a message: at most 24 of them, control and non-ASCII bytes shown as '?'. */
static void quote(char *dst, size_t cap, const char *p, size_t n) {
    size_t shown = n > 24 ? 24 : n, o = 0;
    if (cap < 32) { /* never: every caller passes 40 */
        if (cap) dst[0] = 0;
        return;
    }
    dst[o++] = '\'';
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)p[i];
        dst[o++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (shown < n) {
        memcpy(dst + o, "...", 3);
        o += 3;
    }
    dst[o++] = '\'';
    dst[o] = 0;
}

/* What comes next, for a message: "the end of the text", "','", "'abc'". */
static void describe_next(const geo_scan *s, char *dst, size_t cap) {
    if (s->i >= s->len) {
        snprintf(dst, cap, "the end of the text");
        return;
    }
    size_t e = is_punct(s->p[s->i]) ? s->i + 1 : token_end(s);
    quote(dst, cap, s->p + s->i, e - s->i);
}

/* Reads a number token at s->i (the caller skipped whitespace) for vertex k. */
static int read_number(geo_polygon *g, geo_scan *s, size_t k, const char *what, double *out) {
    char q[40];
    if (s->i >= s->len || is_punct(s->p[s->i])) {
        describe_next(s, q, sizeof q);
        return fail(g, "vertex %zu: expected the %s, got %s", k, what, q);
    }
    size_t a = s->i, e = token_end(s);
    s->i = e;
    if (!parse_number(s->p + a, e - a, out)) {
        quote(q, sizeof q, s->p + a, e - a);
        return fail(g, "vertex %zu: %s is not a number", k, q);
    }
    if (!isfinite(*out)) {
        quote(q, sizeof q, s->p + a, e - a);
        return fail(g, "vertex %zu: %s is too large", k, q);
    }
    return 1;
}

static int add_vertex(geo_polygon *g, size_t k, double lat, double lon) {
    if (!valid_lat(lat)) return fail(g, "vertex %zu: latitude %.10g is outside [-90, 90]", k, lat);
    if (!(lon >= -180.0 && lon <= 180.0))
        return fail(g, "vertex %zu: longitude %.10g is outside [-180, 180]", k, lon);
    if (g->n >= GEO_MAX_VERTICES + 1) /* one more than the limit: a closing repeat */
        return fail(g, "a polygon has at most %d vertices", GEO_MAX_VERTICES);
    if (g->n == g->v_cap) {
        size_t cap = g->v_cap ? g->v_cap * 2 : 16;
        if (cap > GEO_MAX_VERTICES + 1) cap = GEO_MAX_VERTICES + 1;
        geo_vertex *v = realloc(g->v, cap * sizeof *v);
        if (!v) {
            g->out_of_memory = 1;
            return fail(g, "out of memory");
        }
        g->v = v;
        g->v_cap = cap;
    }
    g->v[g->n].lat = lat;
    g->v[g->n].lon = lon;
    g->n++;
    return 1;
}

/* "lat lon, lat lon; lat lon" */
static int parse_pairs(geo_polygon *g, geo_scan *s) {
    char q[40];
    for (size_t k = 1;; k++) {
        skip_space(s);
        if (s->i >= s->len) return 1; /* the end, maybe after a final separator */
        char c = s->p[s->i];
        if (c == ',' || c == ';') return fail(g, "vertex %zu is empty (two separators in a row)", k);
        double lat, lon;
        size_t a = s->i;
        if (!read_number(g, s, k, "latitude", &lat)) return 0;
        size_t e = s->i;
        skip_space(s);
        if (s->i >= s->len || s->p[s->i] == ',' || s->p[s->i] == ';') {
            quote(q, sizeof q, s->p + a, e - a);
            return fail(g, "vertex %zu: %s needs a longitude after it, separated by a space ('lat lon')",
                        k, q);
        }
        if (!read_number(g, s, k, "longitude", &lon)) return 0;
        if (!add_vertex(g, k, lat, lon)) return 0;
        skip_space(s);
        if (s->i >= s->len) return 1;
        c = s->p[s->i];
        if (c == ',' || c == ';') {
            s->i++;
            continue;
        }
        describe_next(s, q, sizeof q);
        return fail(g, "vertex %zu: expected ',' or ';' after 'lat lon', got %s", k, q);
    }
}

/* "[[lat, lon], [lat, lon], ...]" */
static int parse_json(geo_polygon *g, geo_scan *s) {
    char q[40];
    s->i++; /* '[' */
    skip_space(s);
    if (s->i < s->len && s->p[s->i] == ']') {
        s->i++;
    } else {
        for (size_t k = 1;; k++) {
            skip_space(s);
            if (s->i >= s->len || s->p[s->i] != '[') {
                describe_next(s, q, sizeof q);
                return fail(g, "vertex %zu: expected '[lat, lon]', got %s", k, q);
            }
            s->i++;
            double lat, lon;
            skip_space(s);
            if (!read_number(g, s, k, "latitude", &lat)) return 0;
            skip_space(s);
            if (s->i >= s->len || s->p[s->i] != ',') {
                describe_next(s, q, sizeof q);
                return fail(g, "vertex %zu: expected ',' after the latitude, got %s", k, q);
            }
            s->i++;
            skip_space(s);
            if (!read_number(g, s, k, "longitude", &lon)) return 0;
            skip_space(s);
            if (s->i >= s->len || s->p[s->i] != ']') {
                describe_next(s, q, sizeof q);
                return fail(g, "vertex %zu: expected ']' after the longitude ([lat, lon]), got %s", k, q);
            }
            s->i++;
            if (!add_vertex(g, k, lat, lon)) return 0;
            skip_space(s);
            if (s->i < s->len && s->p[s->i] == ',') {
                s->i++;
                continue;
            }
            if (s->i < s->len && s->p[s->i] == ']') {
                s->i++;
                break;
            }
            describe_next(s, q, sizeof q);
            return fail(g, "expected ',' or ']' after vertex %zu, got %s", k, q);
        }
    }
    skip_space(s);
    if (s->i < s->len) {
        describe_next(s, q, sizeof q);
        return fail(g, "unexpected %s after the closing ']'", q);
    }
    return 1;
}

/* Parses the len bytes at text into g (its vertex buffer is reused): sets ok, n, the
 * vertices and the bounding box, or problem. Reads nothing outside [text, text + len). */
static void parse_polygon(geo_polygon *g, const char *text, size_t len) {
    g->ok = 0;
    g->out_of_memory = 0;
    g->n = 0;
    g->problem[0] = 0;
    geo_scan s = {text, len, 0};
    skip_space(&s);
    if (s.i >= s.len) {
        fail(g, "the polygon text is empty");
        return;
    }
    if (!(s.p[s.i] == '[' ? parse_json(g, &s) : parse_pairs(g, &s))) return;
    int dropped = 0;
    if (g->n >= 2 && g->v[g->n - 1].lat == g->v[0].lat && g->v[g->n - 1].lon == g->v[0].lon) {
        g->n--; /* the ring closed explicitly */
        dropped = 1;
    }
    if (g->n < 3) {
        fail(g, "a polygon needs at least 3 vertices, got %zu%s", g->n,
             dropped ? " (not counting the last, a repeat of the first)" : "");
        return;
    }
    if (g->n > GEO_MAX_VERTICES) {
        fail(g, "a polygon has at most %d vertices", GEO_MAX_VERTICES);
        return;
    }
    g->min_lat = g->max_lat = g->v[0].lat;
    g->min_lon = g->max_lon = g->v[0].lon;
    for (size_t i = 1; i < g->n; i++) {
        const geo_vertex *v = &g->v[i];
        if (v->lat < g->min_lat) g->min_lat = v->lat;
        if (v->lat > g->max_lat) g->max_lat = v->lat;
        if (v->lon < g->min_lon) g->min_lon = v->lon;
        if (v->lon > g->max_lon) g->max_lon = v->lon;
    }
    g->ok = 1;
}

/* ======================================================================================
 * Polygons: the per-thread cache
 * ==================================================================================== */

static pthread_once_t geo_key_once = PTHREAD_ONCE_INIT;
static pthread_key_t geo_key;
static int geo_key_ok;
static _Thread_local geo_polygon *geo_thread_polygon;

/* Runs when a thread that used the cache exits (the host never unloads the library). */
static void free_thread_polygon(void *p) {
    geo_polygon *g = p;
    if (!g) return;
    free(g->text);
    free(g->v);
    free(g);
    geo_thread_polygon = NULL;
}

static void make_key(void) { geo_key_ok = pthread_key_create(&geo_key, free_thread_polygon) == 0; }

/* This thread's cache; NULL when none can be had (no key, no memory): then every call
 * parses. */
static geo_polygon *thread_polygon(void) {
    if (geo_thread_polygon) return geo_thread_polygon;
    pthread_once(&geo_key_once, make_key);
    if (!geo_key_ok) return NULL;
    geo_polygon *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    if (pthread_setspecific(geo_key, g) != 0) {
        free(g);
        return NULL;
    }
    geo_thread_polygon = g;
    return g;
}

/* The parse of the len bytes at text: the thread's cache when it holds that text, else a
 * fresh parse (kept in the cache when there is one, else in *scratch: the caller frees
 * scratch->v when the result is scratch). */
static const geo_polygon *polygon_for(const char *text, size_t len, geo_polygon *scratch) {
    if (len == 0 || text == NULL || len > GEO_MAX_TEXT) {
        memset(scratch, 0, sizeof *scratch);
        if (len > GEO_MAX_TEXT)
            fail(scratch, "the polygon text is longer than 1 MiB (%zu bytes)", len);
        else
            fail(scratch, "the polygon text is empty");
        return scratch;
    }
    geo_polygon *g = thread_polygon();
    if (g && g->cached && g->len == len && memcmp(g->text, text, len) == 0) return g;
    if (!g) {
        memset(scratch, 0, sizeof *scratch);
        parse_polygon(scratch, text, len);
        return scratch;
    }
    g->cached = 0;
    parse_polygon(g, text, len);
    /* Keep memory in line with what the text needs (both are bounded anyway). */
    if (g->v_cap > 1024 && g->n < g->v_cap / 4) {
        size_t cap = g->n < 16 ? 16 : g->n;
        geo_vertex *v = realloc(g->v, cap * sizeof *v);
        if (v) {
            g->v = v;
            g->v_cap = cap;
        }
    }
    if (g->out_of_memory) return g; /* answer this call, cache nothing */
    if (len > g->text_cap || (g->text_cap > 65536 && len < g->text_cap / 4)) {
        char *t = realloc(g->text, len);
        if (!t) return g;
        g->text = t;
        g->text_cap = len;
    }
    memcpy(g->text, text, len);
    g->len = len;
    g->cached = 1;
    return g;
}

/* ======================================================================================
 * Polygons: the functions
 * ==================================================================================== */

/* Even-odd rule, a ray cast towards east (W. R. Franklin's PNPOLY). */
static int contains(const geo_polygon *g, double lat, double lon) {
    if (lat < g->min_lat || lat > g->max_lat || lon < g->min_lon || lon > g->max_lon) return 0;
    const geo_vertex *v = g->v;
    int in = 0;
    for (size_t i = 0, j = g->n - 1; i < g->n; j = i++) {
        if ((v[i].lat > lat) != (v[j].lat > lat) &&
            lon < (v[j].lon - v[i].lon) * (lat - v[i].lat) / (v[j].lat - v[i].lat) + v[i].lon)
            in = !in;
    }
    return in;
}

SLUICE_EXPORT uint8_t geo_inside_polygon(double lat, double lon, const char *polygon, size_t len) {
    if (!valid_lat(lat) || !isfinite(lon)) return 0;
    lon = normal_lon(lon);
    geo_polygon scratch;
    const geo_polygon *g = polygon_for(polygon, len, &scratch);
    uint8_t r = g->ok && contains(g, lat, lon) ? 1 : 0;
    if (g == &scratch) free(scratch.v);
    return r;
}

static _Thread_local char geo_problem[GEO_PROBLEM_CAP];

SLUICE_EXPORT sluice_str geo_polygon_problem(const char *polygon, size_t len) {
    geo_polygon scratch;
    const geo_polygon *g = polygon_for(polygon, len, &scratch);
    sluice_str r = {NULL, 0};
    if (!g->ok) {
        size_t n = strlen(g->problem);
        memcpy(geo_problem, g->problem, n + 1);
        r.ptr = geo_problem;
        r.len = n;
    }
    if (g == &scratch) free(scratch.v);
    return r;
}

static const sluice_plugin GEO = {
    .size = sizeof(sluice_plugin),
    .type = SLUICE_FUNCTIONS,
    .name = "Geo",
    .version = "1.0.0",
};

SLUICE_DEFINE_LIBRARY(&GEO)
