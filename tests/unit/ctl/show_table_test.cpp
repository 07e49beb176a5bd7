// `show`: merging the daemon's answer with vif routes, and the table layout.
#include "ctl/show_table.hpp"

#include <gtest/gtest.h>

namespace egressd::ctl {
namespace {

using nlohmann::json;

// The example answer of docs/control-protocol.md.
const json kShow = json::parse(R"({"ok": true, "generation": 3,
  "rules_dir": "/rw/config/egressd/rules", "listen": ["0.0.0.0:8100"], "workers": 2,
  "clients": [
   {"label": "work", "address": "10.137.0.12", "known": true,
    "rules_file": "/rw/config/egressd/rules/work.10.137.0.12", "mode": "allow-list",
    "state": "serving", "active_connections": 2, "allowed": 41, "denied": 3,
    "last_denied_host": "tracker.example", "last_seen": "2026-11-23T10:00:00Z"},
   {"label": null, "address": "10.137.0.99", "known": false, "rules_file": null,
    "mode": null, "state": "stopped", "active_connections": 0, "allowed": 0, "denied": 1,
    "last_denied_host": "example.org", "last_seen": "2026-11-23T10:01:00Z"},
   {"label": "dev", "address": "fd09:24ef:4179::a89:f", "known": true,
    "state": "serving", "active_connections": 0, "allowed": 0, "denied": 0,
    "last_denied_host": null, "last_seen": null}]})");

const VifRoutes kRoutes{{"10.137.0.12", "vif12.0"},
                        {"10.137.0.20", "vif20.0"},
                        {"fd09:24ef:4179::a89:f", "vif15.0"}};

TEST(ShowMerge, AddsInterfaceAndConnected) {
  json merged = merge_show_with_routes(kShow, &kRoutes);
  const auto& clients = merged["clients"];
  EXPECT_EQ(clients[0]["interface"], "vif12.0");
  EXPECT_EQ(clients[0]["connected"], true);
  EXPECT_TRUE(clients[1]["interface"].is_null());
  EXPECT_EQ(clients[1]["connected"], false);
  EXPECT_EQ(clients[2]["interface"], "vif15.0");
  // The daemon's fields stay as they were.
  EXPECT_EQ(clients[0]["allowed"], 41);
  EXPECT_EQ(merged["generation"], 3);
  EXPECT_EQ(merged["unlisted_vif_routes"],
            json::parse(R"([{"address": "10.137.0.20", "interface": "vif20.0"}])"));
}

TEST(ShowMerge, AddressesAreComparedCanonically) {
  json show = {{"ok", true},
               {"clients", json::array({{{"address", "FD09:24EF:4179:0::A89:F"}}})}};
  json merged = merge_show_with_routes(show, &kRoutes);
  EXPECT_EQ(merged["clients"][0]["interface"], "vif15.0");
  EXPECT_EQ(merged["unlisted_vif_routes"].size(), 2u);
}

TEST(ShowMerge, UnreadableRoutesGiveNulls) {
  json merged = merge_show_with_routes(kShow, nullptr);
  for (const auto& client : merged["clients"]) {
    EXPECT_TRUE(client["interface"].is_null());
    EXPECT_TRUE(client["connected"].is_null());
  }
  EXPECT_TRUE(merged["unlisted_vif_routes"].empty());
  auto rows = show_rows(merged);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].connected, "?");
}

TEST(ShowMerge, ToleratesOddAnswers) {
  json merged = merge_show_with_routes(json{{"ok", true}, {"clients", {1, "x"}}}, &kRoutes);
  EXPECT_EQ(merged["clients"], json({1, "x"}));
  EXPECT_TRUE(show_rows(json::object()).empty());
  auto rows = show_rows(json{{"clients", {json::object()}}});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].label, "-");
  EXPECT_EQ(rows[0].connections, "-");
}

TEST(ShowRows, CellsForKnownUnknownAndUnlisted) {
  auto rows = show_rows(merge_show_with_routes(kShow, &kRoutes));
  ASSERT_EQ(rows.size(), 4u);
  const ShowRow& work = rows[0];
  EXPECT_EQ(work.label, "work");
  EXPECT_EQ(work.address, "10.137.0.12");
  EXPECT_EQ(work.interface, "vif12.0");
  EXPECT_EQ(work.connected, "yes");
  EXPECT_EQ(work.state, "serving");
  EXPECT_EQ(work.connections, "2");
  EXPECT_EQ(work.allowed, "41");
  EXPECT_EQ(work.denied, "3");
  EXPECT_EQ(work.last_denied, "tracker.example");
  const ShowRow& unknown = rows[1];
  EXPECT_EQ(unknown.label, "-");
  EXPECT_EQ(unknown.interface, "-");
  EXPECT_EQ(unknown.connected, "no");
  EXPECT_EQ(unknown.state, "stopped");
  EXPECT_EQ(rows[2].last_denied, "-");
  const ShowRow& unlisted = rows[3];
  EXPECT_EQ(unlisted.address, "10.137.0.20");
  EXPECT_EQ(unlisted.interface, "vif20.0");
  EXPECT_EQ(unlisted.connected, "yes");
  EXPECT_EQ(unlisted.state, "-");
}

TEST(ShowRows, ControlCharactersCannotReachTheTerminal) {
  json show = {{"clients", json::array({{{"label", "evil\x1b[2Jname"},
                                          {"last_denied_host", "a\nb"}}})}};
  auto rows = show_rows(show);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].label, "evil?[2Jname");
  EXPECT_EQ(rows[0].last_denied, "a?b");
}

TEST(ShowTable, Layout) {
  auto text = format_show_table(show_rows(merge_show_with_routes(kShow, &kRoutes)));
  EXPECT_EQ(text,
            "LABEL  ADDRESS                INTERFACE  CONNECTED  STATE    CONNS  ALLOWED  DENIED"
            "  LAST-DENIED\n"
            "work   10.137.0.12            vif12.0    yes        serving      2       41       3"
            "  tracker.example\n"
            "-      10.137.0.99            -          no         stopped      0        0       1"
            "  example.org\n"
            "dev    fd09:24ef:4179::a89:f  vif15.0    yes        serving      0        0       0"
            "  -\n"
            "-      10.137.0.20            vif20.0    yes        -            -        -       -"
            "  -\n");
}

TEST(ShowTable, EmptyHasTheHeader) {
  EXPECT_EQ(format_show_table({}),
            "LABEL  ADDRESS  INTERFACE  CONNECTED  STATE  CONNS  ALLOWED  DENIED  LAST-DENIED\n");
}

}  // namespace
}  // namespace egressd::ctl
