// Tests for converting an old tinyproxy setup (ctl/tinyproxy_import).
#include "ctl/tinyproxy_import.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/config.hpp"

namespace egressd::ctl {
namespace {

std::string messages(const core::Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

bool mentions(const core::Problems& problems, std::string_view text) {
  for (const auto& p : problems) {
    if (p.to_string().find(text) != std::string::npos) return true;
  }
  return false;
}

const ImportFile* find(const std::vector<ImportFile>& files, std::string_view name) {
  for (const auto& f : files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

constexpr std::string_view kTemplate = R"(User tinyproxy
Group tinyproxy
Port 8100
Listen 10.137.0.5
Timeout 300
MaxClients 50
LogFile "/var/log/tinyproxy/tinyproxy.log"
Allow 10.137.0.0/16
ViaProxyName "sys-proxy"
Filter "/rw/config/tinyproxy/FILTER"
FilterType bre
FilterDefaultDeny Yes
ConnectPort 443
ConnectPort 8443
Upstream http corp:pw@proxy.corp.example:3128
Upstream none ".intranet.example"
)";

TEST(TinyproxyImport, AnOldSetupBecomesAConfigAndRules) {
  const std::vector<ImportFile> files = {
      {"tinyproxy.conf", std::string(kTemplate)},
      {"work.10.137.0.12", "# work\n^www\\.debian\\.org$\n\\(www\\|ftp\\)\\.example\\.org$\n"},
      {"dev.10.137.0.13", "github\\.com\n"},
      {"README", "notes about this folder\n"},
  };
  const auto result = import_tinyproxy("/rw/config/tinyproxy", files);
  ASSERT_FALSE(core::has_errors(result.problems)) << messages(result.problems);

  // What was not carried over is said, naming the template.
  EXPECT_TRUE(mentions(result.problems, "/rw/config/tinyproxy/README: warning: neither"));
  EXPECT_TRUE(mentions(result.problems, "User/Group: not carried over"));
  EXPECT_TRUE(mentions(result.problems, "LogFile/Syslog: not carried over"));
  EXPECT_TRUE(mentions(result.problems, "Allow/Deny: not carried over"));
  EXPECT_TRUE(mentions(result.problems, "http_ports = [80]"));
  EXPECT_TRUE(mentions(result.problems, "keep it readable by root only"));

  // The config is one egressd reads without a problem, and says what the template said.
  const auto parsed = core::parse_config("egressd.toml", result.config);
  ASSERT_TRUE(parsed.problems.empty()) << messages(parsed.problems) << result.config;
  const core::Config& c = parsed.config;
  EXPECT_EQ(c.listen.front().to_string(), "10.137.0.5:8100");
  EXPECT_EQ(c.rules_dir, "rules");
  EXPECT_EQ(c.default_mode, core::ListMode::allow_list);
  EXPECT_EQ(c.connect_ports, (std::vector<std::uint16_t>{443, 8443}));
  EXPECT_EQ(c.via_name, "sys-proxy");
  EXPECT_EQ(c.timeouts.idle_client.count(), 300);
  EXPECT_EQ(c.limits.connections, 50u);
  // tinyproxy's last matching Upstream wins, egressd's first route: reversed.
  ASSERT_EQ(c.routing.routes.size(), 2u);
  EXPECT_FALSE(c.routing.routes[0].parent);
  EXPECT_EQ(c.routing.routes[0].domains, std::vector<std::string>{"intranet.example"});
  ASSERT_TRUE(c.routing.routes[1].parent);
  const auto& parent = c.routing.parents[*c.routing.routes[1].parent];
  EXPECT_EQ(parent.display(), "http://proxy.corp.example:3128");
  EXPECT_EQ(parent.username, "corp");
  EXPECT_EQ(parent.password, "pw");

  // Filter files become rules files, BRE turned into what egressd reads.
  ASSERT_EQ(result.rules.size(), 2u);
  const auto* work = find(result.rules, "work.10.137.0.12");
  ASSERT_NE(work, nullptr);
  EXPECT_NE(work->content.find("\n# work\n^www\\.debian\\.org$\n(www|ftp)\\.example\\.org$\n"),
            std::string::npos)
      << work->content;
  EXPECT_NE(find(result.rules, "dev.10.137.0.13"), nullptr);
  EXPECT_EQ(find(result.rules, "README"), nullptr);
}

TEST(TinyproxyImport, WhatStopsTheImport) {
  // A back-reference cannot be converted: the file and line are named.
  auto result = import_tinyproxy(
      "old", {{"t.conf", "Port 8100\nFilterType bre\n"}, {"a.10.0.0.1", "ok\n\\(a\\)\\1\n"}});
  EXPECT_TRUE(mentions(result.problems, "old/a.10.0.0.1:2: error: back-references"))
      << messages(result.problems);
  // URL filters cannot become host rules.
  result = import_tinyproxy("old", {{"t.conf", "Port 8100\nFilterURLs Yes\n"}});
  EXPECT_TRUE(mentions(result.problems, "FilterURLs is on")) << messages(result.problems);
  // Two configs: which one is the template?
  result = import_tinyproxy("old", {{"a.conf", "Port 1\n"}, {"b.conf", "Port 2\n"}});
  EXPECT_TRUE(mentions(result.problems, "more than one tinyproxy config (a.conf, b.conf)"));
  // An ERE line egressd's parser refuses.
  result = import_tinyproxy(
      "old", {{"t.conf", "Port 8100\nFilterType ere\n"}, {"a.10.0.0.1", "fine\n(unclosed\n"}});
  EXPECT_TRUE(mentions(result.problems, "rules/a.10.0.0.1:3: error")) << messages(result.problems);
  EXPECT_TRUE(result.rules.empty());
}

TEST(TinyproxyImport, WithoutATemplateTheDefaultsApply) {
  const auto result = import_tinyproxy("old", {{"a.10.0.0.1", "^example\\.org$\n"}});
  ASSERT_FALSE(core::has_errors(result.problems)) << messages(result.problems);
  EXPECT_TRUE(mentions(result.problems, "no tinyproxy config"));
  const auto parsed = core::parse_config("egressd.toml", result.config);
  ASSERT_TRUE(parsed.problems.empty()) << messages(parsed.problems);
  EXPECT_EQ(parsed.config.default_mode, core::ListMode::allow_list);
  EXPECT_EQ(parsed.config.connect_ports, std::vector<std::uint16_t>{443});
}

}  // namespace
}  // namespace egressd::ctl
