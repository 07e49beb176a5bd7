// Reading the config file and the rules folder from disk into core values.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"
#include "core/policy.hpp"

namespace egressd::server {

// Reads and parses a config file. A file that cannot be read is an error Problem
// naming the file and the system's reason. A relative rules_dir is resolved against
// the config file's folder.
core::ParsedConfig load_config_file(const std::string& path);

// Reads every regular file of config.rules_dir (not recursing; hidden and editor
// leftover files skipped) and builds a snapshot (see core::build_snapshot for the
// per-file rules and `previous`). A folder that cannot be read is an error naming it,
// and the snapshot is null; a file that cannot be read is an error of that file only.
core::SnapshotBuild load_policy(const core::Config& config, std::uint64_t generation,
                                const core::PolicySnapshot* previous = nullptr);

}  // namespace egressd::server
