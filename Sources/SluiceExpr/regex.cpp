// matches() patterns: compiled with RE2 once per program, refused when a POSIX (glibc)
// pattern would mean something else, and held within the program's budget
// (docs/expressions.md, "Regular expressions").
#include "program.hpp"

#include <cstdio>
#include <string>

using namespace sluice_expr;

namespace {

// Why RE2 refused a pattern, in words for the pipeline's author: RE2's own reason, and what
// to do when the pattern asks for what linear-time matching cannot give.
std::string re2_problem(const re2::RE2 &re, const std::string &pattern) {
    const std::string &arg = re.error_arg();
    const char *hint = "";
    switch (re.error_code()) {
    case re2::RE2::ErrorBadEscape:
        if (arg.size() == 2 && arg[1] >= '1' && arg[1] <= '9')
            hint = " (backreferences are not supported: patterns are RE2's, matched in linear time)";
        break;
    case re2::RE2::ErrorBadPerlOp:
        if (arg == "(?=" || arg == "(?!" || pattern.find("(?<=") != std::string::npos ||
            pattern.find("(?<!") != std::string::npos)
            hint = " (lookahead and lookbehind are not supported: patterns are RE2's, matched in linear time)";
        break;
    case re2::RE2::ErrorRepeatSize:
        hint = " (a count is at most 1000, and nested counts multiply to at most 1000)";
        break;
    case re2::RE2::ErrorPatternTooLarge:
        hint = " (its compiled program would need more than 1 MiB: use smaller counts than {1000}, or test a list with 'in')";
        break;
    default: break;
    }
    return "not a valid regular expression: " + re.error() + hint;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// A count POSIX reads at s[i] == '{' ({n}, {n,}, {n,m}, {,m}, {,}, leading zeros allowed):
// its end (one past '}'), or npos, with its numbers as written and whether it has a comma.
size_t posix_count(const std::string &s, size_t i, std::string &low, std::string &high, bool &comma) {
    size_t j = i + 1;
    while (j < s.size() && is_digit(s[j])) j++;
    low = s.substr(i + 1, j - i - 1);
    comma = j < s.size() && s[j] == ',';
    high.clear();
    if (comma) {
        size_t k = ++j;
        while (j < s.size() && is_digit(s[j])) j++;
        high = s.substr(k, j - k);
    }
    if (j >= s.size() || s[j] != '}' || (low.empty() && !comma)) return std::string::npos;
    return j + 1;
}

// RE2 reads a count only with a first number and no leading zeros; otherwise the brace is text.
bool re2_number(const std::string &n) { return !n.empty() && !(n.size() > 1 && n[0] == '0'); }

std::string without_zeros(const std::string &n) {
    size_t k = n.find_first_not_of('0');
    return k == std::string::npos ? "0" : n.substr(k);
}

// One UTF-8 character starting at s[i] (a byte when the text is not UTF-8).
std::string character(const std::string &s, size_t i) {
    size_t j = i + 1;
    while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) j++;
    return s.substr(i, j - i);
}

// The end of `\p{…}`, `\pL`, `\x{…}`, `\x41` … starting at s[i] == '\\' (letter at i + 1).
size_t escape_end(const std::string &s, size_t i) {
    if (i + 2 < s.size() && s[i + 2] == '{') {
        size_t close = s.find('}', i + 3);
        return close == std::string::npos ? s.size() : close + 1;
    }
    return i + 2;
}

// The end of the bracket expression at s[i] == '[', or "" there and the reason a backslash,
// a collating element or an equivalence class in it means something else to POSIX.
std::string bracket(const std::string &s, size_t &i) {
    size_t j = i + 1, n = s.size();
    if (j < n && s[j] == '^') j++;
    if (j < n && s[j] == ']') j++;  // a ] first is a character, for both
    while (j < n && s[j] != ']') {
        if (s[j] == '[' && j + 1 < n && (s[j + 1] == ':' || s[j + 1] == '.' || s[j + 1] == '=')) {
            char kind = s[j + 1];
            size_t close = s.find(std::string{kind, ']'}, j + 2);
            if (close != std::string::npos) {
                std::string inner = s.substr(j, close + 2 - j);  // [.a.]
                if (kind == '.')
                    return inner + " is a collating element in POSIX, but RE2 reads [" + inner +
                           "] as a list of characters followed by ]: write the character itself";
                if (kind == '=')
                    return inner + " is an equivalence class in POSIX, but RE2 reads [" + inner +
                           "] as a list of characters followed by ]: write the character itself";
                j = close + 2;
                continue;
            }
        }
        if (s[j] == '\\' && j + 1 < n) {
            char e = s[j + 1];
            // RE2's class escapes, and a doubled backslash (a backslash for both).
            if (e == 'd' || e == 'D' || e == 's' || e == 'S' || e == 'w' || e == 'W' || e == '\\') {
                j += 2;
                continue;
            }
            if (e == 'p' || e == 'P') {
                j = escape_end(s, j) + (j + 2 < n && s[j + 2] == '{' ? 0 : 1);
                continue;
            }
            std::string c = character(s, j + 1);
            std::string what = "\\" + c + " inside [ ] is a backslash and " + c + " in POSIX, but RE2 reads it as an escape: ";
            bool alnum = (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || is_digit(e);
            if (alnum) return what + "write the character itself (in an expression's string '\\n', '\\t' or '\\uXXXX')";
            return what + "write " + c + " without the backslash (] first, - last and ^ not first need none; "
                                         "\\\\ is a backslash; \\d \\w \\s \\pL and their capitals are classes)";
        }
        j++;
    }
    i = j + 1;
    return "";
}

}  // namespace

namespace sluice_expr {

// Why RE2 would read `s` differently from a POSIX extended regular expression as glibc
// reads it (REG_EXTENDED, the C locale: what matches() was before RE2), or "". Only for
// patterns RE2 accepts. Found by comparing the two over a grid of patterns and values
// (ExpressionLimitTests); the differences left are documented (escapes of letters, which
// POSIX leaves undefined and glibc reads as the letter; \s without the vertical tab;
// characters rather than bytes).
std::string posix_difference(const std::string &s) {
    size_t i = 0, n = s.size();
    while (i < n) {
        char c = s[i];
        if (c == '\\' && i + 1 < n) {
            switch (s[i + 1]) {
            case '<': return "\\< is a word start in POSIX, but RE2 reads it as the character <: write \\b (a word boundary)";
            case '>': return "\\> is a word end in POSIX, but RE2 reads it as the character >: write \\b (a word boundary)";
            case '`': return "\\` is the start of the value in POSIX, but RE2 reads it as the character `: write \\A (or ^)";
            case '\'': return "\\' is the end of the value in POSIX, but RE2 reads it as the character ': write \\z (or $)";
            case 'Q': {  // text up to \E
                size_t end = s.find("\\E", i + 2);
                i = end == std::string::npos ? n : end + 2;
                continue;
            }
            case 'p': case 'P': case 'x': i = escape_end(s, i); continue;
            default: i += 2; continue;
            }
        }
        if (c == '[') {
            std::string why = bracket(s, i);
            if (!why.empty()) return why;
            continue;
        }
        if (c == '{') {
            std::string low, high;
            bool comma = false;
            size_t end = posix_count(s, i, low, high, comma);
            if (end == std::string::npos) {  // text for both
                i++;
                continue;
            }
            std::string written = s.substr(i, end - i);
            if (!re2_number(low) || (!high.empty() && !re2_number(high)))
                return written + " is a count in POSIX, but RE2 reads it as text: write {" + without_zeros(low) +
                       (comma ? "," : "") + (high.empty() ? "" : without_zeros(high)) + "}";
            if (end < n && s[end] == '?')
                return written + "? makes the repetition optional in POSIX, but RE2 reads it as a lazy " + written +
                       ": write " + written + " (lazy or not, the same values match), or (…" + written +
                       ")? for POSIX's meaning";
            i = end;
            continue;
        }
        if (c == '+' && i + 1 < n && s[i + 1] == '?')
            return "+? makes the repetition optional in POSIX, but RE2 reads it as a lazy +: write + (lazy or not, the "
                   "same values match), or (…+)? for POSIX's meaning";
        i++;
    }
    return "";
}

}  // namespace sluice_expr

extern "C" int32_t sx_regex(sx_program *p, const char *pattern, size_t len, char *err, size_t err_cap) noexcept try {
    auto refuse = [&](const std::string &why) {
        std::snprintf(err, err_cap, "%s", why.c_str());
        return -1;
    };
    std::string text(pattern ? pattern : "", pattern ? len : 0);
    if (text.find('\0') != std::string::npos) return refuse("not a valid regular expression: a pattern may not hold a NUL character");
    // Every pattern is compiled with the same options: its text is its key.
    int32_t number;
    auto known = p->regex_numbers.find(text);
    if (known != p->regex_numbers.end()) {
        number = known->second;
    } else {
        constexpr size_t most = SX_REGEX_MAX_MEM_TOTAL / SX_REGEX_MAX_MEM;
        if (p->regexes.size() >= most)
            return refuse("too many different regular expressions: the matches() calls of a stage (or connection) may compile " +
                          std::to_string(most) + " different patterns (1 MiB each, " + std::to_string(SX_REGEX_MAX_MEM_TOTAL >> 20) +
                          " MiB in all); join alternatives into one pattern with |, or split the stage");
        re2::RE2::Options options;
        options.set_log_errors(false);    // the reason goes to the caller, not to standard error
        options.set_never_capture(true);  // matches() only asks whether there is a match
        options.set_dot_nl(true);         // '.' matches a newline too, as POSIX's did
        options.set_max_mem(SX_REGEX_MAX_MEM);
        auto re = std::make_unique<re2::RE2>(text, options);
        if (!re->ok()) return refuse(re2_problem(*re, text));
        // Matching costs up to a step per instruction per byte of the value: bound the program.
        if (re->ProgramSize() > SX_REGEX_MAX_PROGRAM)
            return refuse("not a valid regular expression: pattern too large: its compiled program has " +
                          std::to_string(re->ProgramSize()) + " instructions, more than the " +
                          std::to_string(SX_REGEX_MAX_PROGRAM) +
                          " allowed (matching time grows with them: use smaller counts than {1000}, or test a list with 'in')");
        std::string posix = posix_difference(text);
        if (!posix.empty()) return refuse("RE2 would read this pattern differently from POSIX: " + posix);
        p->regexes.reserve(p->regexes.size() + 1);  // so that the compiled pattern cannot leak below
        p->regexes.push_back(std::move(re));
        number = static_cast<int32_t>(p->regexes.size() - 1);
        p->regex_numbers.emplace(text, number);
    }
    // Each call matches on its own: its pattern's instructions count again.
    uint64_t total = p->regex_instructions + static_cast<uint64_t>(p->regexes[static_cast<size_t>(number)]->ProgramSize());
    if (total > SX_REGEX_MAX_PROGRAM_TOTAL)
        return refuse("too many regular expressions: with this one the matches() calls of the stage (or connection) have programs of " +
                      std::to_string(total) + " instructions in all, more than the " + std::to_string(SX_REGEX_MAX_PROGRAM_TOTAL) +
                      " allowed (each call costs up to a step per instruction per byte of its value: test the value once with "
                      "alternatives joined by |, or split the stage)");
    p->regex_instructions = total;
    return number;
} catch (...) {
    std::snprintf(err, err_cap, "out of memory");
    return -1;
}
