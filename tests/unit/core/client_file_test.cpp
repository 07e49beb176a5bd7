// Tests for rules file names: "<label>.<ip>" splitting and the names that are skipped.
#include "core/client_file.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace egressd::core {
namespace {

struct Named {
  std::string file_name;
  std::string label;
  std::string address;  // canonical text
};

void PrintTo(const Named& n, std::ostream* os) { *os << '"' << n.file_name << '"'; }

class ClientFileNameAccepts : public ::testing::TestWithParam<Named> {};

TEST_P(ClientFileNameAccepts, SplitsLabelAndAddress) {
  const auto& n = GetParam();
  auto parsed = parse_client_file_name(n.file_name);
  ASSERT_TRUE(parsed.has_value()) << n.file_name;
  EXPECT_EQ(parsed->label, n.label);
  EXPECT_EQ(parsed->address.to_string(), n.address);
}

INSTANTIATE_TEST_SUITE_P(
    All, ClientFileNameAccepts,
    ::testing::Values(
        Named{"work.10.137.0.12", "work", "10.137.0.12"},
        Named{"w.0.0.0.0", "w", "0.0.0.0"},
        Named{"Work-VM_2.192.168.1.255", "Work-VM_2", "192.168.1.255"},
        Named{"my.vm.10.0.0.1", "my.vm", "10.0.0.1"},
        Named{"1.2.3.4.5", "1", "2.3.4.5"},
        Named{"a.b.1.2.3.4.5", "a.b.1", "2.3.4.5"},
        Named{"work..10.0.0.1", "work.", "10.0.0.1"},
        Named{"work.fd00::12", "work", "fd00::12"},
        Named{"work.FD00:0:0::12", "work", "fd00::12"},
        Named{"work.::1", "work", "::1"},
        Named{"my.vm.2001:db8::1", "my.vm", "2001:db8::1"},
        Named{"work.1:2:3:4:5:6:7:8", "work", "1:2:3:4:5:6:7:8"},
        Named{"work.::ffff:10.0.0.1", "work", "::ffff:10.0.0.1"},
        Named{"work.64:ff9b::1.2.3.4", "work", "64:ff9b::102:304"},
        Named{"2.fd00::1", "2", "fd00::1"}));

class ClientFileNameRejects : public ::testing::TestWithParam<std::string> {};

TEST_P(ClientFileNameRejects, ReturnsNullopt) {
  auto parsed = parse_client_file_name(GetParam());
  EXPECT_FALSE(parsed.has_value()) << GetParam() << " gave " << parsed->label << " / "
                                   << parsed->address.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    All, ClientFileNameRejects,
    ::testing::Values(
        "", "work", "10.137.0.12", ".10.137.0.12", "work.10.137.0", "work.10.137.0.012",
        "work.10.137.0.256", "work.2130706433", "work.127.1", "work.0x7f.0.0.1",
        "work.10.137.0.12.", "work.10.137.0.12~", "work 1.10.0.0.1", "wo/rk.10.0.0.1",
        "wörk.10.0.0.1", "work+1.10.0.0.1", "work@x.10.0.0.1", "work.10.0.0.1 ",
        "fd00::12", ".fd00::12", "work.fd00::12%eth0", "work.fd00:::12", "work.fd00::12::1",
        "work.[fd00::12]", "wo:rk.fd00::1", "work:fd00::1", "work.g::1", "work.::1.",
        "work.::1.2.3", "wo rk.::1", "work.1:2:3:4:5:6:7:8:9", "work.10.0.0.1:80",
        "work.::ffff:01.2.3.4"));

TEST(ClientFileName, KeepsLabelCase) {
  auto parsed = parse_client_file_name("Personal.10.0.0.2");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->label, "Personal");
  EXPECT_EQ(parsed->address, IpAddress::v4({10, 0, 0, 2}));
  EXPECT_TRUE(parsed->address.is_v4());
}

TEST(ClientFileName, V6AddressIsV6) {
  auto parsed = parse_client_file_name("work.::ffff:10.0.0.2");
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->address.is_v6());
}

class IgnoredFileName : public ::testing::TestWithParam<std::string> {};

TEST_P(IgnoredFileName, IsIgnored) { EXPECT_TRUE(is_ignored_file_name(GetParam())); }

INSTANTIATE_TEST_SUITE_P(
    All, IgnoredFileName,
    ::testing::Values(".", "..", ".hidden", ".work.10.0.0.1", ".swp", "work.10.0.0.1~", "~",
                      "#work.10.0.0.1#", "##", "work.10.0.0.1.swp", ".work.10.0.0.1.swp",
                      "work.10.0.0.1.bak", "work.10.0.0.1.tmp", "work.10.0.0.1.dpkg-old",
                      "work.10.0.0.1.dpkg-dist", "work.10.0.0.1.dpkg-new",
                      "work.10.0.0.1.dpkg-tmp", "work.10.0.0.1.rpmnew",
                      "work.10.0.0.1.rpmsave", "work.fd00::1.bak"));

class KeptFileName : public ::testing::TestWithParam<std::string> {};

TEST_P(KeptFileName, IsNotIgnored) { EXPECT_FALSE(is_ignored_file_name(GetParam())); }

INSTANTIATE_TEST_SUITE_P(All, KeptFileName,
                         ::testing::Values("", "work.10.0.0.1", "work.fd00::12", "README",
                                           "work~.10.0.0.1", "#work.10.0.0.1", "work.10.0.0.1#",
                                           "swp", "work.swp.10.0.0.1", "bak.10.0.0.1",
                                           "work.10.0.0.1.swp2", "work.10.0.0.1.dpkg",
                                           "work.10.0.0.1.rpm", "#"));

}  // namespace
}  // namespace egressd::core
