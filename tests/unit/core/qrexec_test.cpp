// Tests for identity by qube name over qrexec (core/qrexec) and its rules files.
#include "core/qrexec.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/policy.hpp"

namespace egressd::core {
namespace {

TEST(QrexecDescriptor, ServiceAndSource) {
  const auto caller = parse_qrexec_descriptor("egress.Proxy work");
  ASSERT_TRUE(caller) << caller.error().message;
  EXPECT_EQ(caller->source, "work");
  EXPECT_EQ(caller->argument, "");
  EXPECT_EQ(caller->client_name(), "work");
}

TEST(QrexecDescriptor, TheArgumentIsAProfile) {
  const auto caller = parse_qrexec_descriptor("egress.Proxy+banking disp1234");
  ASSERT_TRUE(caller) << caller.error().message;
  EXPECT_EQ(caller->source, "disp1234");
  EXPECT_EQ(caller->argument, "banking");
  EXPECT_EQ(caller->client_name(), "banking");
}

TEST(QrexecDescriptor, EverythingElseIsRefused) {
  for (const std::string& text : std::vector<std::string>{
           "", "egress.Proxy", "egress.Proxywork", "egress.Other work", "Egress.Proxy work",
        "egress.Proxy+ work", "egress.Proxy+ba/d work", "egress.Proxy+a+b work",
        "egress.Proxy 1work", "egress.Proxy work extra", "egress.Proxy  work",
        "egress.Proxy work\n", "egress.Proxy " + std::string(32, 'w'),
        "egress.Proxy @dispvm", "egress.Proxy+" + std::string(32, 'p') + " work"}) {
    EXPECT_FALSE(parse_qrexec_descriptor(text)) << text;
  }
}

TEST(QrexecDescriptor, QubeNames) {
  EXPECT_TRUE(is_qube_name("work"));
  EXPECT_TRUE(is_qube_name("sys-firewall"));
  EXPECT_TRUE(is_qube_name("my.qube_2"));
  EXPECT_TRUE(is_qube_name(std::string(31, 'q')));
  EXPECT_FALSE(is_qube_name(std::string(32, 'q')));
  EXPECT_FALSE(is_qube_name(""));
  EXPECT_FALSE(is_qube_name("-work"));
  EXPECT_FALSE(is_qube_name("2work"));
  EXPECT_FALSE(is_qube_name("wo rk"));
}

TEST(QubeAddress, StableDistinctAndNeverARealPeer) {
  EXPECT_EQ(qube_address("work"), qube_address("work"));
  EXPECT_NE(qube_address("work"), qube_address("work2"));
  EXPECT_NE(qube_address("work"), qube_address("Work"));
  EXPECT_TRUE(qube_address("work").to_string().starts_with("100::"))
      << qube_address("work").to_string();
  EXPECT_TRUE(is_qube_address(qube_address("banking")));
  EXPECT_FALSE(is_qube_address(*IpAddress::parse("10.137.0.12")));
  EXPECT_FALSE(is_qube_address(*IpAddress::parse("100:1::1")));
  EXPECT_FALSE(is_qube_address(*IpAddress::parse("::1")));
}

SourceFile file(const std::string& name, const std::string& content) {
  return SourceFile{name, "/rules/" + name, content, {}};
}

TEST(QrexecRulesFiles, AFileNamedAfterAQubeIsThatQubesWithQrexecOn) {
  Config config;
  config.qrexec_socket = "/run/egressd/qrexec.sock";
  const auto build = build_snapshot(
      config, {file("work", "^a\\.test$\n"), file("web.10.0.0.1", "^b\\.test$\n")}, 1);
  ASSERT_TRUE(build.snapshot);
  EXPECT_TRUE(build.problems.empty());
  const auto* work = build.snapshot->find(qube_address("work"));
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->label, "work");
  const Host a{"a.test", std::nullopt};
  const auto decision =
      decide(*build.snapshot, qube_address("work"), DecisionRequest{"GET", a, 80, false});
  EXPECT_TRUE(decision.allowed());
  EXPECT_NE(build.snapshot->find(*IpAddress::parse("10.0.0.1")), nullptr);
}

TEST(QrexecRulesFiles, WithoutQrexecSuchAFileIsSkippedWithAWarning) {
  const auto build = build_snapshot(Config{}, {file("work", "^a\\.test$\n")}, 1);
  ASSERT_TRUE(build.snapshot);
  EXPECT_EQ(build.snapshot->find(qube_address("work")), nullptr);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_NE(build.problems[0].message.find("needs qrexec_socket"), std::string::npos);
}

TEST(QrexecRulesFiles, AQubeAndAnAddressFileWithTheSameLabelConflict) {
  Config config;
  config.qrexec_socket = "/run/egressd/qrexec.sock";
  const auto build =
      build_snapshot(config, {file("work", "a\n"), file("work.10.0.0.1", "b\n")}, 1);
  ASSERT_TRUE(build.snapshot);
  EXPECT_TRUE(has_errors(build.problems));
}

}  // namespace
}  // namespace egressd::core
