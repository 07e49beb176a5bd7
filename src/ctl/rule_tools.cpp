// Adding rules safely, linting rules files, and the text of check, blocked and watch.
#include "ctl/rule_tools.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/client_file.hpp"
#include "core/ip_address.hpp"
#include "core/lint.hpp"

namespace egressd::ctl {

using nlohmann::json;

namespace {

bool read_whole(const std::string& path, std::string& content, std::string& error) {
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

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Text from the daemon shown in a terminal: no control characters.
std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::string text_of(const json& object, const char* key, const char* fallback = "-") {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? printable(it->get<std::string>()) : fallback;
}

}  // namespace

AppendOutcome append_rule(const std::string& path, const std::string& rule) {
  AppendOutcome out;
  std::string content;
  std::string why;
  if (!read_whole(path, content, why)) {
    out.error = "cannot read " + path + ": " + why;
    return out;
  }
  int line = 0;
  std::size_t start = 0;
  while (start < content.size()) {
    auto end = content.find('\n', start);
    if (end == std::string::npos) end = content.size();
    ++line;
    if (trimmed(std::string_view(content).substr(start, end - start)) == rule) {
      out.line = line;
      return out;
    }
    start = end + 1;
  }
  if (!content.empty() && content.back() != '\n') content += '\n';
  content += rule;
  content += '\n';
  out.line = line + 1;

  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out.error = "cannot read " + path + ": " + std::strerror(errno);
    return out;
  }
  const std::filesystem::path target(path);
  std::string temp =
      (target.parent_path() / ("." + target.filename().string() + ".egressctl-XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) {
    out.error = "cannot create a temporary file next to " + path + ": " + std::strerror(errno);
    return out;
  }
  const auto fail = [&](const std::string& what) {
    out.error = what + " " + temp + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(temp.c_str());
    return out;
  };
  std::string_view rest = content;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("cannot write");
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
  if (::fchmod(fd, st.st_mode & 07777) != 0) return fail("cannot set the mode of");
  if (::fchown(fd, st.st_uid, st.st_gid) != 0 && errno != EPERM) {
    return fail("cannot set the owner of");
  }
  if (::fsync(fd) != 0) return fail("cannot flush");
  if (::close(fd) != 0) {
    out.error = "cannot write " + temp + ": " + std::strerror(errno);
    ::unlink(temp.c_str());
    return out;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    out.error = "cannot replace " + path + ": " + std::strerror(errno);
    ::unlink(temp.c_str());
    return out;
  }
  out.added = true;
  return out;
}

std::vector<std::string> lint_targets(const std::string& folder, const std::string& name,
                                      std::string& error) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  if (!name.empty() && name.find('/') != std::string::npos) {
    out.push_back(name);  // a path
    return out;
  }
  std::error_code ec;
  fs::directory_iterator it(folder, ec);
  if (ec) {
    error = "cannot read rules folder " + folder + ": " + ec.message();
    return out;
  }
  const auto address = core::IpAddress::parse(name);
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const auto file = it->path().filename().string();
    if (core::is_ignored_file_name(file)) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    const auto parsed = core::parse_client_file_name(file);
    if (!name.empty()) {
      if (!parsed) continue;
      const bool same = parsed->label == name ||
                        (address && parsed->address.unmapped() == address->unmapped());
      if (!same) continue;
    }
    out.push_back(it->path().string());
  }
  if (ec) error = "cannot list rules folder " + folder + ": " + ec.message();
  std::sort(out.begin(), out.end());
  if (!name.empty() && out.empty() && error.empty()) {
    error = "no rules file for " + name + " in " + folder;
  }
  return out;
}

core::Problems lint_file(const std::string& path) {
  std::string content;
  std::string why;
  if (!read_whole(path, content, why)) {
    return {core::Problem{core::Problem::Severity::error, path, 0, "cannot read: " + why}};
  }
  auto result = core::lint_rules(path, content);
  core::Problems out = std::move(result.errors);
  for (const auto& warning : result.warnings) out.push_back(warning.to_problem());
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
  return out;
}

std::string format_check(const json& answer) {
  std::string out;
  const auto checks = answer.find("checks");
  if (checks == answer.end() || !checks->is_array()) return out;
  for (const auto& c : *checks) {
    if (!c.is_object()) continue;
    const std::string method = text_of(c, "method");
    const std::string host = text_of(c, "host");
    const auto port = c.value("port", 0);
    const std::string what = method == "CONNECT"
                                 ? fmt::format("CONNECT {}:{}", host, port)
                                 : fmt::format("{} http://{}:{}/", method, host, port);
    std::string rule = "no rule";
    if (const auto r = c.find("rule"); r != c.end() && r->is_object()) {
      rule = fmt::format("{}:{} {}", text_of(*r, "file"), r->value("line", 0),
                         text_of(*r, "pattern"));
    }
    out += fmt::format("{:<5}  {}  {}\n       {}\n", text_of(c, "verdict"), what, rule,
                       text_of(c, "reason_text"));
    if (const auto r = c.find("route"); r != c.end() && r->is_object()) {
      const std::string via = text_of(*r, "via");
      const std::string where = r->value("line", json()).is_number()
                                    ? fmt::format("[[routes]] at line {} of the config",
                                                  r->value("line", 0))
                                    : "no [[routes]] entry matched";
      out += via == "direct"
                 ? fmt::format("       route: direct ({})\n", where)
                 : fmt::format("       route: via upstream {} ({}), {}\n", via,
                               text_of(*r, "upstream"), where);
    }
  }
  return out;
}

std::string format_blocked(const json& answer) {
  struct Row {
    std::string count, last, host, ports;
  };
  std::vector<Row> rows{{"COUNT", "LAST", "HOST", "PORTS"}};
  const auto hosts = answer.find("hosts");
  if (hosts != answer.end() && hosts->is_array()) {
    for (const auto& h : *hosts) {
      if (!h.is_object()) continue;
      std::string ports;
      if (const auto p = h.find("ports"); p != h.end() && p->is_array()) {
        for (const auto& port : *p) {
          if (!ports.empty()) ports += ',';
          ports += port.is_number() ? std::to_string(port.get<int>()) : "?";
        }
      }
      rows.push_back({std::to_string(h.value("count", 0)), text_of(h, "last"),
                      text_of(h, "host"), ports.empty() ? "-" : ports});
    }
  }
  std::size_t count_width = 0;
  std::size_t last_width = 0;
  std::size_t host_width = 0;
  for (const auto& row : rows) {
    count_width = std::max(count_width, row.count.size());
    last_width = std::max(last_width, row.last.size());
    host_width = std::max(host_width, row.host.size());
  }
  std::string out;
  for (const auto& row : rows) {
    out += fmt::format("{:>{}}  {:<{}}  {:<{}}  {}\n", row.count, count_width, row.last,
                       last_width, row.host, host_width, row.ports);
  }
  return out;
}

std::string format_event(const json& event) {
  if (event.contains("dropped")) {
    return fmt::format("... {} decisions not shown (egressctl could not keep up)",
                       event.value("dropped", 0));
  }
  std::string line = fmt::format(
      "{} {:<5} {} {} {} {}:{} {}", text_of(event, "time"), text_of(event, "verdict"),
      text_of(event, "client"), text_of(event, "address"), text_of(event, "method"),
      text_of(event, "host"), event.value("port", 0), text_of(event, "reason"));
  if (event.contains("rule") && event["rule"].is_string()) line += " " + text_of(event, "rule");
  return line;
}

}  // namespace egressd::ctl
