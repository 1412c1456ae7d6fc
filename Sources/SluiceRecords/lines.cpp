// JSON Lines parsed on several threads: the text is cut at line ends into one part per
// thread; each thread copies its part into its own arena and parses it there with its own
// simdjson parser; the parts' records are then joined in order.
#include "sluice_records.h"
#include "internal.hpp"

#include <simdjson.h>

#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace {

struct Part {
    const char *text = nullptr;
    size_t len = 0;
    uint64_t lines = 0;              // counted while parsing
    sr_arena *arena = nullptr;
    std::vector<sluice_record> records;
    std::vector<sr_bad_line> bad;
    bool failed = false;             // memory ran out: records and bad lines are incomplete
};

}  // namespace

struct sr_line_parser {
    struct Worker {
        sr_parser *parser = sr_parser_new();
        sluice_records::LazyLines *lazy = nullptr;
        std::thread thread;
        Part *job = nullptr;  // set by the caller, cleared by the worker when done
    };

    unsigned threads;
    sr_parser *own;                       // the calling thread's parser
    sluice_records::LazyLines *own_lazy = nullptr;
    int mode = SR_PARSE_EAGER;
    std::vector<Worker> workers;
    std::vector<Part> parts;
    std::vector<sluice_record> records;
    std::vector<sr_bad_line> bad;
    std::mutex lock;
    std::condition_variable wake, done;
    bool stopping = false;
};

static void start_workers(sr_line_parser *lp);

// Runs on the caller's thread or a worker's: nothing may escape it.
static void parse_part(sr_parser *parser, sluice_records::LazyLines *lazy, Part &part) noexcept try {
    part.failed = false;
    part.records.clear();
    part.bad.clear();
    // Each thread copies its own part into its arena, next to padding simdjson may read past
    // the end: the records keep their source text there for as long as they live.
    auto *copy = static_cast<char *>(sluice_records::arena_alloc(part.arena, part.len + SR_PADDING, 64));
    std::memcpy(copy, part.text, part.len);
    std::memset(copy + part.len, ' ', SR_PADDING);
    part.lines = lazy ? sluice_records::parse_lines_lazy(lazy, parser, part.arena, copy, part.len, part.text, part.records, part.bad)
                      : sluice_records::parse_lines(parser, part.arena, copy, part.len, part.text, part.records, part.bad);
} catch (...) {
    part.failed = true;  // out of memory
}

extern "C" sr_line_parser *sr_line_parser_new(unsigned threads) noexcept {
    sr_line_parser *lp = nullptr;
    try {
        lp = new sr_line_parser();
        lp->threads = threads < 1 ? 1 : threads;
        lp->own = sr_parser_new();
        lp->own_lazy = sluice_records::lazy_lines_new();
        lp->workers.resize(lp->threads - 1);
        for (auto &w : lp->workers) w.lazy = sluice_records::lazy_lines_new();
        bool parsers = lp->own != nullptr;
        for (auto &w : lp->workers) parsers = parsers && w.parser != nullptr;
        if (!parsers) throw std::bad_alloc();
        start_workers(lp);
    } catch (...) {
        sr_line_parser_free(lp);  // joins the workers that did start
        return nullptr;
    }
    return lp;
}

// Starts a thread per worker; throws (std::system_error, std::bad_alloc) when one cannot
// start, leaving the others running for sr_line_parser_free to stop.
static void start_workers(sr_line_parser *lp) {
    for (auto &w : lp->workers) {
        sr_line_parser::Worker *me = &w;
        w.thread = std::thread([lp, me] {
            std::unique_lock<std::mutex> guard(lp->lock);
            for (;;) {
                lp->wake.wait(guard, [&] { return lp->stopping || me->job != nullptr; });
                if (lp->stopping) return;
                Part *job = me->job;
                guard.unlock();
                parse_part(me->parser, lp->mode == SR_PARSE_LAZY ? me->lazy : nullptr, *job);
                guard.lock();
                me->job = nullptr;
                lp->done.notify_all();
            }
        });
    }
}

extern "C" void sr_line_parser_free(sr_line_parser *lp) noexcept {
    if (!lp) return;
    {
        std::lock_guard<std::mutex> guard(lp->lock);
        lp->stopping = true;
    }
    lp->wake.notify_all();
    for (auto &w : lp->workers) {
        if (w.thread.joinable()) w.thread.join();
        sr_parser_free(w.parser);
        sluice_records::lazy_lines_free(w.lazy);
    }
    sr_parser_free(lp->own);
    sluice_records::lazy_lines_free(lp->own_lazy);
    delete lp;
}

extern "C" void sr_line_parser_set_mode(sr_line_parser *lp, int mode) noexcept {
    lp->mode = mode == SR_PARSE_LAZY ? SR_PARSE_LAZY : SR_PARSE_EAGER;
}

extern "C" unsigned sr_line_parser_threads(const sr_line_parser *lp) noexcept { return lp->threads; }

extern "C" uint64_t sr_line_parser_shaped(const sr_line_parser *lp) noexcept {
    uint64_t n = sluice_records::lazy_lines_shaped(lp->own_lazy);
    for (const auto &w : lp->workers) n += sluice_records::lazy_lines_shaped(w.lazy);
    return n;
}

extern "C" int sr_parse_lines(sr_line_parser *lp, sr_arena *const *arenas, const char *text, size_t len,
                              const sluice_record **records, size_t *nrecords, const sr_bad_line **bad,
                              size_t *nbad) noexcept try {
    *records = nullptr;
    *nrecords = 0;
    *bad = nullptr;
    *nbad = 0;
    // Small texts are not worth waking a thread for.
    unsigned n = len < 64 * 1024 ? 1 : lp->threads;
    lp->parts.resize(n);
    const char *p = text, *end = text + len;
    for (unsigned t = 0; t < n; t++) {
        const char *cut = end;
        if (t + 1 < n) {
            cut = p + (static_cast<size_t>(end - p) / (n - t));
            const char *nl = cut < end ? static_cast<const char *>(std::memchr(cut, '\n', static_cast<size_t>(end - cut))) : nullptr;
            cut = nl ? nl + 1 : end;
        }
        Part &part = lp->parts[t];
        part.text = p;
        part.len = static_cast<size_t>(cut - p);
        part.arena = arenas[t];
        p = cut;
    }
    if (n > 1) {
        std::lock_guard<std::mutex> guard(lp->lock);
        for (unsigned t = 1; t < n; t++) lp->workers[t - 1].job = &lp->parts[t];
    }
    lp->wake.notify_all();
    parse_part(lp->own, lp->mode == SR_PARSE_LAZY ? lp->own_lazy : nullptr, lp->parts[0]);
    if (n > 1) {
        std::unique_lock<std::mutex> guard(lp->lock);
        lp->done.wait(guard, [&] {
            for (unsigned t = 1; t < n; t++)
                if (lp->workers[t - 1].job) return false;
            return true;
        });
    }
    lp->records.clear();
    lp->bad.clear();
    for (unsigned t = 0; t < n; t++)
        if (lp->parts[t].failed) return -1;
    uint64_t first_line = 0;
    for (unsigned t = 0; t < n; t++) {
        auto &part = lp->parts[t];
        lp->records.insert(lp->records.end(), part.records.begin(), part.records.end());
        for (auto b : part.bad) {
            b.line += first_line;
            lp->bad.push_back(b);
        }
        first_line += part.lines;
    }
    *records = lp->records.data();
    *nrecords = lp->records.size();
    *bad = lp->bad.data();
    *nbad = lp->bad.size();
    return 0;
} catch (...) {
    // Out of memory here: while the workers run, nothing above can throw (the parts are
    // sized before they start), so none is left parsing.
    return -1;
}
