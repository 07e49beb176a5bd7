// Tests for block and error pages (core/pages).
#include "core/pages.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egressd::core {
namespace {

IpAddress ip(std::string_view text) {
  return IpAddress::parse(text).value_or(IpAddress{});
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

class DenyInfoTest : public testing::Test {
 protected:
  DenyInfoTest() {
    Config config;
    config.rules_dir = "/rw/config/egressd/rules";
    config.http_ports = {80};
    config.connect_ports = {443, 8443};
    config.clients["kids"].mode = ListMode::block_list;
    auto build = build_snapshot(
        config,
        {SourceFile{"work.10.0.0.1", "/rw/config/egressd/rules/work.10.0.0.1", "^example\\.com$\n"},
         SourceFile{"kids.10.0.0.2", "/rw/config/egressd/rules/kids.10.0.0.2", "# no\ngames\n"},
         SourceFile{"new.10.0.0.3", "/rw/config/egressd/rules/new.10.0.0.3", "(broken\n"}},
        1);
    snapshot_ = build.snapshot;
  }

  DenyInfo info_for(std::string_view client, std::string name, std::uint16_t port,
                    bool is_connect) {
    host_ = Host{std::move(name), std::nullopt};
    const DecisionRequest request{is_connect ? "CONNECT" : "GET", host_, port, is_connect};
    const Decision decision = decide(*snapshot_, ip(client), request);
    return make_deny_info(*snapshot_, ip(client), request, decision);
  }

  std::shared_ptr<const PolicySnapshot> snapshot_;
  Host host_;
};

TEST_F(DenyInfoTest, NoAllowRuleSuggestsTheExactRule) {
  const DenyInfo info = info_for("10.0.0.1", "www.example.org", 443, true);
  EXPECT_EQ(info.client_label, "work");
  EXPECT_EQ(info.client_address, "10.0.0.1");
  EXPECT_EQ(info.method, "CONNECT");
  EXPECT_EQ(info.host, "www.example.org");
  EXPECT_EQ(info.port, 443);
  EXPECT_EQ(info.reason, "no rule in the allow-list matches this host");
  EXPECT_EQ(info.decided_by, "");
  EXPECT_EQ(info.rules_file, "/rw/config/egressd/rules/work.10.0.0.1");
  EXPECT_EQ(info.rule_to_add, "^www\\.example\\.org$");
}

TEST_F(DenyInfoTest, UnusableRulesFileIsNamedWithTheReason) {
  const DenyInfo info = info_for("10.0.0.3", "example.com", 80, false);
  EXPECT_EQ(info.client_label, "new");
  EXPECT_EQ(info.rules_file, "/rw/config/egressd/rules/new.10.0.0.3");
  EXPECT_NE(info.reason.find("rules file has errors"), std::string::npos) << info.reason;
  EXPECT_EQ(info.rule_to_add, "");  // a line added to a broken file would not help
}

TEST_F(DenyInfoTest, BlockRuleNamesTheRuleAndSuggestsNothing) {
  const DenyInfo info = info_for("10.0.0.2", "games.example", 80, false);
  EXPECT_EQ(info.client_label, "kids");
  EXPECT_EQ(info.decided_by, "/rw/config/egressd/rules/kids.10.0.0.2:2: games");
  EXPECT_EQ(info.rule_to_add, "");
  EXPECT_EQ(info.reason, "a rule in the block-list matches this host");
}

TEST_F(DenyInfoTest, UnknownClientGetsTheFileToCreate) {
  const DenyInfo info = info_for("fd00::5", "example.com", 80, false);
  EXPECT_EQ(info.client_label, "");
  EXPECT_EQ(info.client_address, "fd00::5");
  EXPECT_EQ(info.rules_file, "/rw/config/egressd/rules/CLIENT.fd00::5");
  EXPECT_EQ(info.rule_to_add, "^example\\.com$");
}

TEST_F(DenyInfoTest, PortNotAllowedListsThePorts) {
  const DenyInfo connect = info_for("10.0.0.1", "example.com", 22, true);
  EXPECT_EQ(connect.reason, "port 22 is not allowed for CONNECT (allowed: 443, 8443)");
  EXPECT_EQ(connect.rule_to_add, "");
  const DenyInfo plain = info_for("10.0.0.1", "example.com", 8080, false);
  EXPECT_EQ(plain.reason, "port 8080 is not allowed for plain HTTP (allowed: 80)");
}

TEST(HtmlEscape, EscapesTheFiveCharacters) {
  EXPECT_EQ(html_escape("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
  EXPECT_EQ(html_escape(""), "");
  EXPECT_EQ(html_escape("plain.example"), "plain.example");
}

DenyInfo hostile_info() {
  DenyInfo info;
  info.client_label = "<script>alert(1)</script>";
  info.client_address = "10.0.0.1";
  info.method = "G\"ET'";
  info.host = "<img src=x onerror=alert(1)>";
  info.port = 443;
  info.reason = "no rule & no <mercy>";
  info.decided_by = "/r/x:1: a<b";
  info.rules_file = "/r/<b>.10.0.0.1";
  info.rule_to_add = "^</pre><script>$";
  return info;
}

TEST(RenderDenyHtml, EscapesEveryValue) {
  const std::string page = render_deny_html(hostile_info());
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_FALSE(contains(page, "<img"));
  EXPECT_FALSE(contains(page, "<mercy>"));
  EXPECT_FALSE(contains(page, "</pre><script>"));
  EXPECT_FALSE(contains(page, "<b>"));
  EXPECT_FALSE(contains(page, "G\"ET'"));
  EXPECT_TRUE(contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
  EXPECT_TRUE(contains(page, "&lt;img src=x onerror=alert(1)&gt;"));
  EXPECT_TRUE(contains(page, "G&quot;ET&#39;"));
  EXPECT_TRUE(contains(page, "no rule &amp; no &lt;mercy&gt;"));
  EXPECT_TRUE(contains(page, "<pre>^&lt;/pre&gt;&lt;script&gt;$</pre>"));
}

TEST(RenderDenyHtml, SelfContained) {
  DenyInfo info;
  info.client_label = "work";
  info.client_address = "10.0.0.1";
  info.method = "GET";
  info.host = "www.example.org";
  info.port = 80;
  info.reason = "no rule in the allow-list matches this host";
  info.rules_file = "/rules/work.10.0.0.1";
  info.rule_to_add = "^www\\.example\\.org$";
  const std::string page = render_deny_html(info);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(contains(page, "<title>Blocked by egressd</title>"));
  EXPECT_TRUE(contains(page, "work"));
  EXPECT_TRUE(contains(page, "10.0.0.1"));
  EXPECT_TRUE(contains(page, "www.example.org:80"));
  EXPECT_TRUE(contains(page, "To allow it, add this line to /rules/work.10.0.0.1:"));
  EXPECT_TRUE(contains(page, "<pre>^www\\.example\\.org$</pre>"));
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_FALSE(contains(page, "src="));
  EXPECT_FALSE(contains(page, "href="));
  EXPECT_FALSE(contains(page, "http://"));
  EXPECT_FALSE(contains(page, "https://"));
  EXPECT_FALSE(contains(page, "url("));
  EXPECT_TRUE(contains(page, "</html>"));
}

TEST(RenderDenyHtml, UnknownClientAndIpv6Host) {
  DenyInfo info;
  info.client_address = "fd00::5";
  info.method = "CONNECT";
  info.host = "2001:db8::1";
  info.port = 443;
  info.reason = "r";
  info.rules_file = "/rules/CLIENT.fd00::5";
  const std::string page = render_deny_html(info);
  EXPECT_TRUE(contains(page, "unknown client"));
  EXPECT_TRUE(contains(page, "[2001:db8::1]:443"));
  EXPECT_FALSE(contains(page, "<pre>"));
}

TEST(RenderDenyHtml, BlockRuleSaysWhatToChange) {
  DenyInfo info;
  info.client_label = "kids";
  info.host = "games.example";
  info.decided_by = "/rules/kids.10.0.0.2:2: games";
  info.rules_file = "/rules/kids.10.0.0.2";
  const std::string page = render_deny_html(info);
  EXPECT_TRUE(contains(page, "/rules/kids.10.0.0.2:2: games"));
  EXPECT_TRUE(contains(page, "remove or change the deciding rule in /rules/kids.10.0.0.2"));
}

TEST(RenderDenyText, KeyValueLines) {
  DenyInfo info;
  info.client_label = "work";
  info.client_address = "10.0.0.1";
  info.method = "CONNECT";
  info.host = "www.example.org";
  info.port = 443;
  info.reason = "no rule in the allow-list matches this host";
  info.rules_file = "/rules/work.10.0.0.1";
  info.rule_to_add = "^www\\.example\\.org$";
  EXPECT_EQ(render_deny_text(info),
            "Blocked by egressd\n"
            "client: work\n"
            "address: 10.0.0.1\n"
            "method: CONNECT\n"
            "host: www.example.org:443\n"
            "reason: no rule in the allow-list matches this host\n"
            "rules file: /rules/work.10.0.0.1\n"
            "to allow it, add this line to the rules file: ^www\\.example\\.org$\n");
}

TEST(RenderDenyText, ControlCharactersCannotAddLines) {
  DenyInfo info = hostile_info();
  info.client_label = "a\r\nreason: forged";
  const std::string text = render_deny_text(info);
  EXPECT_FALSE(contains(text, "\nreason: forged"));
  EXPECT_TRUE(contains(text, "client: a\\x0d\\x0areason: forged\n"));
}

TEST(RenderStopped, NamesClientHostAndHowToResume) {
  StoppedInfo info{"work", "10.137.0.12", "GET", "example.com", 80};
  const std::string page = render_stopped_html(info);
  EXPECT_TRUE(contains(page, "<title>egressd is stopped for this client</title>"));
  EXPECT_TRUE(contains(page, "<td>work</td>"));
  EXPECT_TRUE(contains(page, "<td>10.137.0.12</td>"));
  EXPECT_TRUE(contains(page, "<td>example.com:80</td>"));
  EXPECT_TRUE(contains(page, "<pre>egressctl start work</pre>"));
  const std::string text = render_stopped_text(info);
  EXPECT_TRUE(contains(text, "client: work\n"));
  EXPECT_TRUE(contains(text, "to serve it again, run: egressctl start work\n"));
}

TEST(RenderStopped, UnknownClientResumesByAddress) {
  StoppedInfo info{"", "fd00::12", "CONNECT", "fd00::1", 443};
  EXPECT_EQ(info.resume_command(), "egressctl start fd00::12");
  const std::string page = render_stopped_html(info);
  EXPECT_TRUE(contains(page, "unknown client"));
  EXPECT_TRUE(contains(page, "[fd00::1]:443"));
  EXPECT_TRUE(contains(page, "<pre>egressctl start fd00::12</pre>"));
}

TEST(RenderStopped, EscapesEveryValue) {
  StoppedInfo info{"<script>x</script>", "10.0.0.1", "G\"ET'", "<img src=x>", 80};
  const std::string page = render_stopped_html(info);
  EXPECT_FALSE(contains(page, "<script"));
  EXPECT_FALSE(contains(page, "<img"));
  EXPECT_TRUE(contains(page, "egressctl start &lt;script&gt;x&lt;/script&gt;"));
  EXPECT_TRUE(contains(page, "G&quot;ET&#39;"));
  info.client_label = "a\r\nhost: forged";
  EXPECT_FALSE(contains(render_stopped_text(info), "\nhost: forged"));
}

TEST(RenderErrorHtml, EscapesDetail) {
  const std::string page = render_error_html(502, "Bad Gateway", "<b>upstream</b> & \"x\"");
  EXPECT_TRUE(contains(page, "<title>502 Bad Gateway</title>"));
  EXPECT_TRUE(contains(page, "<h1>502 Bad Gateway</h1>"));
  EXPECT_TRUE(contains(page, "&lt;b&gt;upstream&lt;/b&gt; &amp; &quot;x&quot;"));
  EXPECT_FALSE(contains(page, "<b>"));
  EXPECT_FALSE(contains(page, "<script"));
  const std::string hostile_phrase = render_error_html(400, "<i>", "");
  EXPECT_FALSE(contains(hostile_phrase, "<i>"));
}

}  // namespace
}  // namespace egressd::core
