// egressctl import-tinyproxy: an old per-AppVM tinyproxy setup (a tinyproxy config used as
// the template, and one filter file per AppVM named <label>.<ip>) turned into an egressd
// config and rules folder, with a report of everything that could not be carried over.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/problem.hpp"

namespace egressd::ctl {

struct ImportFile {
  std::string name;  // file name within its folder
  std::string content;
};

struct TinyproxyImport {
  std::string config;              // egressd.toml, with rules_dir = "rules"
  std::vector<ImportFile> rules;   // the files of rules/
  std::vector<std::string> notes;  // what was carried over, and how
  // What could not be carried over (warnings) and what stops the import (errors: a filter
  // line that cannot be converted or does not compile, two or no tinyproxy configs...).
  core::Problems problems;
};

// Converts the files of `folder` (as read: names and contents). The tinyproxy config is
// the one file that reads as one (core::looks_like_tinyproxy_config); the filter files are
// those named <label>.<ip>, converted line by line from the config's FilterType to the
// regular expressions egressd's rules files hold. Every other file is reported and left.
TinyproxyImport import_tinyproxy(std::string_view folder, const std::vector<ImportFile>& files);

}  // namespace egressd::ctl
