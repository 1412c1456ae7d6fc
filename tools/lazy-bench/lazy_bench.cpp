// lazy-bench: the record core's parse paths on one thread, ns per line, eager against lazy
// in turns over the same input (issue 25). Each mode reads the file in batches of about
// 1 MB (10,000 W1 events), cuts and parses them with sr_parse_lines, and does its work:
//
//   parse   sr_parse_lines only (eager: flat records; lazy: validated and indexed handles)
//   qc      + QualityCheck's work through the sr_get family: count data_points, read
//           store_id of the events with fewer than 10, emit_with n_elements
//   sink    qc + sr_render_json_lines of the events (not written anywhere)
//   simdjson  the reference: the same pieces, each copied next to simdjson's padding, read
//           by simdjson's DOM parse_many (which validates all of each line, as the indexer
//           does) and by its On-Demand iterate_many visiting every field's name and raw
//           value (which validates neither the values nor their insides)
//
// Build and run (release flags, as the host's SluiceRecords target):
//   g++ -std=c++17 -O3 -march=native -I Sources/SluiceRecords/include -I PluginSDK/include \
//       -I Sources/SluiceRecords tools/lazy-bench/lazy_bench.cpp Sources/SluiceRecords/*.cpp \
//       -lsimdjson -lpthread -o /tmp/lazy-bench
//   .build/debug/store-events 1000000 > /tmp/events.jsonl
//   /tmp/lazy-bench /tmp/events.jsonl [turns [parse|qc|sink|simdjson [eager|lazy [narrow|noshape]]]]
// (narrow: the lazy indexer judges arrays 16 bytes at a time, SSE2, on a CPU with AVX-512BW
// too; noshape: it scans every line in full, never taking one by an earlier line's shape;
// the line printed says which width ran, and how many lines a shape took.)
// It prints the best of the turns for each mode (run 3 or more: the first turn of each
// mode also grows its arenas). On spaced input the sink's output differs
// in size until the eager path keeps spaced lines as their text (option A): eager writes
// them compact, lazy as they came.
#include <sluice_records.h>
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <time.h>

static double now() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

struct Result {
    double seconds;
    uint64_t records, bad, output;
};

// One line parser and its arenas per mode, kept from turn to turn as a source keeps them.
struct Mode {
    sr_line_parser *lp;
    sr_arena *arenas[2];
    sr_arena *batch;
    std::vector<sluice_record> out;
};

static Mode &mode_state(int mode) {
    static Mode modes[2];
    Mode &m = modes[mode];
    if (!m.lp) {
        m.lp = sr_line_parser_new(1);
        sr_line_parser_set_mode(m.lp, mode);
        m.arenas[0] = sr_arena_new(4 << 20);
        m.arenas[1] = sr_arena_new(4 << 20);
        m.batch = sr_arena_new(4 << 20);
    }
    return m;
}

static Result run(const std::string &text, int mode, int work) {
    Mode &state = mode_state(mode);
    sr_line_parser *lp = state.lp;
    sr_arena **arenas = state.arenas;
    sr_arena *batch = state.batch;
    const sluice_key kdp = sr_intern("data_points", 11), ksid = sr_intern("store_id", 8),
                     kn = sr_intern("n_elements", 10);
    std::vector<sluice_record> &out = state.out;
    static sr_buf rendered{};
    Result res{0, 0, 0, 0};
    const size_t piece = 1000000;
    const char *p = text.data(), *end = text.data() + text.size();
    int turn = 0;
    double t0 = now();
    while (p < end) {
        const char *cut = p + piece < end ? p + piece : end;
        while (cut < end && cut[-1] != '\n') cut++;
        sr_arena *a = arenas[turn ^= 1];
        sr_arena_reset(a);
        sr_arena_reset(batch);
        const sluice_record *recs;
        size_t n, nb;
        const sr_bad_line *bl;
        if (sr_parse_lines(lp, &a, p, static_cast<size_t>(cut - p), &recs, &n, &bl, &nb) != 0) std::abort();
        res.records += n;
        res.bad += nb;
        if (work >= 1) {
            out.clear();
            char err[160];
            for (size_t i = 0; i < n; i++) {
                sluice_value dp;
                if (sr_get(&recs[i], kdp, &dp) != 1 || dp.type != SLUICE_ARRAY) continue;
                if (dp.len < 10) {
                    sluice_value id;
                    if (sr_get(&recs[i], ksid, &id) == 1 && id.type == SLUICE_STRING) res.output += id.len;
                }
                sluice_field add = sluice_field_of(kn, "n_elements", sluice_int(dp.len));
                sluice_record o;
                if (sr_record_with(batch, &recs[i], &add, 1, &o, err, sizeof err) != 0) std::abort();
                out.push_back(o);
            }
            if (work >= 2) {
                sr_buf_clear(&rendered);
                sr_render_json_lines(&rendered, out.data(), out.size());
                res.output += rendered.len;
            }
        }
        p = cut;
    }
    res.seconds = now() - t0;
    return res;
}

// The reference: simdjson over the same pieces (ondemand: On-Demand, else DOM); the lines
// it read, in `records`, the ones it refused in `bad`.
static Result reference(const std::string &text, bool ondemand) {
    static simdjson::dom::parser dom;
    static simdjson::ondemand::parser od;
    Result res{0, 0, 0, 0};
    const size_t piece = 1000000;
    const char *p = text.data(), *end = text.data() + text.size();
    double t0 = now();
    while (p < end) {
        const char *cut = p + piece < end ? p + piece : end;
        while (cut < end && cut[-1] != '\n') cut++;
        simdjson::padded_string copy(p, static_cast<size_t>(cut - p));
        if (ondemand) {
            simdjson::ondemand::document_stream docs;
            if (od.iterate_many(copy, piece * 2).get(docs)) std::abort();
            for (auto doc : docs) {
                simdjson::ondemand::object o;
                bool ok = !doc.get_object().get(o);
                if (ok)
                    for (auto field : o) {
                        std::string_view name;
                        simdjson::ondemand::value v;
                        if (field.unescaped_key().get(name) || field.value().get(v)) {
                            ok = false;
                            break;
                        }
                        res.output += name.size() + v.raw_json_token().size();
                    }
                ok ? res.records++ : res.bad++;
            }
        } else {
            simdjson::dom::document_stream docs;
            if (dom.parse_many(copy, piece * 2).get(docs)) std::abort();
            for (auto doc : docs) doc.error() ? res.bad++ : res.records++;
        }
        p = cut;
    }
    res.seconds = now() - t0;
    return res;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: lazy-bench EVENTS.jsonl [turns [parse|qc|sink|simdjson [eager|lazy [narrow|noshape]]]]\n");
        return 2;
    }
    FILE *f = std::fopen(argv[1], "rb");
    if (!f) {
        std::perror(argv[1]);
        return 1;
    }
    std::string text;
    char chunk[1 << 16];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) text.append(chunk, got);
    std::fclose(f);
    const int turns = argc > 2 ? std::atoi(argv[2]) : 3;
    const std::string only = argc > 3 ? argv[3] : "", which = argc > 4 ? argv[4] : "";
    // narrow: arrays judged 16 bytes at a time even on a CPU with AVX-512BW.
    const bool wide = sr_lazy_wide_arrays(!(argc > 5 && std::string(argv[5]) == "narrow")) != 0;
    const bool shapes = sr_lazy_shapes(!(argc > 5 && std::string(argv[5]) == "noshape")) != 0;
    const char *works[] = {"parse", "qc", "sink"};
    for (int work = 0; work < 3; work++) {
        if (!only.empty() && only != works[work]) continue;
        double eager = 0, lazy = 0;
        Result e{}, l{};
        for (int t = 0; t < turns; t++) {
            if (which != "lazy") {
                e = run(text, SR_PARSE_EAGER, work);
                eager = t == 0 || e.seconds < eager ? e.seconds : eager;
            }
            if (which != "eager") {
                l = run(text, SR_PARSE_LAZY, work);
                lazy = t == 0 || l.seconds < lazy ? l.seconds : lazy;
            }
        }
        if (which.empty() && (e.records != l.records || e.bad != l.bad))
            std::printf("%-5s  the modes disagree: %llu/%llu records, %llu/%llu bad lines\n", works[work],
                        (unsigned long long)e.records, (unsigned long long)l.records, (unsigned long long)e.bad,
                        (unsigned long long)l.bad);
        const Result &r = which == "lazy" ? l : e;
        double lines = static_cast<double>(r.records + r.bad);
        std::printf("%-5s  eager %6.1f ns/line   lazy %6.1f ns/line   (%llu lines, best of %d turns; output %llu/%llu bytes; "
                    "arrays %d bytes at a time; shapes %s: %llu lines taken by one)\n",
                    works[work], eager * 1e9 / lines, lazy * 1e9 / lines, (unsigned long long)(r.records + r.bad), turns,
                    (unsigned long long)e.output, (unsigned long long)l.output, wide ? 64 : 16, shapes ? "on" : "off",
                    (unsigned long long)sr_line_parser_shaped(mode_state(SR_PARSE_LAZY).lp));
    }
    if (only.empty() || only == "simdjson") {
        double dom = 0, od = 0;
        Result d{}, o{};
        for (int t = 0; t < turns; t++) {
            d = reference(text, false);
            dom = t == 0 || d.seconds < dom ? d.seconds : dom;
            o = reference(text, true);
            od = t == 0 || o.seconds < od ? o.seconds : od;
        }
        std::printf("simdjson  DOM parse_many %6.1f ns/line   On-Demand iterate_many, every field %6.1f ns/line   (%llu/%llu "
                    "lines read, %llu/%llu refused; %s; best of %d turns)\n",
                    dom * 1e9 / static_cast<double>(d.records + d.bad), od * 1e9 / static_cast<double>(o.records + o.bad),
                    (unsigned long long)d.records, (unsigned long long)o.records, (unsigned long long)d.bad,
                    (unsigned long long)o.bad, simdjson::get_active_implementation()->name().c_str(), turns);
    }
    return 0;
}
