// Tests for the control protocol's dispatch (server/control_server) against a fake.
#include "server/control_server.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace egressd::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

core::IpAddress ip(std::string_view text) {
  return core::IpAddress::parse(text).value();
}

// Records what the commands did; answers from plain fields.
class FakeActions final : public ControlActions {
 public:
  FakeActions() {
    core::Config config;
    config.rules_dir = "/rules";
    std::vector<core::SourceFile> files{
        {"work.10.137.0.12", "/rules/work.10.137.0.12", "^a\\.test$\n", {}},
        {"dev.10.137.0.13", "/rules/dev.10.137.0.13", "b\n", {}},
        {"v6.fd09:24ef::12", "/rules/v6.fd09:24ef::12", "c\n", {}},
        {"broken.10.137.0.14", "/rules/broken.10.137.0.14", "(x\n", {}}};
    config.clients["dev"].mode = core::ListMode::block_list;
    snapshot = core::build_snapshot(config, files, 3).snapshot;
  }

  io::SnapshotPtr policy() const override { return snapshot; }
  std::unordered_map<core::IpAddress, io::ClientStats> activity() override { return stats; }
  std::shared_ptr<const io::ClientSet::Set> stopped() const override {
    return std::make_shared<const io::ClientSet::Set>(stopped_set);
  }
  std::vector<std::string> listen_addresses() const override { return {"0.0.0.0:8100"}; }
  std::size_t worker_count() const override { return 2; }
  ReloadResult reload() override {
    ++reloads;
    return reload_result;
  }
  void set_stopped(const std::vector<core::IpAddress>& clients, bool stop) override {
    for (const auto& c : clients) {
      if (stop) {
        stopped_set.insert(c);
      } else {
        stopped_set.erase(c);
      }
    }
    ++stop_calls;
  }
  std::size_t close_connections(const std::vector<core::IpAddress>& clients) override {
    closed.insert(closed.end(), clients.begin(), clients.end());
    return clients.size() * 2;
  }
  std::size_t close_all_connections() override {
    ++close_all_calls;
    return 5;
  }
  std::shared_ptr<const io::ClientSet::Set> learning() const override {
    return std::make_shared<const io::ClientSet::Set>(learning_set);
  }
  void set_learning(const std::vector<core::IpAddress>& clients, bool on) override {
    for (const auto& c : clients) {
      if (on) {
        learning_set.insert(c);
      } else {
        learning_set.erase(c);
      }
    }
  }
  std::vector<io::DeniedRequest> denied(const core::IpAddress& client,
                                        std::optional<io::SystemTime> since) override {
    std::vector<io::DeniedRequest> out;
    for (const auto& d : denials) {
      if (d.client == client && (!since || d.time >= *since)) out.push_back(d);
    }
    return out;
  }
  std::vector<io::LearnedRequest> learned(const core::IpAddress&,
                                          std::uint64_t& dropped) override {
    dropped = 7;
    return learned_requests;
  }

  io::SnapshotPtr snapshot;
  std::unordered_map<core::IpAddress, io::ClientStats> stats;
  io::ClientSet::Set stopped_set;
  io::ClientSet::Set learning_set;
  std::vector<io::DeniedRequest> denials;
  std::vector<io::LearnedRequest> learned_requests;
  ReloadResult reload_result;
  int reloads = 0;
  int stop_calls = 0;
  int close_all_calls = 0;
  std::vector<core::IpAddress> closed;
};

json run(FakeActions& actions, const std::string& line) {
  const auto answer = answer_control_line(line, actions);
  EXPECT_FALSE(answer.close) << line;
  return answer.answer;
}

TEST(ControlDispatch, ShowListsKnownThenUnknownClients) {
  FakeActions actions;
  io::ClientStats work;
  work.active_connections = 2;
  work.allowed = 41;
  work.denied = 3;
  work.last_denied_host = "tracker.example";
  work.last_seen = std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 10h;
  actions.stats[ip("10.137.0.12")] = work;
  io::ClientStats stranger;
  stranger.denied = 1;
  stranger.last_denied_host = "example.org";
  actions.stats[ip("10.137.0.99")] = stranger;
  actions.stats[ip("10.137.0.5")] = io::ClientStats{};
  actions.stopped_set.insert(ip("10.137.0.13"));
  actions.stopped_set.insert(ip("10.137.0.200"));  // stopped by address, never connected

  const json answer = run(actions, R"({"command": "show"})");
  EXPECT_EQ(answer["ok"], true);
  EXPECT_EQ(answer["generation"], 3);
  EXPECT_EQ(answer["rules_dir"], "/rules");
  EXPECT_EQ(answer["listen"], json::array({"0.0.0.0:8100"}));
  EXPECT_EQ(answer["workers"], 2);
  json clients = answer["clients"];
  ASSERT_EQ(clients.size(), 7u) << answer.dump(1);
  EXPECT_EQ(answer["problems"],
            json::array({"/rules/broken.10.137.0.14:1: error: invalid regular expression: "
                         "missing ): (x"}));
  // Known clients by label, then unknown ones by address.
  EXPECT_EQ(clients[0]["label"], "broken");
  EXPECT_EQ(clients[0]["rules_state"], "unusable");
  EXPECT_EQ(clients[0]["rules_errors"].size(), 1u);
  clients.erase(clients.begin());
  EXPECT_EQ(clients[0]["label"], "dev");
  EXPECT_EQ(clients[0]["state"], "stopped");
  EXPECT_EQ(clients[0]["mode"], "block-list");
  EXPECT_EQ(clients[0]["last_seen"], nullptr);
  EXPECT_EQ(clients[0]["last_denied_host"], nullptr);
  EXPECT_EQ(clients[1]["label"], "v6");
  EXPECT_EQ(clients[1]["address"], "fd09:24ef::12");
  EXPECT_EQ(clients[2], json::parse(R"({"label": "work", "address": "10.137.0.12", "known": true,
              "rules_file": "/rules/work.10.137.0.12", "mode": "allow-list",
              "state": "serving", "learning": false, "rules_state": "current",
              "rules_errors": [], "active_connections": 2, "allowed": 41, "denied": 3,
              "last_denied_host": "tracker.example", "last_seen": "2026-11-23T10:00:00Z"})"));
  EXPECT_EQ(clients[3]["address"], "10.137.0.5");
  EXPECT_EQ(clients[4]["address"], "10.137.0.99");
  EXPECT_EQ(clients[4]["known"], false);
  EXPECT_EQ(clients[4]["label"], nullptr);
  EXPECT_EQ(clients[4]["rules_file"], nullptr);
  EXPECT_EQ(clients[4]["mode"], nullptr);
  EXPECT_EQ(clients[4]["denied"], 1);
  EXPECT_EQ(clients[4]["last_denied_host"], "example.org");
  EXPECT_EQ(clients[5]["address"], "10.137.0.200");
  EXPECT_EQ(clients[5]["state"], "stopped");
}

TEST(ControlDispatch, StopByLabelAndAddress) {
  FakeActions actions;
  const json answer =
      run(actions, R"({"command": "stop", "clients": ["work", "10.137.0.77", "10.137.0.12"]})");
  EXPECT_EQ(answer, json::parse(R"({"ok": true, "clients": ["work", "10.137.0.77"],
                                    "closed_connections": 4})"));
  EXPECT_EQ(actions.stopped_set.count(ip("10.137.0.12")), 1u);
  EXPECT_EQ(actions.stopped_set.count(ip("10.137.0.77")), 1u);
  EXPECT_EQ(actions.closed, (std::vector<core::IpAddress>{ip("10.137.0.12"), ip("10.137.0.77")}));
  // A mapped IPv6 spelling is the same IPv4 client.
  const json again = run(actions, R"({"command": "stop", "clients": ["::ffff:10.137.0.12"]})");
  EXPECT_EQ(again["clients"], json::array({"work"}));
}

TEST(ControlDispatch, StartClosesNothing) {
  FakeActions actions;
  actions.stopped_set.insert(ip("10.137.0.12"));
  const json answer = run(actions, R"({"command": "start", "clients": ["work", "dev"]})");
  EXPECT_EQ(answer, json::parse(R"({"ok": true, "clients": ["work", "dev"],
                                    "closed_connections": 0})"));
  EXPECT_TRUE(actions.stopped_set.empty());
  EXPECT_TRUE(actions.closed.empty());
}

TEST(ControlDispatch, UnknownNameDoesNothing) {
  FakeActions actions;
  for (const char* command : {"stop", "start", "restart"}) {
    const json answer = run(
        actions, std::string(R"({"command": ")") + command + R"(", "clients": ["work", "foo"]})");
    EXPECT_EQ(answer, json::parse(R"({"ok": false, "error": "unknown client: foo"})")) << command;
  }
  EXPECT_EQ(actions.stop_calls, 0);
  EXPECT_EQ(actions.reloads, 0);
  EXPECT_TRUE(actions.closed.empty());
}

TEST(ControlDispatch, BadClientsLists) {
  FakeActions actions;
  for (const char* line : {R"({"command": "stop"})", R"({"command": "stop", "clients": []})",
                           R"({"command": "stop", "clients": "work"})",
                           R"({"command": "stop", "clients": ["work", 3]})"}) {
    const json answer = run(actions, line);
    EXPECT_EQ(answer["ok"], false) << line;
    EXPECT_NE(answer["error"].get<std::string>().find("\"clients\" must be"), std::string::npos)
        << answer.dump();
  }
  EXPECT_EQ(actions.stop_calls, 0);
}

ReloadResult good_reload() {
  ReloadResult result;
  result.applied = true;
  result.ok = true;
  result.generation = 4;
  result.clients = 3;
  result.problems.push_back({core::Problem::Severity::warning, "/rules/README", 0, "skipped"});
  result.changed.added = {"dev"};
  result.changed.modified = {"work"};
  return result;
}

ReloadResult failed_reload() {
  ReloadResult result;
  result.generation = 3;
  result.problems.push_back(
      {core::Problem::Severity::error, "/rules/work.10.137.0.12", 3, "invalid regular expression"});
  return result;
}

TEST(ControlDispatch, Reload) {
  FakeActions actions;
  actions.reload_result = good_reload();
  EXPECT_EQ(run(actions, R"({"command": "reload"})"),
            json::parse(R"({"ok": true, "applied": true, "generation": 4, "clients": 3,
              "problems": ["/rules/README: warning: skipped"], "tunnels_closed": 0,
              "changed": {"added": ["dev"], "removed": [], "modified": ["work"]}})"));

  actions.reload_result = failed_reload();
  EXPECT_EQ(run(actions, R"({"command": "reload"})"), json::parse(R"({"ok": false,
              "applied": false, "error": "reload failed: the previous rules stay in force",
              "problems": ["/rules/work.10.137.0.12:3: error: invalid regular expression"]})"));

  // Applied, but one file had errors: not ok, and it says so.
  actions.reload_result = good_reload();
  actions.reload_result.ok = false;
  const json partial = run(actions, R"({"command": "reload"})");
  EXPECT_EQ(partial["ok"], false);
  EXPECT_EQ(partial["applied"], true);
  EXPECT_NE(partial["error"].get<std::string>().find("some rules files have errors"),
            std::string::npos);
}

TEST(ControlDispatch, RestartClosesOnlyAfterAGoodReload) {
  FakeActions actions;
  actions.reload_result = failed_reload();
  json answer = run(actions, R"({"command": "restart", "clients": ["work"]})");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_FALSE(answer.contains("closed_connections"));
  EXPECT_TRUE(actions.closed.empty());

  actions.reload_result = good_reload();
  answer = run(actions, R"({"command": "restart", "clients": ["work"]})");
  EXPECT_EQ(answer["ok"], true);
  EXPECT_EQ(answer["generation"], 4);
  EXPECT_EQ(answer["closed_connections"], 2);
  EXPECT_EQ(actions.closed, std::vector<core::IpAddress>{ip("10.137.0.12")});
  EXPECT_EQ(actions.reloads, 2);
}

TEST(ControlDispatch, RestartRefusesAClientWhoseFileHasErrors) {
  FakeActions actions;
  actions.reload_result = good_reload();
  actions.reload_result.ok = false;  // some file had errors
  json answer = run(actions, R"({"command": "restart", "clients": ["broken"]})");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_NE(answer["error"].get<std::string>().find("not restarted"), std::string::npos);
  EXPECT_TRUE(actions.closed.empty());
  // Another client's broken file does not stop this one's restart.
  answer = run(actions, R"({"command": "restart", "clients": ["work"]})");
  EXPECT_EQ(answer["ok"], true) << answer.dump();
  EXPECT_FALSE(answer.contains("error"));
  EXPECT_EQ(answer["closed_connections"], 2);
}

TEST(ControlDispatch, KillAll) {
  FakeActions actions;
  EXPECT_EQ(run(actions, R"({"command": "kill-all"})"),
            json::parse(R"({"ok": true, "closed_connections": 5})"));
  EXPECT_EQ(actions.reloads, 0);
  actions.reload_result = good_reload();
  const json answer = run(actions, R"({"command": "kill-all-and-restart"})");
  EXPECT_EQ(answer["ok"], true);
  EXPECT_EQ(answer["closed_connections"], 5);
  EXPECT_EQ(answer["generation"], 4);
  EXPECT_EQ(actions.close_all_calls, 2);
  EXPECT_EQ(actions.reloads, 1);
}

TEST(ControlDispatch, UnknownCommandAndMissingCommand) {
  FakeActions actions;
  EXPECT_EQ(run(actions, R"({"command": "frobnicate"})"),
            json::parse(R"({"ok": false, "error": "unknown command: frobnicate"})"));
  const json expected = json::parse(
      R"({"ok": false, "error": "invalid request: expected a JSON object with a \"command\" string"})");
  EXPECT_EQ(run(actions, R"({"verb": "show"})"), expected);
  EXPECT_EQ(run(actions, R"({"command": 1})"), expected);
}

TEST(ControlDispatch, NotAnObjectClosesTheConnection) {
  FakeActions actions;
  for (const char* line : {"{bad", "[1, 2]", "\"show\"", "", "{\"command\": \"show\"} x"}) {
    const auto answer = answer_control_line(line, actions);
    EXPECT_TRUE(answer.close) << line;
    EXPECT_EQ(answer.answer["ok"], false) << line;
    EXPECT_NE(answer.answer["error"].get<std::string>().find("invalid request"), std::string::npos);
  }
}

TEST(ControlDispatch, CheckUsesTheDecisionOfTheDataPath) {
  FakeActions actions;
  json answer = run(actions, R"({"command": "check", "client": "work", "target": "a.test"})");
  ASSERT_EQ(answer["ok"], true) << answer.dump();
  EXPECT_EQ(answer["client"], "work");
  ASSERT_EQ(answer["checks"].size(), 2u);
  EXPECT_EQ(answer["checks"][0]["method"], "GET");
  EXPECT_EQ(answer["checks"][0]["port"], 80);
  EXPECT_EQ(answer["checks"][0]["verdict"], "allow");
  EXPECT_EQ(answer["checks"][0]["rule"],
            json::parse(R"({"file": "/rules/work.10.137.0.12", "line": 1, "pattern": "^a\\.test$"})"));
  EXPECT_EQ(answer["checks"][1]["method"], "CONNECT");
  EXPECT_EQ(answer["checks"][1]["port"], 443);

  answer = run(actions,
               R"({"command": "check", "client": "10.137.0.12", "target": "https://b.test/x"})");
  ASSERT_EQ(answer["checks"].size(), 1u);
  EXPECT_EQ(answer["checks"][0]["verdict"], "deny");
  EXPECT_EQ(answer["checks"][0]["reason"], "no-allow-rule");
  EXPECT_EQ(answer["checks"][0]["rule"], nullptr);

  answer = run(actions, R"({"command": "check", "client": "work", "target": "a.test:8443"})");
  EXPECT_EQ(answer["checks"][0]["reason"], "port-not-allowed");
  answer = run(actions, R"({"command": "check", "client": "work", "target": "http://A.TEST./"})");
  EXPECT_EQ(answer["checks"][0]["host"], "a.test");
  EXPECT_EQ(answer["checks"][0]["verdict"], "allow");

  // Stopped and learning clients get what the data path gives them.
  actions.learning_set.insert(ip("10.137.0.12"));
  answer = run(actions, R"({"command": "check", "client": "work", "target": "b.test:443"})");
  EXPECT_EQ(answer["checks"][0]["reason"], "learning");
  actions.stopped_set.insert(ip("10.137.0.12"));
  answer = run(actions, R"({"command": "check", "client": "work", "target": "a.test:443"})");
  EXPECT_EQ(answer["checks"][0]["reason"], "client-stopped");

  answer = run(actions, R"({"command": "check", "client": "broken", "target": "x"})");
  EXPECT_EQ(answer["checks"][0]["reason"], "rules-unusable");

  for (const char* bad : {R"({"command": "check", "client": "work", "target": "a b"})",
                          R"({"command": "check", "client": "work", "target": "ftp://x/"})",
                          R"({"command": "check", "client": "work"})",
                          R"({"command": "check", "client": "nobody", "target": "x"})"}) {
    EXPECT_EQ(run(actions, bad)["ok"], false) << bad;
  }
}

TEST(ControlDispatch, BlockedCountsHostsMostFrequentFirst) {
  FakeActions actions;
  const auto t0 = std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 10h;
  const auto work = ip("10.137.0.12");
  actions.denials = {{work, "once.test", 443, true, t0},
                     {work, "often.test", 80, false, t0 + 1s},
                     {work, "often.test", 443, true, t0 + 2s},
                     {ip("10.137.0.13"), "other.test", 80, false, t0 + 3s}};
  json answer = run(actions, R"({"command": "blocked", "client": "work"})");
  ASSERT_EQ(answer["ok"], true) << answer.dump();
  EXPECT_EQ(answer["hosts"], json::parse(R"([
      {"host": "often.test", "count": 2, "ports": [80, 443],
       "first": "2026-11-23T10:00:01Z", "last": "2026-11-23T10:00:02Z"},
      {"host": "once.test", "count": 1, "ports": [443],
       "first": "2026-11-23T10:00:00Z", "last": "2026-11-23T10:00:00Z"}])"));
  const double since =
      std::chrono::duration<double>((t0 + 2s).time_since_epoch()).count();
  answer = run(actions, json{{"command", "blocked"}, {"client", "work"}, {"since", since}}.dump());
  ASSERT_EQ(answer["hosts"].size(), 1u);
  EXPECT_EQ(answer["hosts"][0]["count"], 1);
  EXPECT_EQ(run(actions, R"({"command": "blocked", "client": "work", "since": "x"})")["ok"], false);
}

TEST(ControlDispatch, LearnAndSuggest) {
  FakeActions actions;
  json answer = run(actions, R"({"command": "learn", "clients": ["work"], "on": true})");
  EXPECT_EQ(answer["ok"], true);
  EXPECT_EQ(actions.learning_set.count(ip("10.137.0.12")), 1u);
  EXPECT_EQ(run(actions, R"({"command": "show"})")["clients"][3]["learning"], true);
  EXPECT_EQ(run(actions, R"({"command": "learn", "clients": ["work"]})")["ok"], false);
  actions.learned_requests = {{"b.test", 443, true, 3}, {"a.test", 80, false, 1}};
  answer = run(actions, R"({"command": "suggest", "client": "work"})");
  EXPECT_EQ(answer["learning"], true);
  EXPECT_EQ(answer["dropped"], 7);
  EXPECT_EQ(answer["requests"], json::parse(R"([
      {"host": "a.test", "port": 80, "connect": false, "count": 1},
      {"host": "b.test", "port": 443, "connect": true, "count": 3}])"));
  run(actions, R"({"command": "learn", "clients": ["work"], "on": false})");
  EXPECT_TRUE(actions.learning_set.empty());
  // Learning needs a rules file: it records what the rules would deny.
  answer = run(actions, R"({"command": "learn", "clients": ["10.137.0.99"], "on": true})");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_NE(answer["error"].get<std::string>().find("has no rules file"), std::string::npos);
  EXPECT_TRUE(actions.learning_set.empty());
}

TEST(ControlDispatch, WatchNamesItsClient) {
  FakeActions actions;
  auto answer = answer_control_line(R"({"command": "watch", "client": "work"})", actions);
  EXPECT_TRUE(answer.watch);
  EXPECT_EQ(answer.watch_client, ip("10.137.0.12"));
  answer = answer_control_line(R"({"command": "watch"})", actions);
  EXPECT_TRUE(answer.watch);
  EXPECT_FALSE(answer.watch_client.has_value());
  answer = answer_control_line(R"({"command": "watch", "client": "nobody"})", actions);
  EXPECT_FALSE(answer.watch);
  EXPECT_EQ(answer.answer["ok"], false);
}

TEST(FormatUtc, Rfc3339Seconds) {
  EXPECT_EQ(format_utc(std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 10h + 1min + 2s),
            "2026-11-23T10:01:02Z");
}

}  // namespace
}  // namespace egressd::server
