// Fuzz target: the message-head path of the data path, without sockets. The first byte
// chooses a request or a response head and how many bytes each read delivers; the rest is
// what the peer sent. Checked:
// - arriving in pieces gives the same verdict as arriving at once (a beginning is never
//   refused when the whole head would pass, and never passes when it would be refused);
// - a head that passes, with framing that passes, has one unambiguous framing: at most one
//   Content-Length, never with Transfer-Encoding, HTTP/1.0 or 1.1, no control characters;
// - the head egressd would forward (rewritten for the origin, or for the client) is read
//   back by the same checks as the same message: a fast path to desync would show here.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/request_target.hpp"
#include "fuzz_check.hpp"
#include "io/http_headers.hpp"

namespace {

using egressd::io::HeadProgress;
using egressd::io::HeadStatus;
namespace http = egressd::io::http;

// Small limits, so that short inputs reach them.
egressd::core::Limits fuzz_limits() {
  egressd::core::Limits limits;
  limits.header_bytes = 1024;
  limits.request_line_bytes = 256;
  limits.header_count = 16;
  return limits;
}

template <bool isRequest>
struct Attempt {
  http::parser<isRequest, http::buffer_body> parser;
  HeadProgress progress = HeadProgress::incomplete;
  std::size_t used = 0;
  std::string problem;
  HeadStatus status = HeadStatus::ok;
  egressd::io::error_code ec;

  explicit Attempt(const egressd::core::Limits& limits) {
    egressd::io::prepare_parser(parser, limits);
  }
  void take(std::string_view bytes, const egressd::core::Limits& limits) {
    progress = egressd::io::take_head(bytes, parser, limits, used, problem, status, ec);
  }
};

// Feeds `bytes` to a fresh parser `step` bytes at a time, as reads would deliver them.
template <bool isRequest>
void take_in_pieces(Attempt<isRequest>& attempt, std::string_view bytes, std::size_t step,
                    const egressd::core::Limits& limits) {
  for (std::size_t n = std::min(step, bytes.size());; n = std::min(n + step, bytes.size())) {
    attempt.take(bytes.substr(0, n), limits);
    if (attempt.progress != HeadProgress::incomplete || n == bytes.size()) return;
  }
}

bool has_control_character(std::string_view s) {
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return true;
  }
  return false;
}

// The invariants of a head that passed every check, framing included.
void check_passed_fields(const http::fields& fields) {
  std::size_t lengths = 0;
  std::size_t codings = 0;
  for (const auto& field : fields) {
    FUZZ_CHECK(!field.name_string().empty());
    FUZZ_CHECK(!has_control_character(field.name_string()));
    FUZZ_CHECK(!has_control_character(field.value()));
    if (field.name() == http::field::content_length) ++lengths;
    if (field.name() == http::field::transfer_encoding) ++codings;
  }
  FUZZ_CHECK(lengths <= 1);
  FUZZ_CHECK(codings <= 1);
  FUZZ_CHECK(lengths == 0 || codings == 0);
}

std::vector<std::pair<std::string, std::string>> field_list(const http::fields& fields) {
  std::vector<std::pair<std::string, std::string>> list;
  for (const auto& field : fields)
    list.emplace_back(std::string(field.name_string()), std::string(field.value()));
  return list;
}

// Serialises a head as egressd writes it and reads it back with the same checks (default
// limits: the rewrite adds a Via). It must pass and come back as the same message.
template <bool isRequest>
void check_reads_back(const http::header<isRequest>& head) {
  std::ostringstream out;
  out << head;
  const std::string bytes = out.str();
  const egressd::core::Limits limits;
  Attempt<isRequest> again(limits);
  again.take(bytes, limits);
  FUZZ_CHECK(again.progress == HeadProgress::parsed);
  FUZZ_CHECK(again.used == bytes.size());
  const auto& reread = again.parser.get();
  FUZZ_CHECK(egressd::io::framing_problem(reread).empty());
  FUZZ_CHECK(reread.version() == head.version());
  FUZZ_CHECK(field_list(reread) == field_list(head));
  if constexpr (isRequest) {
    FUZZ_CHECK(reread.method_string() == head.method_string());
    FUZZ_CHECK(reread.target() == head.target());
  } else {
    FUZZ_CHECK(reread.result_int() == head.result_int());
  }
}

template <bool isRequest>
void run(std::string_view bytes, std::size_t step) {
  const auto limits = fuzz_limits();
  Attempt<isRequest> whole(limits);
  whole.take(bytes, limits);
  Attempt<isRequest> pieces(limits);
  take_in_pieces(pieces, bytes, step, limits);
  if (pieces.progress != whole.progress) {
    std::fprintf(stderr, "at once: %d %s (%s); in pieces of %zu: %d %s (%s)\n",
                 static_cast<int>(whole.progress), whole.problem.c_str(), whole.ec.message().c_str(),
                 step, static_cast<int>(pieces.progress), pieces.problem.c_str(),
                 pieces.ec.message().c_str());
  }
  FUZZ_CHECK(pieces.progress == whole.progress);
  if (whole.progress == HeadProgress::refused) FUZZ_CHECK(whole.ec);
  if (whole.progress != HeadProgress::parsed) return;
  FUZZ_CHECK(pieces.used == whole.used);

  auto& head = whole.parser.get();
  FUZZ_CHECK(head.version() == 10 || head.version() == 11);
  if (!egressd::io::framing_problem(head).empty()) return;
  check_passed_fields(head);

  if constexpr (isRequest) {
    FUZZ_CHECK(!head.method_string().empty());
    const std::string_view raw_target(head.target().data(), head.target().size());
    if (head.method() == http::verb::connect) {
      if (const auto authority = egressd::core::parse_authority_target(raw_target))
        FUZZ_CHECK(!authority->host.name.empty() && authority->port != 0);
      return;
    }
    const auto target = egressd::core::parse_absolute_target(raw_target);
    if (!target) return;
    const bool chunked = whole.parser.chunked();
    const auto length = whole.parser.content_length();
    egressd::io::rewrite_request_head(head, target->origin_form, target->host_header(), "egressd",
                                      chunked, length);
    check_passed_fields(head);
    FUZZ_CHECK((head.find(http::field::transfer_encoding) != head.end()) == chunked);
    check_reads_back(head);
  } else {
    egressd::io::strip_hop_by_hop(head);
    egressd::io::append_via(head, head.version(), "egressd");
    head.version(11);
    check_passed_fields(head);
    check_reads_back(head);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool is_request = (data[0] & 0x80) == 0;
  const std::size_t step = (data[0] & 0x3f) + 1;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (is_request) {
    run<true>(bytes, step);
  } else {
    run<false>(bytes, step);
  }
  return 0;
}
