// Tests for networks and the destination check (core/network, core/destination).
#include "core/destination.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/network.hpp"

namespace egressd::core {
namespace {

IpAddress ip(std::string_view text) { return IpAddress::parse(text).value(); }
Network net(std::string_view text) { return parse_network(text).value(); }

TEST(Network, ParsesAndContains) {
  const Network n = net("10.1.0.0/16");
  EXPECT_EQ(n.to_string(), "10.1.0.0/16");
  EXPECT_TRUE(n.contains(ip("10.1.255.3")));
  EXPECT_FALSE(n.contains(ip("10.2.0.1")));
  EXPECT_FALSE(n.contains(ip("::ffff:10.1.0.1")));  // another family
  EXPECT_EQ(net("192.0.2.7").to_string(), "192.0.2.7/32");
  EXPECT_EQ(net("fd00::/8").to_string(), "fd00::/8");
  EXPECT_TRUE(net("fd00::/8").contains(ip("fd12::1")));
  EXPECT_TRUE(net("0.0.0.0/0").contains(ip("8.8.8.8")));
}

TEST(Network, RejectsWithReasons) {
  EXPECT_NE(parse_network("10.0.0.1/8").error().message.find("did you mean 10.0.0.0/8"),
            std::string::npos);
  EXPECT_FALSE(parse_network("10.0.0.0/33").ok());
  EXPECT_FALSE(parse_network("::/129").ok());
  EXPECT_FALSE(parse_network("10.0.0.0/08").ok());
  EXPECT_FALSE(parse_network("10.0.0.0/").ok());
  EXPECT_FALSE(parse_network("10.0.0/8").ok());
  EXPECT_FALSE(parse_network("[::1]/128").ok());
  EXPECT_FALSE(parse_network("").ok());
}

struct ClassCase {
  const char* address;
  AddressClass cls;
};

class Classify : public testing::TestWithParam<ClassCase> {};

TEST_P(Classify, GivesTheClass) {
  EXPECT_EQ(classify_address(ip(GetParam().address)), GetParam().cls) << GetParam().address;
}

INSTANTIATE_TEST_SUITE_P(
    Addresses, Classify,
    testing::Values(ClassCase{"8.8.8.8", AddressClass::global},
                    ClassCase{"2a00:1450::1", AddressClass::global},
                    ClassCase{"0.0.0.0", AddressClass::unspecified},
                    ClassCase{"0.1.2.3", AddressClass::unspecified},
                    ClassCase{"::", AddressClass::unspecified},
                    ClassCase{"127.0.0.1", AddressClass::loopback},
                    ClassCase{"127.255.0.9", AddressClass::loopback},
                    ClassCase{"::1", AddressClass::loopback},
                    ClassCase{"10.137.0.5", AddressClass::private_use},
                    ClassCase{"172.16.0.1", AddressClass::private_use},
                    ClassCase{"172.31.255.255", AddressClass::private_use},
                    ClassCase{"172.32.0.1", AddressClass::global},
                    ClassCase{"192.168.1.1", AddressClass::private_use},
                    ClassCase{"100.64.0.1", AddressClass::shared},
                    ClassCase{"100.128.0.1", AddressClass::global},
                    ClassCase{"169.254.169.254", AddressClass::link_local},
                    ClassCase{"fe80::1", AddressClass::link_local},
                    ClassCase{"fd00::12", AddressClass::unique_local},
                    ClassCase{"fc00::1", AddressClass::unique_local},
                    ClassCase{"224.0.0.1", AddressClass::multicast},
                    ClassCase{"ff02::1", AddressClass::multicast},
                    ClassCase{"255.255.255.255", AddressClass::broadcast},
                    ClassCase{"240.0.0.1", AddressClass::reserved},
                    ClassCase{"192.0.2.1", AddressClass::reserved},
                    ClassCase{"198.51.100.2", AddressClass::reserved},
                    ClassCase{"2001:db8::1", AddressClass::reserved},
                    // IPv6 forms that reach an IPv4 address are judged by it.
                    ClassCase{"::ffff:127.0.0.1", AddressClass::loopback},
                    ClassCase{"::ffff:10.0.0.1", AddressClass::private_use},
                    ClassCase{"::127.0.0.1", AddressClass::loopback},
                    ClassCase{"64:ff9b::a00:1", AddressClass::private_use},
                    ClassCase{"64:ff9b::808:808", AddressClass::global}));

TEST(DestinationRefusal, RefusesInternalAddressesWithAReason) {
  const DestinationRules none;
  EXPECT_EQ(destination_refusal(ip("8.8.8.8"), 443, none), std::nullopt);
  EXPECT_EQ(destination_refusal(ip("127.0.0.1"), 80, none), "127.0.0.1 is a loopback address");
  EXPECT_EQ(destination_refusal(ip("::ffff:10.1.2.3"), 80, none),
            "10.1.2.3 is a private address (RFC 1918)");
  EXPECT_EQ(destination_refusal(ip("169.254.169.254"), 80, none),
            "169.254.169.254 is a link-local address");
}

TEST(DestinationRefusal, AllowedNetworksOpenExactlyThemselves) {
  DestinationRules rules;
  rules.allowed = {net("10.1.0.0/16"), net("::1")};
  EXPECT_EQ(destination_refusal(ip("10.1.9.9"), 80, rules), std::nullopt);
  EXPECT_EQ(destination_refusal(ip("::ffff:10.1.9.9"), 80, rules), std::nullopt);
  EXPECT_NE(destination_refusal(ip("10.2.0.1"), 80, rules), std::nullopt);
  EXPECT_EQ(destination_refusal(ip("::1"), 80, rules), std::nullopt);
  EXPECT_NE(destination_refusal(ip("127.0.0.1"), 80, rules), std::nullopt);
}

TEST(DestinationRefusal, TheProxyHostItselfIsRefused) {
  DestinationRules rules;
  rules.own_addresses = {ip("8.8.4.4")};  // a host with a public address
  EXPECT_EQ(destination_refusal(ip("8.8.4.4"), 22, rules),
            "8.8.4.4 is an address of the proxy host itself");
  rules.allowed = {net("8.8.4.4")};  // unless the operator allows it
  EXPECT_EQ(destination_refusal(ip("8.8.4.4"), 22, rules), std::nullopt);
}

TEST(DestinationRefusal, RequestLoopsAreRefusedEvenWhenAllowed) {
  DestinationRules rules;
  rules.allowed = {net("127.0.0.0/8"), net("10.0.0.0/8")};
  rules.listen = {Endpoint{ip("127.0.0.1"), 8100}};
  EXPECT_EQ(destination_refusal(ip("127.0.0.1"), 8100, rules),
            "request loop: 127.0.0.1:8100 is egressd's own listening address");
  EXPECT_EQ(destination_refusal(ip("127.0.0.1"), 8101, rules), std::nullopt);
  // Listening on every address: any address of this host, and loopback, loop.
  rules.listen = {Endpoint{ip("0.0.0.0"), 8100}};
  rules.own_addresses = {ip("10.137.0.5")};
  EXPECT_NE(destination_refusal(ip("10.137.0.5"), 8100, rules), std::nullopt);
  EXPECT_NE(destination_refusal(ip("127.0.0.2"), 8100, rules), std::nullopt);
  EXPECT_NE(destination_refusal(ip("::ffff:127.0.0.1"), 8100, rules), std::nullopt);
  EXPECT_EQ(destination_refusal(ip("10.137.0.9"), 8100, rules), std::nullopt);
}

}  // namespace
}  // namespace egressd::core
