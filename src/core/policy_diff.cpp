// Comparing two policy snapshots by client label, for the answer to a reload.
#include "core/policy_diff.hpp"

#include <map>

namespace egressd::core {
namespace {

std::map<std::string, const ClientPolicy*> by_label(const PolicySnapshot& snapshot) {
  std::map<std::string, const ClientPolicy*> out;
  for (const auto& [address, client] : snapshot.clients) out.emplace(client->label, client.get());
  return out;
}

bool same_rules(const std::vector<Rule>& a, const std::vector<Rule>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].pattern != b[i].pattern || a[i].line != b[i].line) return false;
  }
  return true;
}

bool same_client(const ClientPolicy& a, const ClientPolicy& b) {
  return a.address == b.address && a.mode == b.mode && a.rules_path == b.rules_path &&
         a.state == b.state && same_rules(a.matcher->rules(), b.matcher->rules());
}

}  // namespace

PolicyDiff diff_snapshots(const PolicySnapshot& before, const PolicySnapshot& after) {
  const auto old_clients = by_label(before);
  const auto new_clients = by_label(after);
  PolicyDiff diff;
  for (const auto& [label, client] : new_clients) {
    const auto it = old_clients.find(label);
    if (it == old_clients.end()) {
      diff.added.push_back(label);
    } else if (!same_client(*it->second, *client)) {
      diff.modified.push_back(label);
    }
  }
  for (const auto& [label, client] : old_clients) {
    if (new_clients.find(label) == new_clients.end()) diff.removed.push_back(label);
  }
  return diff;
}

}  // namespace egressd::core
