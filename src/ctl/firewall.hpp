// `egressctl firewall open|close|status`: lets downstream qubes (interface group 2 /
// vif+) reach egressd's ports through the Qubes firewall, and takes that back exactly.
//
// Qubes 4.2 (nftables): own chain `egressd-input` in table `ip qubes` (and `ip6 qubes`)
// holding one accept rule, jumped to once from the user chain `custom-input`.
// Qubes 4.0/4.1 (iptables): one commented ACCEPT rule at the top of INPUT.
//
// Planning is pure (what exists -> what to run) and lives in the first half of this file;
// run_firewall() reads the ruleset, plans, and runs the commands through a Runner.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "ctl/system.hpp"

namespace egressd::ctl {

inline constexpr std::string_view kNftChain = "egressd-input";
inline constexpr std::string_view kNftUserChain = "custom-input";
inline constexpr std::string_view kIptablesComment = "egressd";

// ---- nftables (Qubes 4.2) -------------------------------------------------------------

enum class NftFamily { ip, ip6 };
std::string_view to_string(NftFamily family);  // "ip", "ip6"

// A rule of the table, by chain and handle.
struct NftRuleRef {
  std::string chain;
  std::uint64_t handle = 0;
  friend bool operator==(const NftRuleRef&, const NftRuleRef&) = default;
};

// A rule found in our chain.
struct NftOwnRule {
  std::uint64_t handle = 0;
  bool is_ours = false;               // exactly: iifgroup 2, tcp dport PORTS, ct state new, accept
  std::vector<std::uint16_t> ports;   // the tcp dport values, sorted (when is_ours)
};

// What exists in one `qubes` table, as listed by `nft -j list table FAMILY qubes`.
struct NftQubesTable {
  bool has_user_chain = false;           // custom-input
  bool has_own_chain = false;            // egressd-input
  std::vector<NftRuleRef> jumps;         // jump/goto egressd-input rules, custom-input first
  std::vector<NftOwnRule> own_rules;     // rules inside egressd-input, in order
};

// Parses the JSON of `nft -j list table FAMILY qubes`. Error: not that JSON.
core::Result<NftQubesTable> parse_nft_qubes_table(std::string_view nft_json);

// The nft script lines (for `nft -f -`) that make `table` open for `ports` (non-empty,
// sorted, distinct): create egressd-input if missing, flush it, add the one accept rule,
// and keep exactly one jump from custom-input (adding it when missing, deleting any
// extra jumps and jumps from other chains). Running it twice changes nothing the second
// time. Error when the table has no custom-input chain (not a Qubes 4.2 table).
core::Result<std::string> plan_nft_open(NftFamily family, const NftQubesTable& table,
                                        const std::vector<std::uint16_t>& ports);

// The nft script lines that remove everything open added: every jump to egressd-input
// (by handle), then the chain. Empty when there is nothing to remove.
std::string plan_nft_close(NftFamily family, const NftQubesTable& table);

// True when the table is exactly open for `ports`: the chain holds one rule, ours, for
// those ports, and custom-input jumps to it once (and nothing else does).
bool nft_is_open(const NftQubesTable& table, const std::vector<std::uint16_t>& ports);

// ---- iptables (Qubes 4.0/4.1) ---------------------------------------------------------

// What `iptables -S` (all chains of the filter table) shows.
struct IptablesInput {
  bool looks_like_qubes = false;  // INPUT rejects/drops on vif+, or a Qubes chain (QBS-*) exists
  // Our INPUT rules (those with `--comment egressd`), as the arguments after "-A INPUT".
  std::vector<std::vector<std::string>> own_rules;
};

// Parses `iptables -S` / `ip6tables -S` output (quoted arguments are unquoted).
IptablesInput parse_iptables_rules(std::string_view iptables_s);

// The rule arguments (after the chain name): -i vif+ -p tcp -m multiport --dports PORTS
// -m conntrack --ctstate NEW -m comment --comment egressd -j ACCEPT.
std::vector<std::string> iptables_rule(const std::vector<std::uint16_t>& ports);

// Our rules in `input` other than the wanted one (stale ports): open deletes them.
std::vector<std::vector<std::string>> iptables_stale_rules(
    const IptablesInput& input, const std::vector<std::uint16_t>& ports);

// ---- running --------------------------------------------------------------------------

// Runs argv with stdin `input`; tests substitute a fake.
using Runner =
    std::function<CommandResult(const std::vector<std::string>& argv, std::string_view input)>;

// The default runner: run_command with a 30 s deadline.
Runner system_runner();

// Absolute paths of the tools; nullopt when not installed.
struct FirewallTools {
  std::optional<std::string> nft;
  std::optional<std::string> iptables;
  std::optional<std::string> ip6tables;
};

// Finds nft, iptables and ip6tables in PATH, /usr/sbin and /sbin.
FirewallTools find_firewall_tools();

enum class FirewallAction { open, close, status };
std::string_view to_string(FirewallAction action);

// One command run (or that failed).
struct FirewallStep {
  std::string command;  // the command line, for people
  std::string input;    // what was fed on stdin (the nft script), may be empty
  bool ok = false;
  std::string output;   // its message when it failed
};

struct FirewallReport {
  std::string backend;                // "nftables", "iptables" or "none"
  bool ok = true;                     // false: a step failed or the ruleset was unreadable
  std::vector<std::string> summary;   // lines for people, one per family/table
  std::vector<FirewallStep> steps;    // commands that changed (or tried to change) the ruleset
  nlohmann::json families = nlohmann::json::array();  // per table/family state, for --json
  std::string error;                  // when !ok: what went wrong, one sentence

  // {"backend", "ok", "summary", "steps", "families", "error" (when !ok)}.
  nlohmann::json to_json() const;
};

// Detects the firewall (nft table `ip qubes`; else a Qubes-like `iptables -S`; else
// none) and does `action` for `ports` (1..65535; sorted and made distinct here).
// Never throws; every failure is in the report.
FirewallReport run_firewall(FirewallAction action, std::vector<std::uint16_t> ports,
                            const FirewallTools& tools, const Runner& run);

}  // namespace egressd::ctl
