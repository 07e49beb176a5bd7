// Reading the config file and the rules folder from disk into core values.
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/tinyproxy_config.hpp"

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

// Whether the file at `path` reads as a tinyproxy config (core::looks_like_tinyproxy_config);
// false when it cannot be read (load_config_file then says why).
bool is_tinyproxy_config_file(const std::string& path);

// A tinyproxy config file read and parsed, with egressd's settings for it
// (core::tinyproxy_setup); problems of both, each naming the file and line.
struct TinyproxyLoad {
  core::TinyproxyConfig tinyproxy;
  core::ParsedConfig parsed;
};
TinyproxyLoad load_tinyproxy_config_file(const std::string& path);

// Reads the files a tinyproxy config names (the filter, the error templates) and builds
// its snapshot (core::build_tinyproxy_snapshot): with any problem in them, none.
// `config` is the setup of `tinyproxy` with the command line's overrides.
core::SnapshotBuild load_tinyproxy_policy(const core::TinyproxyConfig& tinyproxy,
                                          const core::Config& config, std::uint64_t generation);

}  // namespace egressd::server
