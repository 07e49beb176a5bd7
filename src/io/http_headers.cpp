// Header rules for relaying HTTP/1.x messages: hop-by-hop removal, Via, framing checks.
#include "io/http_headers.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace egressd::io {
namespace {

// ASCII only, whatever the C locale says: field names, codings and the tokens compared
// here are ASCII, and the checks must not depend on the process's locale.
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits a comma-separated field value into trimmed, non-empty elements.
std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

// The character classes of the head checks, one table lookup per byte: every head a
// client or an origin sends goes through them, so they run once per request.
enum CharClass : std::uint8_t {
  kTchar = 1,    // RFC 9110 tchar: field names (and methods, transfer codings)
  kMethod = 2,   // what a method may hold
  kValue = 4,    // field values and reason phrases
  kVisible = 8,  // visible ASCII: the request target
};

constexpr std::array<std::uint8_t, 256> kCharClasses = [] {
  std::array<std::uint8_t, 256> table{};
  constexpr std::string_view kTcharPunctuation = "!#$%&'*+-.^_`|~";
  for (int byte = 0; byte < 256; ++byte) {
    const char c = static_cast<char>(byte);
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    std::uint8_t bits = 0;
    if (alnum || kTcharPunctuation.find(c) != std::string_view::npos) bits |= kTchar;
    // A method egressd passes on: upper-case letters, digits, '-' and '_' (as nginx). All
    // registered methods fit; "get" does not, and a server that matched methods without
    // case could take it for GET (or "head" for HEAD, whose response has no body) while
    // the proxy does not.
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_') {
      bits |= kMethod;
    }
    // HTAB, SP, VCHAR and obs-text; no other control character and no DEL.
    if (byte == '\t' || (byte >= 0x20 && byte != 0x7f)) bits |= kValue;
    if (byte > 0x20 && byte < 0x7f) bits |= kVisible;
    table[static_cast<std::size_t>(byte)] = bits;
  }
  return table;
}();

// True when every byte of `s` is in `char_class`.
bool all_in(std::string_view s, CharClass char_class) {
  for (const char c : s) {
    if ((kCharClasses[static_cast<unsigned char>(c)] & char_class) == 0) return false;
  }
  return true;
}

// The position of the first byte at or after `from` that is not in `char_class`, or
// s.size().
std::size_t skip_in(std::string_view s, std::size_t from, CharClass char_class) {
  while (from < s.size() && (kCharClasses[static_cast<unsigned char>(s[from])] & char_class) != 0) {
    ++from;
  }
  return from;
}

// skip_in(s, from, kValue), eight bytes at a time: field values (cookies, user agents)
// are most of a head. A word passes when none of its bytes is below 0x20 or DEL (the
// classic "has a byte less than n" and "has a zero byte" tests, both exact as yes/no
// answers); a word that fails is looked at byte by byte, since HTAB is allowed.
std::size_t skip_value_chars(std::string_view s, std::size_t from) {
  constexpr std::uint64_t kOnes = 0x0101010101010101;
  constexpr std::uint64_t kHighBits = 0x8080808080808080;
  std::size_t at = from;
  while (at < s.size()) {
    if (s.size() - at >= 8) {
      std::uint64_t word = 0;
      std::memcpy(&word, s.data() + at, sizeof word);
      const std::uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighBits;
      const std::uint64_t not_del = word ^ (kOnes * 0x7f);
      const std::uint64_t del = (not_del - kOnes) & ~not_del & kHighBits;
      if ((below_space | del) == 0) {
        at += 8;
        continue;
      }
    }
    const std::size_t word_end = std::min(at + 8, s.size());
    const std::size_t stop = skip_in(s.substr(0, word_end), at, kValue);
    if (stop < word_end) return stop;
    at = word_end;
  }
  return s.size();
}

bool is_http1_version(std::string_view v) { return v == "HTTP/1.1" || v == "HTTP/1.0"; }

// s.find("\r\n", from), with memchr finding the CRs rather than a byte-by-byte loop.
std::size_t find_crlf(std::string_view s, std::size_t from) {
  while (from < s.size()) {
    const void* cr = std::memchr(s.data() + from, '\r', s.size() - from);
    if (cr == nullptr) return std::string_view::npos;
    const auto at = static_cast<std::size_t>(static_cast<const char*>(cr) - s.data());
    if (at + 1 < s.size() && s[at + 1] == '\n') return at;
    from = at + 1;
  }
  return std::string_view::npos;
}

// s.find("\r\n\r\n"): the end of a head. Every match starts at a CRLF, and a CRLF never
// starts one byte after another, so walking from CRLF to CRLF sees them all.
std::size_t find_head_end(std::string_view s) {
  for (auto at = find_crlf(s, 0); at != std::string_view::npos; at = find_crlf(s, at + 2)) {
    if (s.substr(at + 2, 2) == "\r\n") return at;
  }
  return std::string_view::npos;
}

// Why a raw head (complete or not) has a CR or LF outside a CRLF; empty if it has none.
// A CR at the very end may be the first half of a CRLF still to come. Of a bad LF and a
// bad CR, the one that comes first is reported. Only the line breaks are visited (memchr),
// since a head is mostly other bytes.
std::string bare_line_break(std::string_view bytes) {
  if (bytes.empty()) return {};
  const char* const begin = bytes.data();
  const char* const end = begin + bytes.size();
  const char* bad_lf = end;
  for (const char* p = begin; p < end; ++p) {
    p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (p == nullptr) break;
    if (p == begin || p[-1] != '\r') {
      bad_lf = p;
      break;
    }
  }
  const char* bad_cr = end;
  for (const char* p = begin; p < bad_lf; ++p) {
    p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(bad_lf - p)));
    if (p == nullptr) break;
    if (p + 1 < end && p[1] != '\n') {
      bad_cr = p;
      break;
    }
  }
  if (bad_lf < bad_cr) return "a line ending in LF without CR";
  if (bad_cr < end) return "a CR that does not end a line";
  return {};
}

std::string request_line_problem(std::string_view line, const core::Limits& limits,
                                 HeadStatus& status) {
  if (line.size() > limits.request_line_bytes) {
    status = HeadStatus::uri_too_long;
    return "the request line is longer than " + std::to_string(limits.request_line_bytes) +
           " bytes";
  }
  status = HeadStatus::bad_request;
  const auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return "a request line without a target and version";
  const auto method = line.substr(0, sp1);
  if (method.empty() || !all_in(method, kMethod)) {
    return "an invalid method (only A-Z, 0-9, '-' and '_')";
  }
  const auto sp2 = line.rfind(' ');
  if (sp2 == sp1) return "a request line without an HTTP version";
  const auto target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target.empty()) return "an empty request target";
  // A space is not visible ASCII either: one pass over the target, and a second look only
  // to say which of the two it is.
  if (!all_in(target, kVisible)) {
    if (target.find(' ') != std::string_view::npos) {
      return "a space in the request target (or around the version)";
    }
    return "characters not allowed in the request target (only visible ASCII)";
  }
  if (!is_http1_version(line.substr(sp2 + 1))) return "an HTTP version other than 1.0 or 1.1";
  status = HeadStatus::ok;
  return {};
}

std::string status_line_problem(std::string_view line) {
  // HTTP-version SP 3DIGIT SP reason-phrase (Beast needs the second SP, too).
  if (line.size() < 12 || !is_http1_version(line.substr(0, 8)) || line[8] != ' ') {
    return "a status line that does not start with HTTP/1.0 or HTTP/1.1";
  }
  const auto code = line.substr(9, 3);
  if (!std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "a status code that is not three digits";
  }
  const auto reason = line.substr(12);
  if (!reason.empty() && reason.front() != ' ') return "a status code that is not three digits";
  if (!all_in(reason, kValue)) {
    return "a control character in the reason phrase";
  }
  return {};
}

// True for a name that is not Transfer-Encoding or Content-Length but becomes one when
// '_' is read as '-' (CGI-style servers map both to HTTP_TRANSFER_ENCODING) or repeated
// delimiters are collapsed: "Transfer_Encoding", "Content_Length", "Transfer---Encoding".
// Compared in place, without building the folded name: most names differ from both at
// their first letter.
bool imitates_framing_field(std::string_view name) {
  const auto folds_to = [name](std::string_view folded) {
    std::size_t matched = 0;
    for (const char c : name) {
      if (c == '-' || c == '_') continue;
      if (matched == folded.size() || ascii_lower(c) != folded[matched]) return false;
      ++matched;
    }
    return matched == folded.size();
  };
  if (!folds_to("transferencoding") && !folds_to("contentlength")) return false;
  return !iequals(name, "transfer-encoding") && !iequals(name, "content-length");
}

// One field line (without its CRLF). Returns why it is refused, or empty; sets `name` to
// the field's name when the line passes.
std::string field_line_problem(std::string_view line, std::string_view& name) {
  if (line.empty()) return "an empty line inside the head";
  if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return "a header line without a colon";
  name = line.substr(0, colon);
  if (name.empty()) return "a header field with an empty name";
  if (name.back() == ' ' || name.back() == '\t') {
    return "whitespace between a header field name and the colon";
  }
  if (!all_in(name, kTchar)) {
    return "invalid characters in a header field name";
  }
  if (imitates_framing_field(name)) {
    return "a header field name that imitates Transfer-Encoding or Content-Length";
  }
  const auto value = line.substr(colon + 1);
  if (!all_in(value, kValue)) {
    return "a control character in the value of " + std::string(name);
  }
  return {};
}

std::string too_many_fields(const core::Limits& limits, HeadStatus& status) {
  status = HeadStatus::fields_too_large;
  return "more than " + std::to_string(limits.header_count) + " header fields";
}

std::string too_large(const core::Limits& limits, HeadStatus& status) {
  status = HeadStatus::fields_too_large;
  return "the message head is larger than " + std::to_string(limits.header_bytes) + " bytes";
}

// Content-Length: 1*DIGIT, at most 18 significant digits.
std::string content_length_problem(std::string_view raw) {
  const auto value = trim(raw);
  if (value.empty()) return "an empty Content-Length";
  if (value.find(',') != std::string_view::npos) return "a list-valued Content-Length";
  if (!std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "an invalid Content-Length";
  }
  const auto first = value.find_first_not_of('0');
  if (first != std::string_view::npos && value.size() - first > 18) {
    return "a Content-Length too large to be read the same way everywhere";
  }
  return {};
}

bool is_zero(std::string_view value) {
  value = trim(value);
  return !value.empty() && value.find_first_not_of('0') == std::string_view::npos;
}

// The error a head refused by our own checks is reported with.
error_code head_error(HeadStatus status) {
  switch (status) {
    case HeadStatus::fields_too_large:
      return http::error::header_limit;
    case HeadStatus::uri_too_long:
      return http::error::bad_target;
    default:
      return http::error::bad_value;
  }
}

}  // namespace

namespace {

// One field line starting at `begin` in the head (its final CRLF removed), the common
// case in one pass: a name of tchars, the colon, a value of allowed characters, and the
// CRLF (or the end of the head). Sets `name` and `eol` (the CRLF's position, or npos) and
// returns true when the line is such a line and its name imitates no framing field; false
// when the line needs field_line_problem(), which then says what is wrong, if anything.
bool plain_field_line(std::string_view head, std::size_t begin, std::string_view& name,
                      std::size_t& eol) {
  const std::size_t colon = skip_in(head, begin, kTchar);
  if (colon == begin || colon == head.size() || head[colon] != ':') return false;
  const std::size_t end = skip_value_chars(head, colon + 1);
  if (end == head.size()) {
    eol = std::string_view::npos;
  } else if (head[end] == '\r' && end + 1 < head.size() && head[end + 1] == '\n') {
    eol = end;
  } else {
    return false;
  }
  name = head.substr(begin, colon - begin);
  return !imitates_framing_field(name);
}

// head_problem() after the size, without the check for bare CRs and LFs (see there).
std::string head_lines_problem(std::string_view head, bool is_request, const core::Limits& limits,
                               HeadStatus& status) {
  if (head.size() >= 2 && head.substr(head.size() - 2) == "\r\n") head.remove_suffix(2);

  auto eol = find_crlf(head, 0);
  const auto start_line = head.substr(0, eol);
  if (is_request) {
    if (auto problem = request_line_problem(start_line, limits, status); !problem.empty()) {
      return problem;
    }
  } else if (auto problem = status_line_problem(start_line); !problem.empty()) {
    status = HeadStatus::bad_request;
    return problem;
  }

  std::size_t count = 0;
  std::size_t content_lengths = 0;
  std::size_t transfer_encodings = 0;
  while (eol != std::string_view::npos) {
    const auto begin = eol + 2;
    std::string_view name;
    if (!plain_field_line(head, begin, name, eol)) {
      eol = find_crlf(head, begin);
      const auto line = head.substr(begin, eol == std::string_view::npos ? eol : eol - begin);
      if (auto problem = field_line_problem(line, name); !problem.empty()) {
        status = HeadStatus::bad_request;
        return problem;
      }
    }
    if (++count > limits.header_count) return too_many_fields(limits, status);
    if (iequals(name, "content-length")) {
      ++content_lengths;
    } else if (iequals(name, "transfer-encoding")) {
      ++transfer_encodings;
    }
  }
  // Beast refuses these too, but its message depends on the order of the fields.
  if (content_lengths > 0 && transfer_encodings > 0) {
    status = HeadStatus::bad_request;
    return "Transfer-Encoding together with Content-Length";
  }
  if (content_lengths > 1) {
    status = HeadStatus::bad_request;
    return "more than one Content-Length";
  }
  return {};
}

}  // namespace

std::string head_problem(std::string_view head, bool is_request, const core::Limits& limits,
                         HeadStatus& status) {
  status = HeadStatus::ok;
  if (head.size() > limits.header_bytes) return too_large(limits, status);
  auto problem = head_lines_problem(head, is_request, limits, status);
  if (problem.empty()) {
    // Nothing to look for: a head that passes holds a CR or LF only in a CRLF, since no
    // part of the start line, no field name and no field value may hold either.
    return problem;
  }
  // A CR or LF outside a CRLF is the reason given whatever else is wrong: the lines are
  // not what another parser would take them for.
  if (auto bare = bare_line_break(head); !bare.empty()) {
    status = HeadStatus::bad_request;
    return bare;
  }
  return problem;
}

std::string partial_head_problem(std::string_view bytes, bool is_request,
                                 const core::Limits& limits, HeadStatus& status) {
  status = HeadStatus::ok;
  if (auto problem = bare_line_break(bytes); !problem.empty()) {
    status = HeadStatus::bad_request;
    return problem;
  }
  const auto eol = find_crlf(bytes, 0);
  if (is_request) {
    auto line_length = eol;
    if (eol == std::string_view::npos) {
      // A last CR may start the CRLF that ends the line.
      line_length = bytes.size() - (!bytes.empty() && bytes.back() == '\r' ? 1 : 0);
    }
    if (line_length > limits.request_line_bytes) {
      status = HeadStatus::uri_too_long;
      return "the request line is longer than " + std::to_string(limits.request_line_bytes) +
             " bytes";
    }
  }
  // A head of header_bytes (what head_problem() measures) is complete by the byte
  // header_bytes + 2, the empty line that ends it: without that end, it cannot fit.
  if (bytes.size() >= limits.header_bytes + 2) return too_large(limits, status);
  std::size_t lines = 0;
  for (auto pos = eol; pos != std::string_view::npos; pos = find_crlf(bytes, pos + 2)) {
    ++lines;
  }
  // Every CRLF after the first ends a field line.
  if (lines > 1 && lines - 1 > limits.header_count) return too_many_fields(limits, status);
  return {};
}

template <bool isRequest>
HeadProgress take_head(std::string_view bytes, http::parser<isRequest, http::buffer_body>& parser,
                       const core::Limits& limits, std::size_t& used, std::string& problem,
                       HeadStatus& status, error_code& ec) {
  used = 0;
  const auto end = find_head_end(bytes);
  if (end == std::string_view::npos) {
    problem = partial_head_problem(bytes, isRequest, limits, status);
    if (problem.empty()) return HeadProgress::incomplete;
    ec = head_error(status);
    return HeadProgress::refused;
  }
  problem = head_problem(bytes.substr(0, end + 2), isRequest, limits, status);
  if (!problem.empty()) {
    ec = head_error(status);
    return HeadProgress::refused;
  }
  used = parser.put(asio::buffer(bytes.data(), end + 4), ec);
  if (ec) return HeadProgress::refused;
  if (!parser.is_header_done()) {
    ec = http::error::bad_value;
    return HeadProgress::refused;
  }
  return HeadProgress::parsed;
}

template HeadProgress take_head<true>(std::string_view, http::parser<true, http::buffer_body>&,
                                      const core::Limits&, std::size_t&, std::string&,
                                      HeadStatus&, error_code&);
template HeadProgress take_head<false>(std::string_view, http::parser<false, http::buffer_body>&,
                                       const core::Limits&, std::size_t&, std::string&,
                                       HeadStatus&, error_code&);

void strip_hop_by_hop(http::fields& fields) {
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() &&
                                                       it->name() == http::field::connection;
       ++it) {
    for (auto& token : split_list(it->value())) named.push_back(std::move(token));
  }
  for (const auto& name : named) fields.erase(name);

  static constexpr std::array kHopByHop = {
      http::field::connection,         http::field::keep_alive,
      http::field::proxy_connection,   http::field::proxy_authenticate,
      http::field::proxy_authorization, http::field::te,
      http::field::trailer,            http::field::transfer_encoding,
      http::field::upgrade,
  };
  for (const auto f : kHopByHop) fields.erase(f);
}

void append_via(http::fields& fields, unsigned version, std::string_view via_name) {
  if (via_name.empty()) return;
  std::string entry = std::to_string(version / 10) + "." + std::to_string(version % 10) + " ";
  entry.append(via_name);
  std::string value;
  for (auto it = fields.find(http::field::via);
       it != fields.end() && it->name() == http::field::via; ++it) {
    if (!value.empty()) value += ", ";
    value.append(it->value());
  }
  if (!value.empty()) value += ", ";
  value += entry;
  fields.set(http::field::via, value);
}

void rewrite_request_head(http::request_header<>& request, std::string_view origin_form,
                          std::string_view host_header, std::string_view via_name, bool chunked,
                          boost::optional<std::uint64_t> length) {
  strip_hop_by_hop(request);
  append_via(request, request.version(), via_name);
  request.target(origin_form);
  request.set(http::field::host, host_header);
  request.version(11);
  if (chunked) {
    request.set(http::field::transfer_encoding, "chunked");
  } else if (length) {
    request.set(http::field::content_length, std::to_string(*length));
  }
}

std::string framing_problem(const http::fields& fields) {
  const auto cl_count = fields.count(http::field::content_length);
  const auto te_count = fields.count(http::field::transfer_encoding);
  if (cl_count > 0 && te_count > 0) return "Transfer-Encoding together with Content-Length";
  if (cl_count > 1) return "more than one Content-Length";
  if (cl_count == 1) {
    if (auto problem = content_length_problem(fields[http::field::content_length]);
        !problem.empty()) {
      return problem;
    }
  }
  if (te_count == 0) return {};

  std::size_t chunked = 0;
  bool other = false;
  bool empty = false;
  for (auto it = fields.find(http::field::transfer_encoding);
       it != fields.end() && it->name() == http::field::transfer_encoding; ++it) {
    std::string_view value = it->value();
    for (;;) {
      const auto comma = value.find(',');
      const auto coding = trim(value.substr(0, comma));
      if (coding.empty()) {
        empty = true;
      } else if (iequals(coding, "chunked")) {
        ++chunked;
      } else {
        other = true;
      }
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  if (chunked > 1) return "chunked applied more than once";
  if (other) return "a transfer coding other than chunked (egressd only relays chunked)";
  if (chunked == 0) return "an empty Transfer-Encoding";
  if (empty || te_count > 1) return "a Transfer-Encoding other than exactly \"chunked\"";
  return {};
}

std::string framing_problem(const http::request_header<>& request) {
  if (auto problem = framing_problem(static_cast<const http::fields&>(request));
      !problem.empty()) {
    return problem;
  }
  const bool has_te = request.count(http::field::transfer_encoding) > 0;
  if (has_te && request.version() < 11) return "Transfer-Encoding in an HTTP/1.0 request";
  const auto method = request.method();
  if (method == http::verb::get || method == http::verb::head || method == http::verb::trace ||
      method == http::verb::connect) {
    const auto cl = request.find(http::field::content_length);
    if (has_te || (cl != request.end() && !is_zero(cl->value()))) {
      const auto name = request.method_string();
      return "a body on a " + std::string(name.data(), name.size()) +
             " request (a server may read it as the next request)";
    }
  }
  return {};
}

std::string framing_problem(const http::response_header<>& response) {
  if (auto problem = framing_problem(static_cast<const http::fields&>(response));
      !problem.empty()) {
    return problem;
  }
  if (response.count(http::field::transfer_encoding) > 0 && response.version() < 11) {
    return "Transfer-Encoding in an HTTP/1.0 response";
  }
  return {};
}

void ChunkExtensionCheck::operator()(std::uint64_t /*size*/, beast::string_view extensions,
                                     error_code& ec) {
  if (extensions.size() > limit_) {
    problem_ = "chunk extensions longer than " + std::to_string(limit_) + " bytes";
    ec = http::error::bad_chunk_extension;
  }
}

bool is_malformed(const error_code& ec) {
  if (!ec || ec.category() != http::make_error_code(http::error::need_more).category()) {
    return false;
  }
  return ec != http::error::end_of_stream && ec != http::error::partial_message &&
         ec != http::error::need_more && ec != http::error::need_buffer;
}

bool expects_continue(const http::fields& fields) {
  const auto it = fields.find(http::field::expect);
  return it != fields.end() && iequals(trim(it->value()), "100-continue");
}

}  // namespace egressd::io
