// Text from outside the process on its way out. A process's argv and comm, file contents and
// file names are any bytes, written by whoever runs the process or owns the file (argv belongs
// to every unprivileged user). Two things go wrong when they are written out as they are:
// invalid UTF-8 makes nlohmann::json::dump throw (type_error 316), which aborts the caller;
// control characters printed on a terminal (a table, `kubectl describe`, `kubectl logs`) let
// their author clear the screen, move the cursor or print lines of their own.
//
// Pure functions; they never throw (beyond std::bad_alloc) and are safe on any input.
// - Machine forms (JSON for the API server, stdout and logs): dump_for_wire, and
//   to_valid_utf8 where a string must be valid on its own (an Event note, a JSON field that
//   someone may dump with the strict default).
// - Human forms (tables, Event notes, messages): escape_untrusted.
// - Length caps: truncate_utf8, which never splits a UTF-8 sequence.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace orderguard {

// U+FFFD REPLACEMENT CHARACTER, what invalid UTF-8 becomes.
inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF).
bool is_valid_utf8(std::string_view text);

// `text` with every maximal invalid subsequence replaced by U+FFFD (the Unicode "maximal
// subpart" practice, which nlohmann's error_handler_t::replace follows too). Valid input comes
// back unchanged.
std::string to_valid_utf8(std::string_view text);

// `text` safe to print on one line of a terminal; the result is valid UTF-8 and holds no
// control character. Escaped:
// - C0 controls and DEL as \n, \r, \t or \xHH (ESC is \x1b);
// - each byte of an invalid UTF-8 sequence as \xHH, so the bytes stay readable;
// - C1 controls (U+0080..U+009F: some terminals obey U+009B as ESC [) and bidirectional
//   overrides and isolates (U+202A..U+202E, U+2066..U+2069: they reorder what is displayed)
//   as \uHHHH;
// - the backslash as \\, so that an escape in the output always stands for an escaped byte
//   and never for text that merely looks like one.
std::string escape_untrusted(std::string_view text);

// Cuts `text` to at most `max_bytes` bytes, ending in "..." when something was cut, without
// splitting a UTF-8 sequence: a valid sequence that would straddle the cut is left out whole.
// Invalid bytes are kept as they are (to_valid_utf8 repairs them) and never make it cut more
// than one sequence (at most 3 bytes) short.
std::string truncate_utf8(std::string_view text, size_t max_bytes);

// The one way JSON is serialized for the wire: API request bodies, stdout, log lines.
// Never throws on invalid UTF-8 (each invalid sequence becomes U+FFFD, as with
// error_handler_t::replace); non-ASCII text stays UTF-8 (ensure_ascii off). JSON escapes C0
// controls itself; DEL, C1 controls and bidirectional overrides are written as \u escapes
// too, which a JSON reader decodes to the same string but a terminal showing the raw text
// does not obey. `indent` as for json::dump (-1: one line).
std::string dump_for_wire(const nlohmann::json& value, int indent = -1);
std::string dump_for_wire(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace orderguard
