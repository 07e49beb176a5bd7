// Header rules for relaying HTTP/1.x messages: hop-by-hop removal, Via, framing checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "io/asio.hpp"

namespace egressd::io {

// Removes the hop-by-hop fields of RFC 9110 §7.6.1 (Connection, Keep-Alive,
// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade) and every field named in a Connection header.
// Framing is re-established by the caller from what the parser learnt.
void strip_hop_by_hop(http::fields& fields);

// Appends "<major>.<minor> <via_name>" to the Via field (one comma-separated list); an
// empty via_name adds nothing (tinyproxy's DisableViaHeader).
void append_via(http::fields& fields, unsigned version, std::string_view via_name);

// Rewrites a request head in place for the origin: the origin-form target, `host_header`
// as Host, no hop-by-hop fields, our Via, HTTP/1.1, and the framing the parser saw
// re-established (chunked, or `length` as Content-Length, or no body at all). `length`
// is what the parser gives (Beast uses boost::optional).
void rewrite_request_head(http::request_header<>& request, std::string_view origin_form,
                          std::string_view host_header, std::string_view via_name, bool chunked,
                          boost::optional<std::uint64_t> length);

// How a refused message head is answered when it is a request (a refused response head
// always makes a 502).
enum class HeadStatus {
  ok,
  bad_request,       // 400: malformed, or framing another parser could read differently
  uri_too_long,      // 414: the request line is longer than limits.request_line_bytes
  fields_too_large,  // 431: more than limits.header_bytes, or limits.header_count fields
};

// Checks a complete raw message head, as received: the start line and the field lines,
// each ending in CRLF, without the empty line that ends the head. Beast parses the head
// afterwards; this is the stricter pass that refuses what Beast accepts but another
// parser could read differently. Returns an empty string (and HeadStatus::ok) when the
// head passes; otherwise why it is refused, with `status` set to:
// - uri_too_long: a request line longer than limits.request_line_bytes;
// - fields_too_large: a head longer than limits.header_bytes, or more than
//   limits.header_count field lines;
// - bad_request: a CR or LF that is not part of a CRLF; a request line that is not
//   exactly "METHOD SP target SP version" with a method of A-Z, 0-9, '-' and '_' and a
//   target of visible ASCII only; a version other than HTTP/1.0 or HTTP/1.1 (requests
//   and responses); a status line that is not "HTTP/1.x SP 3DIGIT [SP reason]"; obsolete
//   line folding; a field line without a colon, with an empty or non-token name, or with
//   whitespace before the colon; a name that imitates Transfer-Encoding or
//   Content-Length once '_' is read as '-' ("Transfer_Encoding", "Content--Length"); a
//   control character (other than HTAB) or DEL in a field value or a reason phrase
//   (bytes 0x80-0xFF, obs-text, are allowed in values); Transfer-Encoding together with
//   Content-Length, or Content-Length more than once (framing_problem() has the rest).
// Messages never quote the client's bytes, only field names that passed the check.
std::string head_problem(std::string_view head, bool is_request, const core::Limits& limits,
                         HeadStatus& status);

// Checks the beginning of a head whose end has not arrived yet, so that a refusal need
// not wait for the whole head (or for the deadline): a request line that is already
// longer than the limit (uri_too_long), more bytes than a head of limits.header_bytes
// and its empty line can take, or more
// complete field lines than limits.header_count (fields_too_large), a bare LF or a CR
// followed by anything but LF (bad_request). Same contract as head_problem() otherwise.
std::string partial_head_problem(std::string_view bytes, bool is_request,
                                 const core::Limits& limits, HeadStatus& status);

// Sets up a parser for take_head(): Beast's own head limit just above ours (the head
// plus its empty line; head_problem() is the exact check), and no body limit (bodies
// stream through in pieces and are never held; Beast 1.74 compares a Content-Length
// against a disabled limit wrongly, so the limit is the largest value instead).
template <bool isRequest>
void prepare_parser(http::parser<isRequest, http::buffer_body>& parser,
                    const core::Limits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_bytes + 2));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
}

// What the bytes buffered so far make of a message head (see take_head()).
enum class HeadProgress {
  incomplete,  // no empty line yet, and nothing refused so far: read more
  parsed,      // the head passed our checks and the parser has it
  refused,     // `ec` says why (and `problem`/`status` when our checks refused it)
};

// The synchronous step of reading a message head, without any I/O: `bytes` is everything
// received so far on the connection. When it holds a complete head (up to the empty line),
// the head is checked with head_problem() and only then given to `parser`; `used` is set to
// the number of bytes the parser took (the head). Otherwise the beginning is checked with
// partial_head_problem(). On refusal, `ec` is http::error::header_limit (431),
// http::error::bad_target (414) or http::error::bad_value for our own checks, or Beast's
// error; `problem` and `status` are set for our own checks.
template <bool isRequest>
HeadProgress take_head(std::string_view bytes, http::parser<isRequest, http::buffer_body>& parser,
                       const core::Limits& limits, std::size_t& used, std::string& problem,
                       HeadStatus& status, error_code& ec);

// Checks the framing fields of a message before anything is relayed. Returns an empty
// string when the framing is unambiguous; otherwise why it is refused:
// - Transfer-Encoding together with Content-Length;
// - more than one Content-Length field, a list value ("10, 10"), an empty or non-numeric
//   value, or one with more than 18 significant digits (which a signed 64-bit reader
//   would misread);
// - a Transfer-Encoding that is not exactly one field with the single coding "chunked"
//   (case-insensitive, surrounding whitespace allowed): empty, "chunked, chunked", a
//   coding other than chunked ("gzip, chunked", "chunked;x"), or several field lines.
// egressd decodes and re-frames every body itself, so it only needs to, and only does,
// understand chunked.
std::string framing_problem(const http::fields& fields);

// framing_problem() for a request head, plus: Transfer-Encoding in an HTTP/1.0 request,
// and a body on GET, HEAD, TRACE or CONNECT (any Transfer-Encoding, or a Content-Length
// other than 0): servers that ignore such a body would read it as the next request. A
// request message picks this overload.
std::string framing_problem(const http::request_header<>& request);

// framing_problem() for a response head, plus: Transfer-Encoding in an HTTP/1.0 response.
// A response message picks this overload.
std::string framing_problem(const http::response_header<>& response);

// The on_chunk_header callback for a Beast parser (`parser.on_chunk_header(check)`; the
// parser keeps a reference, so the object must outlive the body). Beast has checked the
// chunk size and the extensions' syntax before it calls this; this refuses a chunk whose
// extensions are longer than the limit given to reset(), with
// http::error::bad_chunk_extension, and keeps why in problem().
class ChunkExtensionCheck {
 public:
  void reset(std::size_t limit) {
    limit_ = limit;
    problem_.clear();
  }
  void operator()(std::uint64_t size, beast::string_view extensions, error_code& ec);
  // Why the last chunk was refused; empty if none was.
  const std::string& problem() const { return problem_; }

 private:
  std::size_t limit_ = 0;
  std::string problem_;
};

// True when `ec` is Beast's (or our) verdict that a message is malformed: an
// http::error other than the ones that mean "the stream ended" or "go on"
// (end_of_stream, partial_message, need_more, need_buffer).
bool is_malformed(const error_code& ec);

// True when the Expect field asks for 100-continue.
bool expects_continue(const http::fields& fields);

}  // namespace egressd::io
