// Tests for the decision log line (core/decision_log).
#include "core/decision_log.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace egressd::core {
namespace {

IpAddress ip(std::string_view text) {
  return IpAddress::parse(text).value_or(IpAddress{});
}

TEST(LogValue, QuotesOnlyWhenNeeded) {
  struct Case {
    std::string in;
    std::string out;
  };
  for (const Case& c : {
           Case{"example.com", "example.com"},
           Case{"/etc/egressd/rules/work.10.0.0.1:3", "/etc/egressd/rules/work.10.0.0.1:3"},
           Case{"2001:db8::1", "2001:db8::1"},
           Case{"", "\"\""},
           Case{"a b", "\"a b\""},
           Case{"a=b", "\"a=b\""},
           Case{"say \"hi\"", "\"say \\\"hi\\\"\""},
           Case{"back\\slash", "\"back\\\\slash\""},
           Case{"line\nbreak", "\"line\\x0abreak\""},
           Case{"tab\there", "\"tab\\x09here\""},
           Case{std::string("nul\0x", 5), "\"nul\\x00x\""},
           Case{"del\x7f", "\"del\\x7f\""},
           Case{"caf\xc3\xa9", "\"caf\\xc3\\xa9\""},
       }) {
    EXPECT_EQ(log_value(c.in), c.out) << c.in;
  }
}

// Splits a decision line back into its fields, undoing log_value's quoting.
std::map<std::string, std::string> parse_line(const std::string& line) {
  std::map<std::string, std::string> fields;
  std::size_t i = line.find(' ');
  while (i != std::string::npos && i < line.size()) {
    ++i;
    const std::size_t eq = line.find('=', i);
    const std::string key = line.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < line.size() && line[i] == '"') {
      for (++i; line[i] != '"'; ++i) {
        if (line[i] == '\\' && line[i + 1] == 'x') {
          value += static_cast<char>(std::stoi(line.substr(i + 2, 2), nullptr, 16));
          i += 3;
        } else if (line[i] == '\\') {
          value += line[++i];
        } else {
          value += line[i];
        }
      }
      ++i;
    } else {
      const std::size_t end = line.find(' ', i);
      value = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? line.size() : end;
    }
    fields[key] = value;
  }
  return fields;
}

TEST(FormatDecisionLog, KnownClientWithRule) {
  ClientPolicy client;
  client.label = "work";
  client.address = ip("127.0.0.2");
  client.rules_path = "/etc/egressd/rules/work.127.0.0.2";
  const Rule rule{"^example\\.com$", 3};
  Decision d{Verdict::allow, Reason::allow_rule_matched, &client, &rule};
  EXPECT_EQ(format_decision_log(ip("127.0.0.2"), "GET", "example.com", 80, d),
            "decision client=work addr=127.0.0.2 method=GET host=example.com port=80 "
            "verdict=allow reason=allow-rule rule=/etc/egressd/rules/work.127.0.0.2:3");
}

TEST(FormatDecisionLog, NoRuleMeansNoRuleField) {
  ClientPolicy client;
  client.label = "work";
  client.rules_path = "/r/work.10.0.0.1";
  Decision d{Verdict::deny, Reason::no_allow_rule_matched, &client, nullptr};
  EXPECT_EQ(format_decision_log(ip("10.0.0.1"), "CONNECT", "x.org", 443, d),
            "decision client=work addr=10.0.0.1 method=CONNECT host=x.org port=443 "
            "verdict=deny reason=no-allow-rule");
}

TEST(FormatDecisionLog, UnknownClientIsADash) {
  Decision d{Verdict::deny, Reason::unknown_client_denied, nullptr, nullptr};
  EXPECT_EQ(format_decision_log(ip("fd00::1"), "GET", "a.b", 8080, d),
            "decision client=- addr=fd00::1 method=GET host=a.b port=8080 verdict=deny "
            "reason=unknown-client-denied");
  ClientPolicy dash;
  dash.label = "-";
  d.client = &dash;
  EXPECT_EQ(parse_line(format_decision_log(ip("10.0.0.1"), "GET", "a.b", 80, d))["client"], "-");
  EXPECT_NE(format_decision_log(ip("10.0.0.1"), "GET", "a.b", 80, d).find("client=\"-\""),
            std::string::npos);
}

TEST(FormatDecisionLog, HostileValuesParseBack) {
  ClientPolicy client;
  client.label = "work";
  client.rules_path = "/r/my rules/work.10.0.0.1";
  const Rule rule{"x", 12};
  const Decision d{Verdict::deny, Reason::block_rule_matched, &client, &rule};
  const std::string method = "GET verdict=allow";
  const std::string host = "evil\" reason=allow-rule\nfake=1\\";
  const std::string line = format_decision_log(ip("10.0.0.1"), method, host, 80, d);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  const auto fields = parse_line(line);
  EXPECT_EQ(fields.size(), 8u) << line;
  EXPECT_EQ(fields.at("method"), method);
  EXPECT_EQ(fields.at("host"), host);
  EXPECT_EQ(fields.at("verdict"), "deny");
  EXPECT_EQ(fields.at("reason"), "block-rule");
  EXPECT_EQ(fields.at("rule"), "/r/my rules/work.10.0.0.1:12");
}

}  // namespace
}  // namespace egressd::core
