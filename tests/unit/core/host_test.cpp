// Tests for host name normalisation, including the numeric spellings resolvers accept.
#include "core/host.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace egressd::core {
namespace {

struct Accept {
  std::string input;
  std::string name;
  bool is_ip;
};

void PrintTo(const Accept& a, std::ostream* os) { *os << '"' << a.input << '"'; }

class NormalizeHostAccepts : public ::testing::TestWithParam<Accept> {};

TEST_P(NormalizeHostAccepts, GivesCanonicalName) {
  const auto& a = GetParam();
  auto host = normalize_host(a.input);
  ASSERT_TRUE(host.ok()) << a.input << ": " << host.error().message;
  EXPECT_EQ(host->name, a.name);
  EXPECT_EQ(host->is_ip(), a.is_ip);
  if (a.is_ip) {
    EXPECT_EQ(host->ip->to_string(), a.name);
  }
  // Normalising is idempotent (IPv6 needs its brackets back).
  std::string again = host->ip && host->ip->is_v6() ? "[" + host->name + "]" : host->name;
  auto twice = normalize_host(again);
  ASSERT_TRUE(twice.ok()) << again;
  EXPECT_EQ(*twice, *host);
}

INSTANTIATE_TEST_SUITE_P(
    Names, NormalizeHostAccepts,
    ::testing::Values(
        Accept{"example.com", "example.com", false},
        Accept{"WWW.Example.COM.", "www.example.com", false},
        Accept{"www.example.com.", "www.example.com", false},
        Accept{"localhost", "localhost", false}, Accept{"a", "a", false},
        Accept{"A", "a", false}, Accept{"x-y.example", "x-y.example", false},
        Accept{"_dmarc.example.com", "_dmarc.example.com", false},
        Accept{"under_score.example", "under_score.example", false},
        Accept{"xn--bcher-kva.example", "xn--bcher-kva.example", false},
        Accept{"1.2.3.example", "1.2.3.example", false},
        Accept{"123.example.com", "123.example.com", false},
        Accept{"example.123a", "example.123a", false},
        Accept{"example.a0x1", "example.a0x1", false},
        Accept{"0xample.com", "0xample.com", false},
        Accept{"a1", "a1", false}, Accept{"1a", "1a", false},
        Accept{"a.b-c.d_e", "a.b-c.d_e", false}));

INSTANTIATE_TEST_SUITE_P(
    IpLiterals, NormalizeHostAccepts,
    ::testing::Values(Accept{"10.0.0.1", "10.0.0.1", true},
                      Accept{"127.0.0.1", "127.0.0.1", true},
                      Accept{"255.255.255.255", "255.255.255.255", true},
                      Accept{"0.0.0.0", "0.0.0.0", true},
                      Accept{"127.0.0.1.", "127.0.0.1", true},
                      Accept{"[::1]", "::1", true}, Accept{"[::]", "::", true},
                      Accept{"[2001:DB8::0001]", "2001:db8::1", true},
                      Accept{"[2001:db8:0:0:0:0:0:1]", "2001:db8::1", true},
                      Accept{"[FE80::1]", "fe80::1", true},
                      Accept{"[::ffff:127.0.0.1]", "::ffff:127.0.0.1", true},
                      Accept{"[::ffff:7f00:1]", "::ffff:127.0.0.1", true}));

TEST(NormalizeHost, LengthLimits) {
  const std::string label63(63, 'a');
  auto ok = normalize_host(label63 + ".example");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, label63 + ".example");
  EXPECT_FALSE(normalize_host(std::string(64, 'a') + ".example").ok());
  EXPECT_FALSE(normalize_host(std::string(64, 'a')).ok());

  // 4 * 63 + 3 dots = 255 is too long; trim to exactly 253.
  std::string name = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(name.size(), 253u);
  EXPECT_TRUE(normalize_host(name).ok());
  EXPECT_TRUE(normalize_host(name + ".").ok());  // the trailing dot does not count
  EXPECT_FALSE(normalize_host(name + "b").ok());
  EXPECT_FALSE(normalize_host(name + "b.").ok());
}

TEST(NormalizeHost, KeepsIpOnlyForLiterals) {
  auto v4 = normalize_host("192.168.1.1");
  ASSERT_TRUE(v4.ok());
  ASSERT_TRUE(v4->ip.has_value());
  EXPECT_EQ(*v4->ip, IpAddress::v4({192, 168, 1, 1}));
  auto v6 = normalize_host("[::1]");
  ASSERT_TRUE(v6.ok());
  ASSERT_TRUE(v6->ip.has_value());
  EXPECT_TRUE(v6->ip->is_v6());
  auto name = normalize_host("Example.ORG");
  ASSERT_TRUE(name.ok());
  EXPECT_FALSE(name->ip.has_value());
}

TEST(NormalizeHost, NumericErrorIsExplained) {
  auto r = normalize_host("2130706433");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "numeric host name that is not a canonical IPv4 address");
}

struct Reject {
  std::string input;
  std::string reason_contains;
};

void PrintTo(const Reject& r, std::ostream* os) { *os << '"' << r.input << '"'; }

class NormalizeHostRejects : public ::testing::TestWithParam<Reject> {};

TEST_P(NormalizeHostRejects, WithReason) {
  const auto& r = GetParam();
  auto host = normalize_host(r.input);
  ASSERT_FALSE(host.ok()) << r.input << " gave " << host->name;
  EXPECT_FALSE(host.error().message.empty());
  EXPECT_NE(host.error().message.find(r.reason_contains), std::string::npos)
      << r.input << ": " << host.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Numeric, NormalizeHostRejects,
    ::testing::Values(Reject{"2130706433", "numeric"}, Reject{"127.1", "numeric"},
                      Reject{"127.0.1", "numeric"}, Reject{"0x7f.1", "numeric"},
                      Reject{"0x7f.0.0.1", "numeric"}, Reject{"0X7F.0.0.1", "numeric"},
                      Reject{"0x7f000001", "numeric"}, Reject{"017700000001", "numeric"},
                      Reject{"1.2.3.04", "numeric"}, Reject{"0177.0.0.1", "numeric"},
                      Reject{"1.2.3.4.5", "numeric"}, Reject{"256.1.1.1", "numeric"},
                      Reject{"1.2.3.256", "numeric"}, Reject{"example.123", "numeric"},
                      Reject{"example.0x1f", "numeric"}, Reject{"example.0x", "numeric"},
                      Reject{"example.0Xab", "numeric"}, Reject{"0", "numeric"},
                      Reject{"1.2.3.4..", "empty label"}, Reject{"00.0.0.0", "numeric"},
                      Reject{"0x", "numeric"}));

INSTANTIATE_TEST_SUITE_P(
    Malformed, NormalizeHostRejects,
    ::testing::Values(
        Reject{"", "empty"}, Reject{".", "empty"}, Reject{"..", "empty"},
        Reject{"a..b", "empty label"}, Reject{".example.com", "empty label"},
        Reject{"example.com..", "empty label"}, Reject{"-a.example", "'-'"},
        Reject{"a-.example", "'-'"}, Reject{"example.-com", "'-'"},
        Reject{"exa%6dple.com", "percent"}, Reject{"%2e", "percent"},
        Reject{"ex\xc3\xa4mple.com", "non-ASCII"}, Reject{"\xff", "non-ASCII"},
        Reject{std::string("a\0b", 3), "control"}, Reject{"a\tb", "control"},
        Reject{"a\r\nb", "control"}, Reject{"a\x7f", "control"},
        Reject{"exa mple.com", "spaces"}, Reject{" example.com", "spaces"},
        Reject{"example.com ", "spaces"}, Reject{"user@example.com", "user"},
        Reject{"@example.com", "user"}, Reject{"::1", "brackets"},
        Reject{"fe80::1", "brackets"}, Reject{"example.com:80", "brackets"},
        Reject{"exa/mple.com", "invalid character"}, Reject{"exa*mple", "invalid character"},
        Reject{"a+b", "invalid character"}, Reject{"a\\b", "invalid character"},
        Reject{"a,b", "invalid character"}, Reject{"a]b", "bracket"}));

INSTANTIATE_TEST_SUITE_P(
    Brackets, NormalizeHostRejects,
    ::testing::Values(Reject{"[::1", "unterminated"}, Reject{"[", "unterminated"},
                      Reject{"[]", "invalid IPv6"}, Reject{"[1.2.3.4]", "invalid IPv6"},
                      Reject{"[example.com]", "invalid IPv6"},
                      Reject{"[v1.fe80::1]", "invalid IPv6"},
                      Reject{"[fe80::1%eth0]", "zone"}, Reject{"[fe80::1%25eth0]", "zone"},
                      Reject{"[::1]:80", "unterminated"}, Reject{"[::1].", "unterminated"},
                      Reject{"[:: 1]", "spaces"}, Reject{"[::1\t]", "control"},
                      Reject{"[::\xc3\xa4]", "non-ASCII"}, Reject{"[1::2::3]", "invalid IPv6"},
                      Reject{"[[::1]]", "invalid IPv6"}, Reject{"[ 0::1]", "spaces"}));

}  // namespace
}  // namespace egressd::core
