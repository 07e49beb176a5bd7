// Unit tests for the header rules applied when relaying messages.
#include "io/http_headers.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace egressd::io {
namespace {

TEST(StripHopByHop, RemovesStandardFieldsAndThoseNamedInConnection) {
  http::fields f;
  f.insert(http::field::connection, "keep-alive, X-Secret , x-other");
  f.insert(http::field::keep_alive, "timeout=5");
  f.insert(http::field::proxy_connection, "keep-alive");
  f.insert(http::field::proxy_authorization, "Basic Zm9vOmJhcg==");
  f.insert(http::field::te, "trailers");
  f.insert(http::field::trailer, "X-T");
  f.insert(http::field::transfer_encoding, "chunked");
  f.insert(http::field::upgrade, "websocket");
  f.insert("X-Secret", "1");
  f.insert("X-Other", "2");
  f.insert("X-Kept", "3");
  f.insert(http::field::user_agent, "curl");
  strip_hop_by_hop(f);
  std::vector<std::string> left;
  for (const auto& field : f) left.emplace_back(field.name_string());
  EXPECT_EQ(left, (std::vector<std::string>{"X-Kept", "User-Agent"}));
}

TEST(StripHopByHop, HandlesSeveralConnectionFields) {
  http::fields f;
  f.insert(http::field::connection, "x-a");
  f.insert(http::field::connection, "x-b");
  f.insert("X-A", "1");
  f.insert("X-B", "1");
  strip_hop_by_hop(f);
  EXPECT_EQ(f.begin(), f.end());
}

TEST(AppendVia, AddsOrExtends) {
  http::fields f;
  append_via(f, 11, "egressd");
  EXPECT_EQ(f[http::field::via], "1.1 egressd");
  http::fields g;
  g.insert(http::field::via, "1.0 fred");
  g.insert(http::field::via, "1.1 p.example.net");
  append_via(g, 10, "egressd");
  EXPECT_EQ(g[http::field::via], "1.0 fred, 1.1 p.example.net, 1.0 egressd");
  EXPECT_EQ(g.count(http::field::via), 1u);
}

TEST(FramingProblem, AcceptsUnambiguousFraming) {
  http::fields none;
  EXPECT_EQ(framing_problem(none), "");
  http::fields cl;
  cl.insert(http::field::content_length, "10");
  EXPECT_EQ(framing_problem(cl), "");
  http::fields te;
  te.insert(http::field::transfer_encoding, "Chunked");
  EXPECT_EQ(framing_problem(te), "");
}

TEST(FramingProblem, RefusesAmbiguousFraming) {
  http::fields both;
  both.insert(http::field::content_length, "10");
  both.insert(http::field::transfer_encoding, "chunked");
  EXPECT_NE(framing_problem(both), "");
  http::fields two_cl;
  two_cl.insert(http::field::content_length, "10");
  two_cl.insert(http::field::content_length, "10");
  EXPECT_NE(framing_problem(two_cl), "");
  http::fields list_cl;
  list_cl.insert(http::field::content_length, "10, 10");
  EXPECT_NE(framing_problem(list_cl), "");
  http::fields gzip;
  gzip.insert(http::field::transfer_encoding, "gzip, chunked");
  EXPECT_NE(framing_problem(gzip), "");
  http::fields two_te;
  two_te.insert(http::field::transfer_encoding, "chunked");
  two_te.insert(http::field::transfer_encoding, "chunked");
  EXPECT_NE(framing_problem(two_te), "");
}

TEST(FramingProblem, RefusesBadContentLengthValues) {
  for (const char* value : {"", " ", "-1", "+1", "1000 1000", "1000.1000", "1000,1000", "0x10",
                            "1000\x01", "1000\xa0", "1234567890123456789"}) {
    http::fields f;
    f.insert(http::field::content_length, value);
    EXPECT_NE(framing_problem(f), "") << value;
  }
  for (const char* value : {"0", " 22220  ", "000000000000000000000005", "123456789012345678"}) {
    http::fields f;
    f.insert(http::field::content_length, value);
    EXPECT_EQ(framing_problem(f), "") << value;
  }
}

TEST(FramingProblem, AcceptsOnlyASingleChunked) {
  for (const char* value : {"chunked", " CHUNKED\t", "ChUnKeD"}) {
    http::fields f;
    f.insert(http::field::transfer_encoding, value);
    EXPECT_EQ(framing_problem(f), "") << value;
  }
  for (const char* value : {"", " ", ",", "chunked,", ", chunked", "chunked, chunked",
                            "chunked,chunked", "gzip, chunked", "chunked, gzip", "identity",
                            "xchunked", "chunk", "chunked;ext", "chunked\x01", "\x01" "chunked",
                            "chunked\xa0"}) {
    http::fields f;
    f.insert(http::field::transfer_encoding, value);
    EXPECT_NE(framing_problem(f), "") << value;
  }
  http::fields two;
  two.insert(http::field::transfer_encoding, "chunked");
  two.insert(http::field::transfer_encoding, "");
  EXPECT_NE(framing_problem(two), "");
  http::fields twice;
  twice.insert(http::field::transfer_encoding, "chunked");
  twice.insert(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(framing_problem(twice), "chunked applied more than once");
}

TEST(FramingProblem, RequestRules) {
  http::request_header<> get;
  get.method(http::verb::get);
  get.version(11);
  EXPECT_EQ(framing_problem(get), "");
  get.set(http::field::content_length, "0");
  EXPECT_EQ(framing_problem(get), "");
  get.set(http::field::content_length, "10");
  EXPECT_NE(framing_problem(get), "");

  http::request_header<> head;
  head.method(http::verb::head);
  head.set(http::field::transfer_encoding, "chunked");
  EXPECT_NE(framing_problem(head), "");

  http::request_header<> post;
  post.method(http::verb::post);
  post.version(11);
  post.set(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(framing_problem(post), "");
  post.version(10);
  EXPECT_EQ(framing_problem(post), "Transfer-Encoding in an HTTP/1.0 request");
  post.erase(http::field::transfer_encoding);
  post.set(http::field::content_length, "10");
  EXPECT_EQ(framing_problem(post), "");

  http::request_header<> connect;
  connect.method(http::verb::connect);
  connect.set(http::field::transfer_encoding, "chunked");
  EXPECT_NE(framing_problem(connect), "");

  // A whole message picks the request overload.
  http::request<http::string_body> message{http::verb::get, "/", 11};
  message.set(http::field::content_length, "3");
  EXPECT_NE(framing_problem(message), "");
}

TEST(FramingProblem, ResponseRules) {
  http::response<http::empty_body> response{http::status::ok, 10};
  response.set(http::field::transfer_encoding, "chunked");
  EXPECT_EQ(framing_problem(response), "Transfer-Encoding in an HTTP/1.0 response");
  response.version(11);
  EXPECT_EQ(framing_problem(response), "");
}

class HeadProblemTest : public ::testing::Test {
 protected:
  std::string check(std::string_view head, bool is_request = true) {
    status = HeadStatus::ok;
    return head_problem(head, is_request, limits, status);
  }
  core::Limits limits;
  HeadStatus status = HeadStatus::ok;
};

TEST_F(HeadProblemTest, AcceptsOrdinaryHeads) {
  EXPECT_EQ(check("GET http://a.test/x?y=1 HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\n"), "");
  EXPECT_EQ(status, HeadStatus::ok);
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.0\r\n"), "");
  EXPECT_EQ(check("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n"), "");
  EXPECT_EQ(check("M-SEARCH http://a.test/ HTTP/1.1\r\nX_Y: z\r\n"), "");
  // tchar names, obs-text and tabs in values, empty values.
  EXPECT_EQ(check("POST http://a.test/ HTTP/1.1\r\nMy-Custom-Header.!#$%&'*+^_`|~09: "
                  "\t\tv;`\x85\x93\xa0\r\nX-Empty:\r\n"),
            "");
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", false), "");
  EXPECT_EQ(check("POST http://a.test/ HTTP/1.1\r\ntransfer-ENCODING: chunked\r\n"
                  "X-Content-Length: 1\r\nContent-Type: a\r\n"),
            "");
  EXPECT_EQ(check("HTTP/1.0 404 Not \xe9 Found\r\n", false), "");
  EXPECT_EQ(check("HTTP/1.1 204 \r\n", false), "");
}

TEST_F(HeadProblemTest, RefusesMalformedRequestLines) {
  for (const char* head : {
           "GET http://a.test/ HTTP/1.2\r\n",
           "GET http://a.test/ HTTP/0.9\r\n",
           "GET http://a.test/ HTTP/2.0\r\n",
           "GET http://a.test/\r\n",
           "GET http://a.test/ \r\n",
           "GET http://a.test/ HTTP/1.1 \r\n",
           "GET http://a.test/ HTTP/1.1 HTTP/1.1\r\n",
           "GET  http://a.test/ HTTP/1.1\r\n",
           "GET http://a.test/ http/1.1\r\n",
           "get http://a.test/ HTTP/1.1\r\n",
           "bad_method http://a.test/ HTTP/1.1\r\n",
           "G\x01T http://a.test/ HTTP/1.1\r\n",
           " GET http://a.test/ HTTP/1.1\r\n",
           "\r\nGET http://a.test/ HTTP/1.1\r\n",
           "GET http://a.test/a\tb HTTP/1.1\r\n",
           "GET http://a.test/a\x01" "b HTTP/1.1\r\n",
           "GET http://a.test/a\x7f HTTP/1.1\r\n",
           "GET http://a.test/\xd1\x81 HTTP/1.1\r\n",
           "GET http://a.test/?a=b c HTTP/1.1\r\n",
       }) {
    EXPECT_NE(check(head), "") << head;
    EXPECT_EQ(status, HeadStatus::bad_request) << head;
  }
  std::string nul = "GET http://a.test/a";
  nul += '\0';
  nul += " HTTP/1.1\r\n";
  EXPECT_NE(check(nul), "");
}

TEST_F(HeadProblemTest, RefusesMalformedFieldLines) {
  for (const char* field : {
           "X-Bad : a",  "X-Bad\t: a", "Transfer-Encoding : chunked", " X: a", "\tX: a",
           ": a",        "   : a",     "X-\x01" "Bad: a", "\x01X: a",
           "Tran\xc5\xbf" "fer-Encoding: chunked",
           "Transfer_Encoding\x88: a", "X(y): a", "X/y: a", "X@y: a", "no colon",
           "X: a\x01" "b", "X: a\x7f", "X: \x1b[31m", "X: a\x0b" "b",
           "Transfer_Encoding: chunked", "Content_Length: 3", "Transfer---Encoding: chunked",
           "transfer___encoding: chunked", "TransferEncoding: chunked", "-Content-Length-: 1",
       }) {
    const std::string head = std::string("GET http://a.test/ HTTP/1.1\r\nHost: a\r\n") + field +
                             "\r\n";
    EXPECT_NE(check(head), "") << field;
    EXPECT_EQ(status, HeadStatus::bad_request) << field;
  }
  std::string nul = "GET http://a.test/ HTTP/1.1\r\nX: a";
  nul += '\0';
  nul += "b\r\n";
  EXPECT_NE(check(nul), "");
  EXPECT_NE(check(std::string("GET http://a.test/ HTTP/1.1\r\nX") + '\0' + ": a\r\n"), "");
}

TEST_F(HeadProblemTest, RefusesObsFoldAndBareLineBreaks) {
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r\nA: b\r\n c\r\n"), "obsolete line folding");
  EXPECT_NE(check("GET http://a.test/ HTTP/1.1\r\nA: b\r\n\tc\r\n"), "");
  EXPECT_NE(check("GET http://a.test/ HTTP/1.1\r\nA: b\nTransfer-Encoding: chunked\r\n"), "");
  EXPECT_NE(check("GET http://a.test/ HTTP/1.1\r\nA: b\rTransfer-Encoding: chunked\r\n"), "");
  EXPECT_NE(check("GET http://a.test/ HTTP/1.1\nA: b\r\n"), "");
  EXPECT_NE(check("GET http://a.test/a\rb HTTP/1.1\r\n"), "");
  EXPECT_EQ(status, HeadStatus::bad_request);
}

TEST_F(HeadProblemTest, RefusesConflictingFramingFields) {
  EXPECT_EQ(check("POST http://a.test/ HTTP/1.1\r\ntransfer-encoding: chunked\r\n"
                  "Content-Length: 3\r\n"),
            "Transfer-Encoding together with Content-Length");
  EXPECT_EQ(check("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nCONTENT-LENGTH: 3\r\n", false),
            "more than one Content-Length");
  EXPECT_EQ(status, HeadStatus::bad_request);
}

TEST_F(HeadProblemTest, RefusesMalformedStatusLines) {
  for (const char* head : {"HTTP/1.2 200 OK\r\n", "HTTP/2 200 OK\r\n", "HTTP/1.1 20 OK\r\n",
                           "HTTP/1.1 2000 OK\r\n", "HTTP/1.1 200 O\x01K\r\n",
                           "HTTP/1.1  200 OK\r\n", "this is not HTTP at all\r\n",
                           "HTTP/1.1 200 OK\r\nX : y\r\n",
                           "HTTP/1.1 200 OK\r\nX: y\r\n z\r\n"}) {
    EXPECT_NE(check(head, false), "") << head;
  }
}

TEST_F(HeadProblemTest, EnforcesTheLimits) {
  limits.request_line_bytes = 40;
  limits.header_count = 3;
  limits.header_bytes = 200;
  const std::string long_line = "GET http://a.test/" + std::string(30, 'a') + " HTTP/1.1\r\n";
  EXPECT_NE(check(long_line), "");
  EXPECT_EQ(status, HeadStatus::uri_too_long);
  // The status line of a response has no request-line limit.
  EXPECT_EQ(check("HTTP/1.1 200 " + std::string(40, 'o') + "\r\n", false), "");

  const std::string three = "GET http://a.test/ HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n";
  EXPECT_EQ(check(three), "");
  EXPECT_NE(check(three + "D: 4\r\n"), "");
  EXPECT_EQ(status, HeadStatus::fields_too_large);

  EXPECT_NE(check("GET http://a.test/ HTTP/1.1\r\nA: " + std::string(200, 'a') + "\r\n"), "");
  EXPECT_EQ(status, HeadStatus::fields_too_large);
}

TEST_F(HeadProblemTest, PartialHeadsAreRefusedEarly) {
  limits.request_line_bytes = 40;
  limits.header_count = 2;
  limits.header_bytes = 200;
  auto partial = [&](std::string_view bytes) {
    status = HeadStatus::ok;
    return partial_head_problem(bytes, true, limits, status);
  };
  EXPECT_EQ(partial("GET http://a.test/"), "");
  EXPECT_EQ(partial(std::string(40, 'a') + "\r"), "");  // the CR may start the CRLF
  EXPECT_NE(partial(std::string(41, 'a')), "");
  EXPECT_EQ(status, HeadStatus::uri_too_long);
  EXPECT_NE(partial("GET http://a.test/" + std::string(30, 'a') + " HTTP/1.1\r\nA"), "");
  EXPECT_EQ(status, HeadStatus::uri_too_long);
  EXPECT_EQ(partial("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC"), "");
  EXPECT_NE(partial("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n"), "");
  EXPECT_EQ(status, HeadStatus::fields_too_large);
  EXPECT_NE(partial("GET / HTTP/1.1\nHost: a"), "");
  EXPECT_EQ(status, HeadStatus::bad_request);
  EXPECT_NE(partial("GET / HTTP/1.1\r\nA: 1" + std::string(200, 'a')), "");
  EXPECT_EQ(status, HeadStatus::fields_too_large);
  // A response has no request-line limit.
  status = HeadStatus::ok;
  EXPECT_EQ(partial_head_problem("HTTP/1.1 200 " + std::string(60, 'o'), false, limits, status),
            "");
}

TEST_F(HeadProblemTest, AHeadOfExactlyTheLimitPassesWhateverTheReads) {
  limits.header_bytes = 200;
  std::string head = "GET http://a.test/ HTTP/1.1\r\nA: ";
  head += std::string(200 - head.size() - 2, 'a') + "\r\n";
  ASSERT_EQ(head.size(), 200u);
  EXPECT_EQ(check(head), "");
  // Every beginning of head + empty line passes the partial check: the same verdict as
  // when the whole head arrives in one read.
  const std::string message = head + "\r\n";
  for (std::size_t n = 1; n < message.size(); ++n) {
    status = HeadStatus::ok;
    EXPECT_EQ(partial_head_problem(std::string_view(message).substr(0, n), true, limits, status),
              "")
        << n << " bytes";
  }
  // One byte more does not fit, whole or in pieces.
  const std::string longer = head.substr(0, head.size() - 2) + "a\r\n";
  EXPECT_NE(check(longer), "");
  EXPECT_EQ(status, HeadStatus::fields_too_large);
  status = HeadStatus::ok;
  EXPECT_NE(partial_head_problem(longer + "\r", true, limits, status), "");
  EXPECT_EQ(status, HeadStatus::fields_too_large);
}

TEST_F(HeadProblemTest, ABareLineBreakIsTheReasonWhateverElseIsWrong) {
  // An invalid method before it, a bad field after it: the bare LF or CR is named.
  EXPECT_EQ(check("get http://a.test/ HTTP/1.1\r\nA: b\nC: d\r\n"),
            "a line ending in LF without CR");
  EXPECT_EQ(status, HeadStatus::bad_request);
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r\nA: b\rc\r\nX : y\r\n"),
            "a CR that does not end a line");
  // The first of the two is named.
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r\nA: b\rc\r\nD: e\nf\r\n"),
            "a CR that does not end a line");
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r\nA: b\nc\r\nD: e\rf\r\n"),
            "a line ending in LF without CR");
  // Too many fields, and a bare LF in the last one.
  limits.header_count = 1;
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r\nA: 1\r\nB: 2\n\r\n"),
            "a line ending in LF without CR");
  EXPECT_EQ(status, HeadStatus::bad_request);
  // A CR at the very end is not a bare CR: the value holds it.
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r\nX: a\r"),
            "a control character in the value of X");
  EXPECT_EQ(check("GET http://a.test/ HTTP/1.1\r"), "an HTTP version other than 1.0 or 1.1");
}

TEST_F(HeadProblemTest, EveryByteOfALongValueIsChecked) {
  // Values are checked several bytes at a time; a bad byte anywhere must still count.
  const std::string prefix = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\nCookie: ";
  for (std::size_t at = 0; at < 40; ++at) {
    for (const char bad : {'\x01', '\x1f', '\x7f', '\0', '\x0b'}) {
      std::string value(40, 'v');
      value[at] = bad;
      EXPECT_EQ(check(prefix + value + "\r\nAccept: */*\r\n"),
                "a control character in the value of Cookie")
          << at << " " << static_cast<int>(bad);
      EXPECT_EQ(status, HeadStatus::bad_request);
      EXPECT_EQ(check(prefix + value), "a control character in the value of Cookie") << at;
    }
    for (const char fine : {'\t', ' ', '~', '\x80', '\xff', '\xa0'}) {
      std::string value(40, 'v');
      value[at] = fine;
      EXPECT_EQ(check(prefix + value + "\r\nAccept: */*\r\n"), "")
          << at << " " << static_cast<int>(fine);
    }
  }
  std::string tabs = prefix;
  for (int i = 0; i < 30; ++i) tabs += "\tx";
  EXPECT_EQ(check(tabs + "\r\n"), "");
  EXPECT_EQ(check(tabs + "\x01\r\n"), "a control character in the value of Cookie");
}

TEST_F(HeadProblemTest, FieldNamesAreCheckedWhereverTheyEnd) {
  const std::string start = "POST http://a.test/ HTTP/1.1\r\nHost: a\r\n";
  EXPECT_EQ(check(start + "X-A: 1\r\nX-B\r\n"), "a header line without a colon");
  EXPECT_EQ(check(start + "X-A: 1\r\nX-B"), "a header line without a colon");
  EXPECT_EQ(check(start + "X-A: 1\r\n\r\nX-B: 2\r\n"), "an empty line inside the head");
  EXPECT_EQ(check(start + "X-B\t: 2\r\n"), "whitespace between a header field name and the colon");
  EXPECT_EQ(check(start + "X(B): 2\r\n"), "invalid characters in a header field name");
  EXPECT_EQ(check(start + "Content_Length: 2\r\n"),
            "a header field name that imitates Transfer-Encoding or Content-Length");
  EXPECT_EQ(check(start + "_Transfer-_-Encoding_: chunked\r\n"),
            "a header field name that imitates Transfer-Encoding or Content-Length");
  EXPECT_EQ(check(start + "Content-Lengths: 2\r\nTransfer-Encodin: x\r\nContent-Type: a\r\n"), "");
  EXPECT_EQ(check(start + "CONTENT-length: 2\r\nTransfer-Encoding: chunked\r\n"),
            "Transfer-Encoding together with Content-Length");
  EXPECT_EQ(check(start + "X:\r\nY:\t\r\nZ: :\r\n"), "");
}

TEST_F(HeadProblemTest, TakeHeadFindsTheEndOfTheHead) {
  const auto take = [&](std::string_view bytes, std::size_t& used, std::string& problem) {
    http::parser<true, http::buffer_body> parser;
    prepare_parser(parser, limits);
    error_code ec;
    return take_head<true>(bytes, parser, limits, used, problem, status, ec);
  };
  std::size_t used = 0;
  std::string problem;
  // The first empty line ends the head, even with another one in the body.
  const std::string two = "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\nrest\r\n\r\n";
  EXPECT_EQ(take(two, used, problem), HeadProgress::parsed);
  EXPECT_EQ(used, two.find("rest"));
  EXPECT_EQ(problem, "");
  // An empty line right after a CR: the CR is a bare one.
  EXPECT_EQ(take("GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\r\n\r\n", used, problem),
            HeadProgress::refused);
  EXPECT_EQ(problem, "a CR that does not end a line");
  // No empty line yet.
  for (const char* partial :
       {"GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n\r",
        "GET http://a.test/ HTTP/1.1\r\nHost: a.test\r\n", "GET http://a.test/ HTTP/1.1\r\n\r"}) {
    EXPECT_EQ(take(partial, used, problem), HeadProgress::incomplete) << partial;
  }
}

// Feeds `bytes` to a request parser with a body buffer and the chunk check attached.
error_code parse_chunked(std::string_view bytes, ChunkExtensionCheck& check, std::size_t limit) {
  http::request_parser<http::buffer_body> parser;
  parser.eager(true);
  error_code ec;
  std::string_view rest = bytes;
  const auto head_end = rest.find("\r\n\r\n") + 4;
  parser.put(asio::buffer(rest.data(), head_end), ec);
  if (ec) return ec;
  rest.remove_prefix(head_end);
  check.reset(limit);
  parser.on_chunk_header(check);
  std::array<char, 256> body;
  while (!parser.is_done()) {
    parser.get().body().data = body.data();
    parser.get().body().size = body.size();
    const auto used = parser.put(asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == http::error::need_buffer) continue;
    if (ec) return ec;
  }
  return {};
}

TEST(ChunkExtensionCheck, BoundsExtensionLength) {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  ChunkExtensionCheck check;
  EXPECT_FALSE(parse_chunked(head + "3;a=b\r\nabc\r\n0\r\n\r\n", check, 8));
  EXPECT_EQ(check.problem(), "");
  const auto ec = parse_chunked(head + "3;" + std::string(20, 'x') + "\r\nabc\r\n0\r\n\r\n",
                                check, 8);
  EXPECT_EQ(ec, http::error::bad_chunk_extension);
  EXPECT_EQ(check.problem(), "chunk extensions longer than 8 bytes");
  EXPECT_TRUE(is_malformed(ec));
  // The last chunk's extensions count too.
  EXPECT_EQ(parse_chunked(head + "0;" + std::string(20, 'x') + "\r\n\r\n", check, 8),
            http::error::bad_chunk_extension);
  // Beast refuses bad sizes and extension syntax itself.
  for (const char* body : {"-3\r\nabc\r\n0\r\n\r\n", "0x3\r\nabc\r\n0\r\n\r\n",
                           " 3\r\nabc\r\n0\r\n\r\n", "3 \r\nabc\r\n0\r\n\r\n",
                           "3;\r\nabc\r\n0\r\n\r\n", "3\nabc\r\n0\r\n\r\n",
                           "3\r\nabcd\r\n0\r\n\r\n", "g\r\n0\r\n\r\n",
                           "10000000000000000\r\nabc\r\n0\r\n\r\n"}) {
    const auto bad = parse_chunked(head + body, check, 256);
    EXPECT_TRUE(is_malformed(bad)) << body << ": " << bad.message();
  }
}

TEST(IsMalformed, TellsParseErrorsFromEndings) {
  EXPECT_TRUE(is_malformed(http::error::bad_chunk));
  EXPECT_TRUE(is_malformed(http::error::bad_value));
  EXPECT_TRUE(is_malformed(http::error::header_limit));
  EXPECT_FALSE(is_malformed(http::error::end_of_stream));
  EXPECT_FALSE(is_malformed(http::error::partial_message));
  EXPECT_FALSE(is_malformed(http::error::need_buffer));
  EXPECT_FALSE(is_malformed(asio::error::eof));
  EXPECT_FALSE(is_malformed(beast::error::timeout));
  EXPECT_FALSE(is_malformed(error_code{}));
}

TEST(ExpectsContinue, MatchesCaseInsensitively) {
  http::fields f;
  EXPECT_FALSE(expects_continue(f));
  f.insert(http::field::expect, "100-Continue");
  EXPECT_TRUE(expects_continue(f));
}

}  // namespace
}  // namespace egressd::io
