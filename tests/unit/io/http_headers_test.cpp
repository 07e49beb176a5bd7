// Unit tests for the header rules applied when relaying messages.
#include "io/http_headers.hpp"

#include <gtest/gtest.h>

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

TEST(HasObsFold, FindsContinuationLines) {
  EXPECT_FALSE(has_obs_fold("GET / HTTP/1.1\r\nHost: x\r\nA: b c\r\n"));
  EXPECT_TRUE(has_obs_fold("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n c\r\n"));
  EXPECT_TRUE(has_obs_fold("GET / HTTP/1.1\r\nHost: x\r\nA: b\r\n\tc\r\n"));
  EXPECT_TRUE(has_obs_fold("GET / HTTP/1.1\r\n Host: x\r\n"));
}

TEST(ExpectsContinue, MatchesCaseInsensitively) {
  http::fields f;
  EXPECT_FALSE(expects_continue(f));
  f.insert(http::field::expect, "100-Continue");
  EXPECT_TRUE(expects_continue(f));
}

}  // namespace
}  // namespace egressd::io
