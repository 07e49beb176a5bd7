// What a reload changed: which clients' rules files appeared, disappeared or changed.
#pragma once

#include <string>
#include <vector>

#include "core/policy.hpp"

namespace egressd::core {

// Client labels, each list sorted by label.
struct PolicyDiff {
  std::vector<std::string> added;     // a label only `after` has
  std::vector<std::string> removed;   // a label only `before` has
  std::vector<std::string> modified;  // in both, but its address, mode, rules file path,
                                      // or any rule (pattern or line number) differs

  bool empty() const { return added.empty() && removed.empty() && modified.empty(); }
};

// Compares two snapshots client by client, matching clients by label. Settings that are
// not per client (ports, unknown_clients) are not part of the answer.
PolicyDiff diff_snapshots(const PolicySnapshot& before, const PolicySnapshot& after);

}  // namespace egressd::core
