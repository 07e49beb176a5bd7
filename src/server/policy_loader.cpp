// Reading the config file and the rules folder from disk into core values.
#include "server/policy_loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "core/client_file.hpp"
#include "core/tinyproxy_mode.hpp"

namespace egressd::server {
namespace {

// Rules and config files are small; anything bigger is a mistake, not a rules file.
constexpr std::uintmax_t kMaxFileBytes = 64u * 1024 * 1024;

core::Problem file_error(const std::string& path, std::string message) {
  return core::Problem{core::Problem::Severity::error, path, 0, std::move(message)};
}

// Reads a whole file, or returns the reason it could not be read.
bool read_file(const std::string& path, std::string& content, std::string& error) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    error = ec.message();
    return false;
  }
  if (size > kMaxFileBytes) {
    error = "file is larger than 64 MiB";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = std::strerror(errno);
    return false;
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) {
    error = "read error";
    return false;
  }
  content = std::move(out).str();
  return true;
}

}  // namespace

core::ParsedConfig load_config_file(const std::string& path) {
  std::string content;
  std::string error;
  if (!read_file(path, content, error)) {
    core::ParsedConfig result;
    result.problems.push_back(file_error(path, "cannot read config file: " + error));
    return result;
  }
  auto parsed = core::parse_config(path, content);
  // A relative rules folder in a config file is relative to that file, not to the
  // directory egressd happens to be started from.
  const std::filesystem::path rules(parsed.config.rules_dir);
  if (rules.is_relative()) {
    parsed.config.rules_dir = (std::filesystem::path(path).parent_path() / rules).lexically_normal().string();
  }
  return parsed;
}

core::SnapshotBuild load_policy(const core::Config& config, std::uint64_t generation,
                                const core::PolicySnapshot* previous) {
  namespace fs = std::filesystem;
  core::SnapshotBuild failed;
  std::error_code ec;
  fs::directory_iterator it(config.rules_dir, ec);
  if (ec) {
    failed.problems.push_back(file_error(config.rules_dir, "cannot read rules folder: " + ec.message()));
    return failed;
  }
  std::vector<core::SourceFile> files;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (core::is_ignored_file_name(name)) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;  // sub-folders are not rules files
    core::SourceFile file{name, it->path().string(), {}, {}};
    // An unreadable file is that file's error: build_snapshot keeps its client's rules.
    if (!read_file(file.path, file.content, file.read_error) && file.read_error.empty()) {
      file.read_error = "read error";
    }
    files.push_back(std::move(file));
  }
  if (ec) {
    failed.problems.push_back(file_error(config.rules_dir, "cannot list rules folder: " + ec.message()));
  }
  if (core::has_errors(failed.problems)) return failed;
  // Sorted so that problems and duplicate reports come out the same on every run.
  std::sort(files.begin(), files.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return core::build_snapshot(config, files, generation, previous);
}

bool is_tinyproxy_config_file(const std::string& path) {
  std::string content;
  std::string error;
  return read_file(path, content, error) && core::looks_like_tinyproxy_config(content);
}

TinyproxyLoad load_tinyproxy_config_file(const std::string& path) {
  TinyproxyLoad load;
  std::string content;
  std::string error;
  if (!read_file(path, content, error)) {
    load.parsed.problems.push_back(file_error(path, "cannot read config file: " + error));
    return load;
  }
  auto parsed = core::parse_tinyproxy_config(path, content);
  load.tinyproxy = std::move(parsed.config);
  load.parsed.problems = std::move(parsed.problems);
  if (core::has_errors(load.parsed.problems)) return load;
  auto setup = core::tinyproxy_setup(path, load.tinyproxy);
  load.parsed.config = std::move(setup.config);
  load.parsed.problems.insert(load.parsed.problems.end(), setup.problems.begin(),
                              setup.problems.end());
  return load;
}

core::SnapshotBuild load_tinyproxy_policy(const core::TinyproxyConfig& tinyproxy,
                                          const core::Config& config, std::uint64_t generation) {
  core::TinyproxyFiles files;
  for (const auto& file : core::tinyproxy_files(tinyproxy)) {
    std::string content;
    std::string error;
    if (read_file(file, content, error)) {
      files.contents.emplace(file, std::move(content));
    } else {
      files.read_errors.emplace(file, error.empty() ? "read error" : error);
    }
  }
  return core::build_tinyproxy_snapshot(config, tinyproxy, files, generation);
}

}  // namespace egressd::server
