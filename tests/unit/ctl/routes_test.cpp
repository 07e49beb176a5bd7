// Reading vif host routes from recorded `ip -json route` output.
#include "ctl/routes.hpp"

#include <gtest/gtest.h>

namespace egressd::ctl {
namespace {

// Recorded (iproute2 6.1) in a namespace with Qubes-style vif interfaces.
constexpr const char* kIpv4 =
    R"([{"dst":"default","dev":"p12","scope":"link","flags":[]},)"
    R"({"dst":"10.1.0.0/24","dev":"vif15.0","scope":"link","flags":[]},)"
    R"({"dst":"10.137.0.12","dev":"vif12.0","scope":"link","metric":32740,"flags":[]},)"
    R"({"dst":"10.137.0.15","dev":"vif15.0","scope":"link","metric":32740,"flags":[]}])";
constexpr const char* kIpv6 =
    R"([{"dst":"fd09:24ef:4179::a89:c","dev":"vif12.0","metric":32740,"flags":[],"pref":"medium"},)"
    R"({"dst":"fe80::/64","dev":"p12","protocol":"kernel","metric":256,"flags":[],"pref":"medium"},)"
    R"({"dst":"fe80::/64","dev":"vif12.0","protocol":"kernel","metric":256,"flags":[],"pref":"medium"}])";

TEST(VifRoutes, KeepsHostRoutesOnVifInterfaces) {
  auto routes = parse_vif_routes(kIpv4);
  ASSERT_TRUE(routes.ok());
  EXPECT_EQ(*routes, (VifRoutes{{"10.137.0.12", "vif12.0"}, {"10.137.0.15", "vif15.0"}}));
}

TEST(VifRoutes, Ipv6HostRoutesAndNetworksIgnored) {
  auto routes = parse_vif_routes(kIpv6);
  ASSERT_TRUE(routes.ok());
  EXPECT_EQ(*routes, (VifRoutes{{"fd09:24ef:4179::a89:c", "vif12.0"}}));
}

TEST(VifRoutes, FullLengthPrefixesAndCanonicalText) {
  auto routes = parse_vif_routes(
      R"([{"dst":"10.137.0.20/32","dev":"vif20.0"},{"dst":"FD09::0014/128","dev":"vif20.0"},)"
      R"({"dst":"10.137.0.0/16","dev":"vif21.0"},{"dst":"fd09::/64","dev":"vif21.0"},)"
      R"({"dst":"10.137.0.22","dev":"eth0"},{"dst":"10.137.0.23","dev":"vif23.0"},)"
      R"({"dst":"10.137.0.23","dev":"vif99.0"},{"dst":"010.137.0.24","dev":"vif24.0"}])");
  ASSERT_TRUE(routes.ok());
  EXPECT_EQ(*routes, (VifRoutes{{"10.137.0.20", "vif20.0"},
                                {"fd09::14", "vif20.0"},
                                {"10.137.0.23", "vif23.0"}}));
}

TEST(VifRoutes, OddEntriesAreSkipped) {
  auto routes = parse_vif_routes(
      R"([1, "x", {"dst": 5, "dev": "vif1.0"}, {"dev": "vif1.0"}, {"dst": "10.0.0.1"}, {}])");
  ASSERT_TRUE(routes.ok());
  EXPECT_TRUE(routes->empty());
  auto empty = parse_vif_routes("[]");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(VifRoutes, NotJsonIsAnError) {
  EXPECT_FALSE(parse_vif_routes("").ok());
  EXPECT_FALSE(parse_vif_routes("10.137.0.12 dev vif12.0 scope link").ok());
  EXPECT_FALSE(parse_vif_routes(R"({"dst":"10.137.0.12"})").ok());
}

TEST(VifRoutes, MergeKeepsTheFirst) {
  VifRoutes routes{{"10.137.0.12", "vif12.0"}};
  merge_vif_routes(routes, {{"10.137.0.12", "vif99.0"}, {"fd09::c", "vif12.0"}});
  EXPECT_EQ(routes, (VifRoutes{{"10.137.0.12", "vif12.0"}, {"fd09::c", "vif12.0"}}));
}

}  // namespace
}  // namespace egressd::ctl
