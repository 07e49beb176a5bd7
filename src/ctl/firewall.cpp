// Firewall planning (pure) and running (through a Runner) for Qubes 4.2 nftables and
// Qubes 4.0/4.1 iptables.
#include "ctl/firewall.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace egressd::ctl {
namespace {

using nlohmann::json;

std::string ports_text(const std::vector<std::uint16_t>& ports, std::string_view separator) {
  std::string text;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (i > 0) text += separator;
    text += std::to_string(ports[i]);
  }
  return text;
}

std::string port_words(const std::vector<std::uint16_t>& ports) {
  return (ports.size() == 1 ? "port " : "ports ") + ports_text(ports, ", ");
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool is_string(const json* value, std::string_view text) {
  return value != nullptr && value->is_string() && value->get_ref<const std::string&>() == text;
}

// {"match": {"op": OP, "left": {SECTION: {"key": KEY}}, "right": ...}} -> right, or null.
const json* match_right(const json& expr, const char* section, const char* key,
                        const char* field = "key") {
  const json* match = member(expr, "match");
  if (match == nullptr) return nullptr;
  const json* left = member(*match, "left");
  const json* inner = left ? member(*left, section) : nullptr;
  if (inner == nullptr || !is_string(member(*inner, field), key)) return nullptr;
  return member(*match, "right");
}

bool is_port(const json& value) {
  return value.is_number_unsigned() && value.get<std::uint64_t>() >= 1 &&
         value.get<std::uint64_t>() <= 65535;
}

// Recognises exactly the rule open adds: iifgroup 2 tcp dport PORTS ct state new accept.
NftOwnRule analyse_own_rule(std::uint64_t handle, const json& expr) {
  NftOwnRule rule;
  rule.handle = handle;
  if (!expr.is_array() || expr.size() != 4) return rule;
  const json* group = match_right(expr[0], "meta", "iifgroup");
  if (group == nullptr || !group->is_number_unsigned() || group->get<std::uint64_t>() != 2) {
    return rule;
  }
  const json* match = member(expr[1], "match");
  const json* left = match ? member(*match, "left") : nullptr;
  const json* payload = left ? member(*left, "payload") : nullptr;
  if (payload == nullptr || !is_string(member(*payload, "protocol"), "tcp") ||
      !is_string(member(*payload, "field"), "dport")) {
    return rule;
  }
  const json* right = member(*match, "right");
  std::vector<std::uint16_t> ports;
  if (right != nullptr && is_port(*right)) {
    ports.push_back(right->get<std::uint16_t>());
  } else if (const json* set = right ? member(*right, "set") : nullptr;
             set != nullptr && set->is_array()) {
    for (const auto& element : *set) {
      if (!is_port(element)) return rule;
      ports.push_back(element.get<std::uint16_t>());
    }
  } else {
    return rule;
  }
  const json* state = match_right(expr[2], "ct", "state");
  bool state_new = state != nullptr &&
                   ((state->is_string() && *state == "new") ||
                    (state->is_array() && state->size() == 1 && (*state)[0] == "new"));
  if (!state_new || member(expr[3], "accept") == nullptr) return rule;
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  rule.is_ours = true;
  rule.ports = std::move(ports);
  return rule;
}

bool jumps_to_own_chain(const json& expr) {
  if (!expr.is_array()) return false;
  for (const auto& statement : expr) {
    for (const char* verb : {"jump", "goto"}) {
      const json* target = member(statement, verb);
      if (target != nullptr && is_string(member(*target, "target"), kNftChain)) return true;
    }
  }
  return false;
}

std::string table_name(NftFamily family) { return fmt::format("{} qubes", to_string(family)); }

}  // namespace

std::string_view to_string(NftFamily family) { return family == NftFamily::ip ? "ip" : "ip6"; }

core::Result<NftQubesTable> parse_nft_qubes_table(std::string_view nft_json) {
  auto listing = json::parse(nft_json, nullptr, /*allow_exceptions=*/false);
  const json* items = listing.is_discarded() ? nullptr : member(listing, "nftables");
  if (items == nullptr || !items->is_array()) {
    return core::Error{"the output of `nft -j list table` is not the JSON nft prints"};
  }
  NftQubesTable table;
  std::vector<NftRuleRef> other_jumps;
  for (const auto& item : *items) {
    if (const json* chain = member(item, "chain")) {
      if (is_string(member(*chain, "name"), kNftUserChain)) table.has_user_chain = true;
      if (is_string(member(*chain, "name"), kNftChain)) table.has_own_chain = true;
      continue;
    }
    const json* rule = member(item, "rule");
    if (rule == nullptr) continue;
    const json* chain = member(*rule, "chain");
    const json* handle = member(*rule, "handle");
    const json* expr = member(*rule, "expr");
    if (chain == nullptr || !chain->is_string() || handle == nullptr ||
        !handle->is_number_unsigned() || expr == nullptr) {
      continue;
    }
    const auto& chain_name = chain->get_ref<const std::string&>();
    auto handle_value = handle->get<std::uint64_t>();
    if (chain_name == kNftChain) {
      table.own_rules.push_back(analyse_own_rule(handle_value, *expr));
    } else if (jumps_to_own_chain(*expr)) {
      (chain_name == kNftUserChain ? table.jumps : other_jumps)
          .push_back(NftRuleRef{chain_name, handle_value});
    }
  }
  table.jumps.insert(table.jumps.end(), other_jumps.begin(), other_jumps.end());
  return table;
}

core::Result<std::string> plan_nft_open(NftFamily family, const NftQubesTable& table,
                                        const std::vector<std::uint16_t>& ports) {
  const std::string t = table_name(family);
  if (!table.has_user_chain) {
    return core::Error{fmt::format(
        "table {} has no chain {}: this is not the Qubes 4.2 firewall layout", t,
        kNftUserChain)};
  }
  if (ports.empty()) return core::Error{"no port to open"};
  std::string dport = ports.size() == 1 ? ports_text(ports, "")
                                        : "{ " + ports_text(ports, ", ") + " }";
  std::string script;
  script += fmt::format("add chain {} {}\n", t, kNftChain);
  script += fmt::format("flush chain {} {}\n", t, kNftChain);
  script += fmt::format("add rule {} {} iifgroup 2 tcp dport {} ct state new accept\n", t,
                        kNftChain, dport);
  // Keep the first jump from custom-input; every other jump goes.
  bool kept = false;
  for (const auto& jump : table.jumps) {
    if (!kept && jump.chain == kNftUserChain) {
      kept = true;
      continue;
    }
    script += fmt::format("delete rule {} {} handle {}\n", t, jump.chain, jump.handle);
  }
  if (!kept) script += fmt::format("add rule {} {} jump {}\n", t, kNftUserChain, kNftChain);
  return script;
}

std::string plan_nft_close(NftFamily family, const NftQubesTable& table) {
  const std::string t = table_name(family);
  std::string script;
  for (const auto& jump : table.jumps) {
    script += fmt::format("delete rule {} {} handle {}\n", t, jump.chain, jump.handle);
  }
  if (table.has_own_chain) {
    // Older kernels refuse to delete a chain that still has rules.
    script += fmt::format("flush chain {} {}\n", t, kNftChain);
    script += fmt::format("delete chain {} {}\n", t, kNftChain);
  }
  return script;
}

bool nft_is_open(const NftQubesTable& table, const std::vector<std::uint16_t>& ports) {
  return table.has_own_chain && table.own_rules.size() == 1 && table.own_rules[0].is_ours &&
         table.own_rules[0].ports == ports && table.jumps.size() == 1 &&
         table.jumps[0].chain == kNftUserChain;
}

// ---- iptables -------------------------------------------------------------------------

namespace {

// Splits one line of `iptables -S` into arguments; "..." groups (with \" and \\) unquoted.
std::vector<std::string> split_arguments(std::string_view line) {
  std::vector<std::string> args;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i >= line.size()) break;
    std::string arg;
    bool quoted = false;
    for (; i < line.size(); ++i) {
      char c = line[i];
      if (quoted && c == '\\' && i + 1 < line.size()) {
        arg += line[++i];
      } else if (c == '"') {
        quoted = !quoted;
      } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
        break;
      } else {
        arg += c;
      }
    }
    args.push_back(std::move(arg));
  }
  return args;
}

bool has_pair(const std::vector<std::string>& args, std::string_view option,
              std::string_view value) {
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == option && args[i + 1] == value) return true;
  }
  return false;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

IptablesInput parse_iptables_rules(std::string_view iptables_s) {
  IptablesInput input;
  while (!iptables_s.empty()) {
    auto end = iptables_s.find('\n');
    std::string_view line = iptables_s.substr(0, end);
    iptables_s.remove_prefix(end == std::string_view::npos ? iptables_s.size() : end + 1);
    auto args = split_arguments(line);
    if (args.size() >= 2 && args[0] == "-N") {
      std::string name = lower(args[1]);
      if (name.rfind("qbs", 0) == 0 || name.find("qubes") != std::string::npos) {
        input.looks_like_qubes = true;
      }
      continue;
    }
    if (args.size() < 2 || args[0] != "-A" || args[1] != "INPUT") continue;
    std::vector<std::string> rule(args.begin() + 2, args.end());
    if (has_pair(rule, "-i", "vif+") &&
        (has_pair(rule, "-j", "REJECT") || has_pair(rule, "-j", "DROP"))) {
      input.looks_like_qubes = true;
    }
    if (has_pair(rule, "--comment", kIptablesComment)) input.own_rules.push_back(std::move(rule));
  }
  return input;
}

std::vector<std::string> iptables_rule(const std::vector<std::uint16_t>& ports) {
  return {"-i",         "vif+",      "-p",         "tcp",
          "-m",         "multiport", "--dports",   ports_text(ports, ","),
          "-m",         "conntrack", "--ctstate",  "NEW",
          "-m",         "comment",   "--comment",  std::string(kIptablesComment),
          "-j",         "ACCEPT"};
}

std::vector<std::vector<std::string>> iptables_stale_rules(
    const IptablesInput& input, const std::vector<std::uint16_t>& ports) {
  auto wanted = iptables_rule(ports);
  std::vector<std::vector<std::string>> stale;
  for (const auto& rule : input.own_rules) {
    if (rule != wanted) stale.push_back(rule);
  }
  return stale;
}

// ---- running --------------------------------------------------------------------------

std::string_view to_string(FirewallAction action) {
  switch (action) {
    case FirewallAction::open: return "open";
    case FirewallAction::close: return "close";
    case FirewallAction::status: return "status";
  }
  return "?";
}

Runner system_runner() {
  return [](const std::vector<std::string>& argv, std::string_view input) {
    return run_command(argv, input, std::chrono::seconds(30));
  };
}

FirewallTools find_firewall_tools() {
  return FirewallTools{find_program("nft"), find_program("iptables"), find_program("ip6tables")};
}

json FirewallReport::to_json() const {
  json steps_json = json::array();
  for (const auto& step : steps) {
    json s = {{"command", step.command}, {"ok", step.ok}};
    if (!step.input.empty()) s["input"] = step.input;
    if (!step.ok) s["output"] = step.output;
    steps_json.push_back(std::move(s));
  }
  json out = {{"backend", backend}, {"ok", ok},          {"summary", summary},
              {"steps", std::move(steps_json)},         {"families", families}};
  if (!ok) out["error"] = error;
  return out;
}

namespace {

std::string command_line(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) {
    if (!text.empty()) text += ' ';
    bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("+-_.,/:=").find(c) !=
                                                                std::string_view::npos;
    });
    text += plain ? arg : "'" + arg + "'";
  }
  return text;
}

bool says_missing(const CommandResult& result) {
  return result.started && !result.timed_out &&
         result.err.find("No such file or directory") != std::string::npos;
}

bool says_no_permission(const CommandResult& result) {
  return result.err.find("Operation not permitted") != std::string::npos ||
         result.err.find("Permission denied") != std::string::npos;
}

// Does one `action` with nft on the tables that exist.
class NftFirewall {
 public:
  NftFirewall(FirewallReport& report, const std::string& nft, const Runner& run,
              const std::vector<std::uint16_t>& ports)
      : report_(report), nft_(nft), run_(run), ports_(ports) {}

  // Lists `family qubes`: nullopt when the table does not exist; fails the report on error.
  std::optional<NftQubesTable> list(NftFamily family, bool& failed) {
    failed = false;
    auto result = run_({nft_, "-j", "list", "table", std::string(to_string(family)), "qubes"}, {});
    if (!result.ok()) {
      if (says_missing(result)) return std::nullopt;
      fail(fmt::format("cannot list nftables table {}: {}{}", table_name(family),
                       result.message(), says_no_permission(result) ? " (run as root)" : ""));
      failed = true;
      return std::nullopt;
    }
    auto table = parse_nft_qubes_table(result.out);
    if (!table) {
      fail(table.error().message);
      failed = true;
      return std::nullopt;
    }
    return std::move(table.value());
  }

  void run(FirewallAction action, std::optional<NftQubesTable> ip_table) {
    report_.backend = "nftables";
    std::vector<std::pair<NftFamily, NftQubesTable>> tables;
    tables.emplace_back(NftFamily::ip, std::move(*ip_table));
    bool failed = false;
    auto ip6_table = list(NftFamily::ip6, failed);
    if (failed) return;
    if (ip6_table) {
      tables.emplace_back(NftFamily::ip6, std::move(*ip6_table));
    }

    if (action == FirewallAction::status) {
      for (const auto& [family, table] : tables) describe(family, table);
      if (!ip6_table) missing_ip6();
      return;
    }

    std::string script;
    for (const auto& [family, table] : tables) {
      if (action == FirewallAction::open) {
        if (nft_is_open(table, ports_)) continue;
        auto plan = plan_nft_open(family, table, ports_);
        if (!plan) return fail(plan.error().message);
        script += *plan;
      } else {
        script += plan_nft_close(family, table);
      }
    }
    if (!script.empty()) {
      std::vector<std::string> argv{nft_, "-f", "-"};
      auto result = run_(argv, script);
      report_.steps.push_back(FirewallStep{command_line(argv), script, result.ok(),
                                           result.ok() ? "" : result.message()});
      if (!result.ok()) {
        return fail(fmt::format("nft refused the change (nothing was changed): {}",
                                result.message()));
      }
    }
    // Read back what is there now, so that the summary says what is true.
    for (const auto& [family, before] : tables) {
      auto after = list(family, failed);
      if (failed) return;
      if (!after) return fail(fmt::format("table {} disappeared", table_name(family)));
      bool changed = !script.empty() && (action == FirewallAction::open
                                             ? !nft_is_open(before, ports_)
                                             : !plan_nft_close(family, before).empty());
      bool good = action == FirewallAction::open
                      ? nft_is_open(*after, ports_)
                      : !after->has_own_chain && after->jumps.empty();
      describe(family, *after, changed ? (action == FirewallAction::open ? "opened" : "closed")
                                       : (action == FirewallAction::open ? "already open"
                                                                         : "already closed"));
      if (!good) {
        return fail(fmt::format("table {} is not {} after the change", table_name(family),
                                action == FirewallAction::open ? "open" : "closed"));
      }
    }
    if (!ip6_table) missing_ip6();
  }

 private:
  void fail(std::string message) {
    report_.ok = false;
    report_.error = std::move(message);
  }

  void missing_ip6() {
    report_.summary.push_back("ip6 qubes: no such table; nothing to do");
    report_.families.push_back({{"table", "ip6 qubes"}, {"exists", false}});
  }

  void describe(NftFamily family, const NftQubesTable& table, std::string_view done = {}) {
    std::size_t user_jumps = static_cast<std::size_t>(
        std::count_if(table.jumps.begin(), table.jumps.end(),
                      [](const NftRuleRef& j) { return j.chain == kNftUserChain; }));
    std::vector<std::uint16_t> open_ports;
    if (table.own_rules.size() == 1 && table.own_rules[0].is_ours) {
      open_ports = table.own_rules[0].ports;
    }
    std::string state;
    std::string text;
    if (!table.has_own_chain && table.jumps.empty()) {
      state = "closed";
      text = fmt::format("no chain {}, no jump to it", kNftChain);
    } else if (table.has_own_chain && !open_ports.empty() && table.jumps.size() == 1 &&
               user_jumps == 1) {
      state = "open";
      text = fmt::format("new TCP connections from interface group 2 to {} are accepted "
                         "(chain {}, jumped to from {})",
                         port_words(open_ports), kNftChain, kNftUserChain);
      if (open_ports != ports_) {
        text += fmt::format("; expected {}: run `egressctl firewall open`", port_words(ports_));
      }
    } else {
      state = "partial";
      text = fmt::format("chain {} {} with {} rule(s), {} jump(s) to it from {}, {} from other "
                         "chains; run `egressctl firewall open` or `close`",
                         kNftChain, table.has_own_chain ? "exists" : "is missing",
                         table.own_rules.size(), user_jumps, kNftUserChain,
                         table.jumps.size() - user_jumps);
    }
    report_.summary.push_back(fmt::format("{}: {}: {}", table_name(family),
                                          done.empty() ? std::string_view(state) : done, text));
    json jump_list = json::array();
    for (const auto& jump : table.jumps) {
      jump_list.push_back({{"chain", jump.chain}, {"handle", jump.handle}});
    }
    json rules = json::array();
    for (const auto& rule : table.own_rules) {
      rules.push_back({{"handle", rule.handle}, {"ours", rule.is_ours}, {"ports", rule.ports}});
    }
    report_.families.push_back({{"table", table_name(family)},
                                {"exists", true},
                                {"state", state},
                                {"custom_input", table.has_user_chain},
                                {"chain", table.has_own_chain},
                                {"rules", std::move(rules)},
                                {"jumps", std::move(jump_list)},
                                {"ports", open_ports}});
  }

  FirewallReport& report_;
  const std::string& nft_;
  const Runner& run_;
  const std::vector<std::uint16_t>& ports_;
};

// Does one `action` with iptables (and ip6tables) on the filter table's INPUT chain.
class IptablesFirewall {
 public:
  IptablesFirewall(FirewallReport& report, const Runner& run,
                   const std::vector<std::uint16_t>& ports)
      : report_(report), run_(run), ports_(ports) {}

  // `input` is the already parsed `iptables -S` of `tool`.
  bool run(FirewallAction action, const std::string& tool, std::string_view name,
           const IptablesInput& input) {
    auto wanted = iptables_rule(ports_);
    bool present = std::find(input.own_rules.begin(), input.own_rules.end(), wanted) !=
                   input.own_rules.end();
    if (action == FirewallAction::status) {
      std::string state = present && input.own_rules.size() == 1 ? "open"
                          : input.own_rules.empty()               ? "closed"
                                                                  : "partial";
      std::string text =
          state == "open"
              ? fmt::format("new TCP connections on vif+ to {} are accepted (INPUT rule "
                            "commented \"{}\")",
                            port_words(ports_), kIptablesComment)
          : state == "closed"
              ? fmt::format("no INPUT rule commented \"{}\"", kIptablesComment)
              : fmt::format("{} INPUT rule(s) commented \"{}\", {}; run `egressctl firewall "
                            "open` or `close`",
                            input.own_rules.size(), kIptablesComment,
                            present ? "including the expected one" : "none for " +
                                                                         port_words(ports_));
      report_.summary.push_back(fmt::format("{}: {}: {}", name, state, text));
      add_family(name, state, input);
      return true;
    }

    bool changed = false;
    std::vector<std::vector<std::string>> removals =
        action == FirewallAction::open ? iptables_stale_rules(input, ports_) : input.own_rules;
    for (const auto& rule : removals) {
      if (!step(tool, "-D", rule)) return false;
      changed = true;
    }
    if (action == FirewallAction::open) {
      if (!check(tool, wanted)) {
        if (!step(tool, "-I", wanted, true)) return false;
        changed = true;
      }
    } else {
      for (int i = 0; i < 100 && check(tool, wanted); ++i) {
        if (!step(tool, "-D", wanted)) return false;
        changed = true;
      }
    }
    std::string state = action == FirewallAction::open ? "open" : "closed";
    std::string text =
        action == FirewallAction::open
            ? fmt::format("{}: new TCP connections on vif+ to {} are accepted (INPUT rule 1, "
                          "commented \"{}\")",
                          changed ? "opened" : "already open", port_words(ports_),
                          kIptablesComment)
            : fmt::format("{}: no INPUT rule commented \"{}\"",
                          changed ? "closed" : "already closed", kIptablesComment);
    report_.summary.push_back(fmt::format("{}: {}", name, text));
    add_family(name, state, input);
    return true;
  }

 private:
  std::vector<std::string> argv(const std::string& tool, std::string_view verb,
                                const std::vector<std::string>& rule, bool first = false) {
    std::vector<std::string> args{tool, "-w", "10", std::string(verb), "INPUT"};
    if (first) args.emplace_back("1");
    args.insert(args.end(), rule.begin(), rule.end());
    return args;
  }

  bool check(const std::string& tool, const std::vector<std::string>& rule) {
    return run_(argv(tool, "-C", rule), {}).ok();
  }

  bool step(const std::string& tool, std::string_view verb, const std::vector<std::string>& rule,
            bool first = false) {
    auto args = argv(tool, verb, rule, first);
    auto result = run_(args, {});
    report_.steps.push_back(
        FirewallStep{command_line(args), "", result.ok(), result.ok() ? "" : result.message()});
    if (!result.ok()) {
      report_.ok = false;
      report_.error = fmt::format("`{}` failed: {}", command_line(args), result.message());
    }
    return result.ok();
  }

  void add_family(std::string_view name, const std::string& state, const IptablesInput& input) {
    report_.families.push_back(
        {{"table", fmt::format("{} filter INPUT", name)}, {"exists", true}, {"state", state},
         {"rules_before", input.own_rules}, {"ports", ports_}});
  }

  FirewallReport& report_;
  const Runner& run_;
  const std::vector<std::uint16_t>& ports_;
};

}  // namespace

FirewallReport run_firewall(FirewallAction action, std::vector<std::uint16_t> ports,
                            const FirewallTools& tools, const Runner& run) {
  FirewallReport report;
  std::sort(ports.begin(), ports.end());
  ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
  ports.erase(std::remove(ports.begin(), ports.end(), 0), ports.end());
  if (ports.empty() && action != FirewallAction::status) {
    report.ok = false;
    report.backend = "none";
    report.error = "no port to open or close";
    return report;
  }

  std::vector<std::string> not_found;
  if (tools.nft) {
    NftFirewall nft(report, *tools.nft, run, ports);
    bool failed = false;
    auto table = nft.list(NftFamily::ip, failed);
    if (failed) {
      report.backend = "nftables";
      return report;
    }
    if (table) {
      nft.run(action, std::move(table));
      return report;
    }
  } else {
    not_found.emplace_back("nft");
  }

  if (tools.iptables) {
    auto listing = run({*tools.iptables, "-w", "10", "-S"}, {});
    if (!listing.ok() && says_no_permission(listing)) {
      report.backend = "iptables";
      report.ok = false;
      report.error = fmt::format("cannot list iptables rules: {} (run as root)", listing.message());
      return report;
    }
    auto input = listing.ok() ? parse_iptables_rules(listing.out) : IptablesInput{};
    if (input.looks_like_qubes) {
      report.backend = "iptables";
      IptablesFirewall iptables(report, run, ports);
      if (!iptables.run(action, *tools.iptables, "iptables", input)) return report;
      if (tools.ip6tables) {
        auto listing6 = run({*tools.ip6tables, "-w", "10", "-S"}, {});
        if (listing6.ok()) {
          iptables.run(action, *tools.ip6tables, "ip6tables", parse_iptables_rules(listing6.out));
        } else {
          report.summary.push_back(
              fmt::format("ip6tables: not usable ({}); skipped", listing6.message()));
        }
      } else {
        report.summary.push_back("ip6tables: not installed; skipped");
      }
      return report;
    }
  } else {
    not_found.emplace_back("iptables");
  }

  report.backend = "none";
  std::string why = "no Qubes firewall found: neither the nftables table `ip qubes` nor a Qubes "
                    "iptables INPUT chain";
  if (!not_found.empty()) {
    why += fmt::format(" ({} not found in PATH, /usr/sbin or /sbin)", fmt::join(not_found, " and "));
  }
  report.summary.push_back("nothing to do: " + why);
  return report;
}

}  // namespace egressd::ctl
