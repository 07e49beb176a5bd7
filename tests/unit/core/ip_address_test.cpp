// Tests for strict IP literal parsing and canonical (RFC 5952) formatting.
#include "core/ip_address.hpp"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace egressd::core {
namespace {

struct Canonical {
  const char* input;
  const char* canonical;
};

void PrintTo(const Canonical& c, std::ostream* os) { *os << '"' << c.input << '"'; }

class IpAddressAccepts : public ::testing::TestWithParam<Canonical> {};

TEST_P(IpAddressAccepts, ParsesAndPrintsCanonically) {
  const auto& c = GetParam();
  auto ip = IpAddress::parse(c.input);
  ASSERT_TRUE(ip.has_value()) << c.input;
  EXPECT_EQ(ip->to_string(), c.canonical) << c.input;
  // The canonical text parses back to the same address.
  auto again = IpAddress::parse(ip->to_string());
  ASSERT_TRUE(again.has_value()) << ip->to_string();
  EXPECT_EQ(*again, *ip);
}

INSTANTIATE_TEST_SUITE_P(
    V4, IpAddressAccepts,
    ::testing::Values(Canonical{"0.0.0.0", "0.0.0.0"}, Canonical{"127.0.0.1", "127.0.0.1"},
                      Canonical{"255.255.255.255", "255.255.255.255"},
                      Canonical{"10.137.0.12", "10.137.0.12"},
                      Canonical{"1.20.100.200", "1.20.100.200"},
                      Canonical{"100.64.0.0", "100.64.0.0"}));

INSTANTIATE_TEST_SUITE_P(
    V6, IpAddressAccepts,
    ::testing::Values(
        Canonical{"::", "::"}, Canonical{"::1", "::1"}, Canonical{"1::", "1::"},
        Canonical{"0:0:0:0:0:0:0:0", "::"}, Canonical{"0:0:0:0:0:0:0:1", "::1"},
        Canonical{"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
        Canonical{"2001:DB8::1", "2001:db8::1"}, Canonical{"2001:Db8::aBcD", "2001:db8::abcd"},
        Canonical{"fe80::1", "fe80::1"},
        Canonical{"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
        Canonical{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        // "::" may stand for a single group on input, but is not used for one on output.
        Canonical{"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"},
        Canonical{"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"},
        Canonical{"1:2:3::5:6:7:8", "1:2:3:0:5:6:7:8"},
        // Longest run wins; the first on a tie.
        Canonical{"1:0:0:2:0:0:0:3", "1:0:0:2::3"}, Canonical{"1:0:0:2:0:0:3:4", "1::2:0:0:3:4"},
        Canonical{"0:0:1:0:0:0:0:0", "0:0:1::"}, Canonical{"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0"},
        Canonical{"0:0:0:1:0:0:0:0", "0:0:0:1::"},
        Canonical{"0:0:0:1:0:0:0:2", "::1:0:0:0:2"},
        Canonical{"fd00::12", "fd00::12"}, Canonical{"0001:02:003::", "1:2:3::"},
        // Mixed notation with a dotted-quad tail.
        Canonical{"::ffff:1.2.3.4", "::ffff:1.2.3.4"},
        Canonical{"::FFFF:192.168.0.1", "::ffff:192.168.0.1"},
        Canonical{"0:0:0:0:0:ffff:102:304", "::ffff:1.2.3.4"},
        Canonical{"::1.2.3.4", "::102:304"},
        Canonical{"64:ff9b::192.0.2.33", "64:ff9b::c000:221"},
        Canonical{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
        Canonical{"1::5:6:1.2.3.4", "1::5:6:102:304"}));

class IpAddressRejects : public ::testing::TestWithParam<const char*> {};

TEST_P(IpAddressRejects, ReturnsNullopt) {
  EXPECT_FALSE(IpAddress::parse(GetParam()).has_value()) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    V4NumericTricks, IpAddressRejects,
    ::testing::Values("", ".", "2130706433", "127.1", "127.0.1", "0x7f.0.0.1", "0x7f000001",
                      "017700000001", "1.2.3.04", "0177.0.0.1", "01.2.3.4", "00.0.0.0",
                      "1.2.3.4.5", "1.2.3", "256.0.0.1", "1.2.3.256", "1.2.3.1000",
                      "1.2.3.-1", "+1.2.3.4", "1.2.3.4.", ".1.2.3.4", "1..2.3", "1.2.3.4 ",
                      " 1.2.3.4", "1.2.3.4\n", "1.2.3.a", "a.b.c.d", "１.2.3.4", "1.2.3.4/8",
                      "999.999.999.999", "4294967295", "0"));

INSTANTIATE_TEST_SUITE_P(
    V6Malformed, IpAddressRejects,
    ::testing::Values(":", ":::", "::::", ":1", "1:", ":1::", "1:::2", "1::2::3", "::1::",
                      "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::",
                      "::1:2:3:4:5:6:7:8", "1:2:3:4::5:6:7:8", "12345::", "::12345",
                      "g::1", "::1g", "fe80::1%eth0", "fe80::1%25eth0", "[::1]", "::1 ",
                      " ::1", "::ffff:1.2.3", "::ffff:1.2.3.4.5", "::ffff:01.2.3.4",
                      "::ffff:256.1.1.1", "::1.2.3.4:1", "1.2.3.4::", "1:2:3:4:5:6:7:1.2.3.4",
                      "::1:2:3:4:5:6:1.2.3.4", "::0x1", "::-1", "::1.2.3.4.",
                      "1234.1.1.1::", "::1234.1.1.1", "1:2:3:4:5:6:7:8:",
                      "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555"));

TEST(IpAddress, DefaultIsV4Unspecified) {
  IpAddress a;
  EXPECT_TRUE(a.is_v4());
  EXPECT_EQ(a.to_string(), "0.0.0.0");
  EXPECT_EQ(a, IpAddress::v4({0, 0, 0, 0}));
}

TEST(IpAddress, V4KeepsFourBytesAndZeroesTheRest) {
  auto a = IpAddress::v4({10, 1, 2, 3});
  EXPECT_TRUE(a.is_v4());
  EXPECT_FALSE(a.is_v6());
  EXPECT_EQ(a.family(), IpAddress::Family::v4);
  std::array<std::uint8_t, 16> want{10, 1, 2, 3};
  EXPECT_EQ(a.bytes(), want);
  EXPECT_EQ(a.to_string(), "10.1.2.3");
}

TEST(IpAddress, ParseFillsBytes) {
  auto a = IpAddress::parse("2001:db8::ff00:42:8329");
  ASSERT_TRUE(a);
  std::array<std::uint8_t, 16> want{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                    0,    0,    0xff, 0x00, 0, 0x42, 0x83, 0x29};
  EXPECT_EQ(a->bytes(), want);
  EXPECT_EQ(a->family(), IpAddress::Family::v6);
}

TEST(IpAddress, V4AndV6AreDistinctEvenWithSameBytes) {
  auto v4 = IpAddress::v4({0, 0, 0, 0});
  auto v6 = IpAddress::v6({});
  EXPECT_NE(v4, v6);
  EXPECT_EQ(v6.to_string(), "::");
  EXPECT_NE(std::hash<IpAddress>{}(v4), std::hash<IpAddress>{}(v6));
}

TEST(IpAddress, MappedStaysV6UntilUnmapped) {
  auto mapped = IpAddress::parse("::ffff:10.137.0.12");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->is_v6());
  EXPECT_NE(*mapped, *IpAddress::parse("10.137.0.12"));
  auto plain = mapped->unmapped();
  EXPECT_TRUE(plain.is_v4());
  EXPECT_EQ(plain, *IpAddress::parse("10.137.0.12"));
  EXPECT_EQ(plain.to_string(), "10.137.0.12");
}

TEST(IpAddress, UnmappedLeavesOthersAlone) {
  for (const char* text : {"::1", "::102:304", "1::ffff:102:304", "::fffe:1.2.3.4",
                           "10.0.0.1", "::ffff:0:1.2.3.4"}) {
    auto a = IpAddress::parse(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->unmapped(), *a) << text;
  }
}

TEST(IpAddress, OrderingIsTotalAndConsistent) {
  auto a = *IpAddress::parse("10.0.0.1");
  auto b = *IpAddress::parse("10.0.0.2");
  EXPECT_LT(a, b);
  EXPECT_EQ(a, *IpAddress::parse("10.0.0.1"));
}

TEST(IpAddress, HashDistinguishesAddresses) {
  std::unordered_set<IpAddress> set;
  for (const char* text : {"10.0.0.1", "10.0.0.2", "1.0.0.10", "::1", "::2", "1::",
                           "::ffff:10.0.0.1", "0.0.0.0", "::"}) {
    set.insert(*IpAddress::parse(text));
  }
  EXPECT_EQ(set.size(), 9u);
  set.insert(*IpAddress::parse("0:0:0:0:0:0:0:1"));
  EXPECT_EQ(set.size(), 9u);
  EXPECT_EQ(std::hash<IpAddress>{}(*IpAddress::parse("::1")),
            std::hash<IpAddress>{}(*IpAddress::parse("0::0:1")));
}

TEST(IpAddress, RoundTripsEveryZeroPattern) {
  // Every combination of zero/non-zero groups: formatting then parsing is the identity,
  // and the text never contains more than one "::" or a ":::".
  for (unsigned mask = 0; mask < 256; ++mask) {
    std::array<std::uint8_t, 16> b{};
    for (std::size_t i = 0; i < 8; ++i) {
      if (mask & (1u << i)) {
        b[2 * i] = static_cast<std::uint8_t>(i);
        b[2 * i + 1] = 0x0a;
      }
    }
    auto a = IpAddress::v6(b);
    std::string text = a.to_string();
    auto back = IpAddress::parse(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(*back, a) << text;
    EXPECT_EQ(text.find(":::"), std::string::npos) << text;
    auto first = text.find("::");
    if (first != std::string::npos) {
      EXPECT_EQ(text.find("::", first + 1), std::string::npos) << text;
    }
  }
}

TEST(IpAddress, RoundTripsAllV4Octets) {
  for (unsigned v = 0; v < 256; ++v) {
    auto a = IpAddress::v4({static_cast<std::uint8_t>(v), 0, static_cast<std::uint8_t>(v), 1});
    auto back = IpAddress::parse(a.to_string());
    ASSERT_TRUE(back) << a.to_string();
    EXPECT_EQ(*back, a);
  }
}

}  // namespace
}  // namespace egressd::core
