// Tests for request-target classification and absolute/authority-form parsing.
#include "core/request_target.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace egressd::core {
namespace {

struct Shape {
  std::string target;
  TargetForm form;
};

void PrintTo(const Shape& s, std::ostream* os) { *os << '"' << s.target << '"'; }

class ClassifyTarget : public ::testing::TestWithParam<Shape> {};

TEST_P(ClassifyTarget, ByShape) {
  EXPECT_EQ(classify_target(GetParam().target), GetParam().form) << GetParam().target;
}

INSTANTIATE_TEST_SUITE_P(
    All, ClassifyTarget,
    ::testing::Values(
        Shape{"/", TargetForm::origin}, Shape{"/index.html?q=1", TargetForm::origin},
        Shape{"//double", TargetForm::origin}, Shape{"*", TargetForm::asterisk},
        Shape{"http://example.com/", TargetForm::absolute},
        Shape{"HTTP://example.com", TargetForm::absolute},
        Shape{"https://example.com/", TargetForm::absolute},
        Shape{"ftp://example.com/", TargetForm::absolute},
        Shape{"svn+ssh://example.com/", TargetForm::absolute},
        Shape{"example.com:443", TargetForm::authority},
        Shape{"[::1]:443", TargetForm::authority}, Shape{"10.0.0.1:80", TargetForm::authority},
        Shape{"example.com:", TargetForm::authority}, Shape{"", TargetForm::invalid},
        Shape{"**", TargetForm::invalid}, Shape{"example.com", TargetForm::invalid},
        Shape{"example.com/path", TargetForm::invalid}, Shape{"?x", TargetForm::invalid},
        Shape{"1http://x/", TargetForm::invalid}, Shape{"://x/", TargetForm::invalid},
        Shape{"http:/x", TargetForm::invalid}, Shape{"ht tp://x/", TargetForm::invalid},
        Shape{"mailto:a@b", TargetForm::authority},  // shape only; parsing refuses it
        Shape{"host:80/x", TargetForm::invalid}, Shape{"host:80#f", TargetForm::invalid}));

struct Absolute {
  std::string target;
  std::string host;
  std::uint16_t port;
  bool port_explicit;
  std::string origin_form;
  std::string host_header;
};

void PrintTo(const Absolute& a, std::ostream* os) { *os << '"' << a.target << '"'; }

class AbsoluteAccepts : public ::testing::TestWithParam<Absolute> {};

TEST_P(AbsoluteAccepts, SplitsAndNormalises) {
  const auto& a = GetParam();
  auto t = parse_absolute_target(a.target);
  ASSERT_TRUE(t.ok()) << a.target << ": " << t.error().message;
  EXPECT_EQ(t->scheme, "http");
  EXPECT_EQ(t->host.name, a.host);
  EXPECT_EQ(t->port, a.port);
  EXPECT_EQ(t->port_explicit, a.port_explicit);
  EXPECT_EQ(t->origin_form, a.origin_form);
  EXPECT_EQ(t->host_header(), a.host_header);
}

INSTANTIATE_TEST_SUITE_P(
    All, AbsoluteAccepts,
    ::testing::Values(
        Absolute{"http://example.com", "example.com", 80, false, "/", "example.com"},
        Absolute{"http://example.com/", "example.com", 80, false, "/", "example.com"},
        Absolute{"HTTP://WWW.Example.COM./A/b?C=D", "www.example.com", 80, false, "/A/b?C=D",
                 "www.example.com"},
        Absolute{"hTTp://example.com:80/", "example.com", 80, true, "/", "example.com"},
        Absolute{"http://example.com:8080/x", "example.com", 8080, true, "/x",
                 "example.com:8080"},
        Absolute{"http://example.com:1", "example.com", 1, true, "/", "example.com:1"},
        Absolute{"http://example.com:65535/", "example.com", 65535, true, "/",
                 "example.com:65535"},
        Absolute{"http://h?x", "h", 80, false, "/?x", "h"},
        Absolute{"http://h:81?x=1&y", "h", 81, true, "/?x=1&y", "h:81"},
        Absolute{"http://h/?", "h", 80, false, "/?", "h"},
        Absolute{"http://h?", "h", 80, false, "/?", "h"},
        Absolute{"http://10.0.0.1/", "10.0.0.1", 80, false, "/", "10.0.0.1"},
        Absolute{"http://10.0.0.1:3128/", "10.0.0.1", 3128, true, "/", "10.0.0.1:3128"},
        Absolute{"http://[::1]/", "::1", 80, false, "/", "[::1]"},
        Absolute{"http://[2001:DB8::0001]:8080/p", "2001:db8::1", 8080, true, "/p",
                 "[2001:db8::1]:8080"},
        Absolute{"http://[::ffff:1.2.3.4]", "::ffff:1.2.3.4", 80, false, "/",
                 "[::ffff:1.2.3.4]"},
        // The path and query are forwarded exactly as sent, escapes and all.
        Absolute{"http://h/a%2Fb/../c//d?q=%00&x=y;z", "h", 80, false,
                 "/a%2Fb/../c//d?q=%00&x=y;z", "h"},
        Absolute{"http://h/~user/!$&'()*+,;=:@[]", "h", 80, false, "/~user/!$&'()*+,;=:@[]",
                 "h"},
        Absolute{"http://h/a?b?c/d", "h", 80, false, "/a?b?c/d", "h"},
        Absolute{"http://h/a\\b", "h", 80, false, "/a\\b", "h"}));

struct Reject {
  std::string target;
  std::string reason_contains;
};

void PrintTo(const Reject& r, std::ostream* os) { *os << '"' << r.target << '"'; }

class AbsoluteRejects : public ::testing::TestWithParam<Reject> {};

TEST_P(AbsoluteRejects, WithReason) {
  const auto& r = GetParam();
  auto t = parse_absolute_target(r.target);
  ASSERT_FALSE(t.ok()) << r.target << " gave " << t->host.name << " " << t->origin_form;
  EXPECT_NE(t.error().message.find(r.reason_contains), std::string::npos)
      << r.target << ": " << t.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, AbsoluteRejects,
    ::testing::Values(
        Reject{"https://example.com/", "CONNECT"}, Reject{"HTTPS://example.com/", "CONNECT"},
        Reject{"ftp://example.com/", "only http"}, Reject{"ws://example.com/", "only http"},
        Reject{"httpx://example.com/", "only http"}, Reject{"/path", "absolute"},
        Reject{"example.com:80", "absolute"}, Reject{"http:/example.com", "absolute"},
        Reject{"", "absolute"},
        Reject{"http://user@example.com/", "user"},
        Reject{"http://user:pw@example.com/", "user"},
        Reject{"http://@example.com/", "user"},
        Reject{"http://evil.example@good.example/", "user"},
        Reject{"http://example.com/#frag", "fragment"},
        Reject{"http://example.com#frag", "fragment"},
        Reject{"http://example.com/?a#b", "fragment"},
        Reject{"http://example.com:/", "empty port"},
        Reject{"http://example.com:", "empty port"},
        Reject{"http://example.com:?x", "empty port"},
        Reject{"http://example.com:0/", "port 0"},
        Reject{"http://example.com:65536/", "range"},
        Reject{"http://example.com:99999/", "range"},
        Reject{"http://example.com:4294967376/", "range"},
        Reject{"http://example.com:080/", "leading zeros"},
        Reject{"http://example.com:+80/", "not a number"},
        Reject{"http://example.com:-1/", "not a number"},
        Reject{"http://example.com:8o/", "not a number"},
        Reject{"http://example.com:80:80/", "brackets"},
        Reject{"http://example.com/a b", "characters"},
        Reject{"http://example.com/a\tb", "characters"},
        Reject{"http://example.com/\xc3\xa4", "characters"},
        Reject{std::string("http://example.com/\0", 20), "characters"},
        Reject{"http://example.com/\x7f", "characters"},
        Reject{"http://exa mple.com/", "characters"},
        Reject{"http:///path", "empty host"}, Reject{"http://", "empty host"},
        Reject{"http://?x", "empty host"}, Reject{"http://:80/", "empty host"},
        Reject{"http://2130706433/", "numeric"}, Reject{"http://127.1/", "numeric"},
        Reject{"http://0x7f.0.0.1/", "numeric"}, Reject{"http://017700000001/", "numeric"},
        Reject{"http://1.2.3.04/", "numeric"}, Reject{"http://0177.0.0.1/", "numeric"},
        Reject{"http://1.2.3.4.5/", "numeric"},
        Reject{"http://::1/", "brackets"}, Reject{"http://::1:80/", "brackets"},
        Reject{"http://[::1/", "unterminated"},
        Reject{"http://[::1]x/", "after the IPv6"},
        Reject{"http://[fe80::1%25eth0]/", "zone"},
        Reject{"http://exa%6dple.com/", "percent"},
        Reject{"http://good.example\\.evil.example/", "invalid character"},
        Reject{"http://a..b/", "empty label"}));

TEST(AbsoluteTarget, ZoneIdInBracketsIsRefusedByHost) {
  // '%' is visible ASCII, so this reaches normalize_host, which names the zone id.
  auto t = parse_absolute_target("http://[fe80::1%eth0]/");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("zone"), std::string::npos) << t.error().message;
}

TEST(AbsoluteTarget, HostHeaderForDefaultAndOtherPorts) {
  AbsoluteTarget t;
  t.host = Host{"example.com", std::nullopt};
  t.port = 80;
  EXPECT_EQ(t.host_header(), "example.com");
  t.port = 443;
  EXPECT_EQ(t.host_header(), "example.com:443");
  t.host = Host{"::1", IpAddress::parse("::1")};
  EXPECT_EQ(t.host_header(), "[::1]:443");
  t.host = Host{"10.0.0.1", IpAddress::parse("10.0.0.1")};
  t.port = 80;
  EXPECT_EQ(t.host_header(), "10.0.0.1");
}

struct Authority {
  std::string target;
  std::string host;
  bool is_ip;
  std::uint16_t port;
};

void PrintTo(const Authority& a, std::ostream* os) { *os << '"' << a.target << '"'; }

class AuthorityAccepts : public ::testing::TestWithParam<Authority> {};

TEST_P(AuthorityAccepts, SplitsAndNormalises) {
  const auto& a = GetParam();
  auto t = parse_authority_target(a.target);
  ASSERT_TRUE(t.ok()) << a.target << ": " << t.error().message;
  EXPECT_EQ(t->host.name, a.host);
  EXPECT_EQ(t->host.is_ip(), a.is_ip);
  EXPECT_EQ(t->port, a.port);
}

INSTANTIATE_TEST_SUITE_P(
    All, AuthorityAccepts,
    ::testing::Values(Authority{"example.com:443", "example.com", false, 443},
                      Authority{"Example.COM.:443", "example.com", false, 443},
                      Authority{"example.com:1", "example.com", false, 1},
                      Authority{"example.com:65535", "example.com", false, 65535},
                      Authority{"10.0.0.1:22", "10.0.0.1", true, 22},
                      Authority{"[::1]:443", "::1", true, 443},
                      Authority{"[2001:DB8:0:0::1]:8443", "2001:db8::1", true, 8443}));

class AuthorityRejects : public ::testing::TestWithParam<Reject> {};

TEST_P(AuthorityRejects, WithReason) {
  const auto& r = GetParam();
  auto t = parse_authority_target(r.target);
  ASSERT_FALSE(t.ok()) << r.target << " gave " << t->host.name << ":" << t->port;
  EXPECT_NE(t.error().message.find(r.reason_contains), std::string::npos)
      << r.target << ": " << t.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    All, AuthorityRejects,
    ::testing::Values(
        Reject{"", "empty"}, Reject{"example.com", "needs a port"},
        Reject{"[::1]", "needs a port"}, Reject{"example.com:", "empty port"},
        Reject{"[::1]:", "empty port"}, Reject{"example.com:0", "port 0"},
        Reject{"example.com:65536", "range"}, Reject{"example.com:100000", "range"},
        Reject{"example.com:0443", "leading zeros"}, Reject{"example.com:+443", "not a number"},
        Reject{"example.com:44 3", "characters"}, Reject{"example.com:https", "not a number"},
        Reject{"example.com:443:443", "brackets"},
        Reject{"user@example.com:443", "user"}, Reject{"example.com:443/", "path"},
        Reject{"example.com:443?x", "path"}, Reject{"example.com:443#x", "path"},
        Reject{"http://example.com:443", "path"}, Reject{":443", "empty host"},
        Reject{"::1:443", "brackets"}, Reject{"[::1:443", "unterminated"},
        Reject{"[::1]443", "after the IPv6"}, Reject{"[fe80::1%eth0]:443", "zone"},
        Reject{"2130706433:443", "numeric"}, Reject{"127.1:443", "numeric"},
        Reject{"0x7f.0.0.1:443", "numeric"}, Reject{"1.2.3.4.5:443", "numeric"},
        Reject{"exa\xc3\xa4mple.com:443", "characters"},
        Reject{"example.com\r\n:443", "characters"}, Reject{"a..b:443", "empty label"}));

}  // namespace
}  // namespace egressd::core
