#include "ctl/tinyproxy_import.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "core/client_file.hpp"
#include "core/config.hpp"
#include "core/parent_proxy.hpp"
#include "core/rules.hpp"
#include "core/tinyproxy_config.hpp"
#include "core/tinyproxy_mode.hpp"

namespace egressd::ctl {

namespace {

using core::Problem;

std::string toml_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string toml_strings(const std::vector<std::string>& values) {
  std::string out = "[";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ", ";
    out += toml_string(values[i]);
  }
  return out + "]";
}

class Importer {
 public:
  explicit Importer(std::string_view folder) : folder_(folder), config_path_(folder) {}

  TinyproxyImport run(const std::vector<ImportFile>& files) {
    std::vector<const ImportFile*> configs;
    std::vector<const ImportFile*> filters;
    for (const auto& file : files) {
      if (core::parse_client_file_name(file.name)) {
        filters.push_back(&file);
      } else if (core::looks_like_tinyproxy_config(file.content)) {
        configs.push_back(&file);
      } else {
        warning(path(file.name), 0,
                "neither a tinyproxy config nor a <label>.<ip> filter file: "
                "not imported");
      }
    }
    core::TinyproxyConfig config;
    if (configs.size() > 1) {
      std::string names;
      for (const auto* c : configs) names += (names.empty() ? "" : ", ") + c->name;
      error(std::string(folder_), 0,
            "more than one tinyproxy config (" + names + "): leave only the template");
    } else if (configs.empty()) {
      warning(std::string(folder_), 0,
              "no tinyproxy config: egressd's defaults apply (allow-list, CONNECT to 443)");
      config.filter_default_deny = true;
    } else {
      auto parsed = core::parse_tinyproxy_config(path(configs[0]->name), configs[0]->content);
      for (auto& p : parsed.problems) out_.problems.push_back(std::move(p));
      config = std::move(parsed.config);
      config_path_ = path(configs[0]->name);
      out_.notes.push_back("template: " + configs[0]->name);
    }
    if (config.filter_urls) {
      error(config_path_, 0,
            "FilterURLs is on: the filter files hold URL patterns, and egressd matches host "
            "names; they cannot be imported as they are");
    }
    write_config(config);
    for (const auto* file : filters) convert_filter(*file, config);
    std::stable_sort(out_.problems.begin(), out_.problems.end(),
                     [](const Problem& a, const Problem& b) { return a.file < b.file; });
    return std::move(out_);
  }

 private:
  std::string path(std::string_view name) const {
    return folder_.empty() ? std::string(name) : folder_ + "/" + std::string(name);
  }
  void error(std::string file, int line, std::string message) {
    out_.problems.push_back(
        Problem{Problem::Severity::error, std::move(file), line, std::move(message)});
  }
  void warning(std::string file, int line, std::string message) {
    out_.problems.push_back(
        Problem{Problem::Severity::warning, std::move(file), line, std::move(message)});
  }
  void not_carried(std::string_view what, std::string_view why) {
    warning(config_path_, 0, std::string(what) + ": not carried over: " + std::string(why));
  }

  void write_config(const core::TinyproxyConfig& c) {
    std::string& t = out_.config;
    t += "# Imported by egressctl import-tinyproxy from " + folder_ + ".\n";
    t += "# Check it with: egressd --check --config THIS_FILE\n\n";
    const std::string address = c.listen.empty() ? "0.0.0.0" : c.listen.front();
    const std::string listen =
        address.find(':') != std::string::npos ? "[" + address + "]:8100" : address + ":8100";
    t += "listen = " + toml_strings({listen}) + "\n";
    out_.notes.push_back("listen: " + listen +
                         ": one port for every AppVM (the per-AppVM ports and the NAT REDIRECT "
                         "rules are no longer needed)");
    if (c.listen.size() > 1) not_carried("Listen beyond the first", "add them to listen");
    t += "rules_dir = \"rules\"\n";
    const std::string mode = c.filter_default_deny ? "allow-list" : "block-list";
    t += "default_mode = " + toml_string(mode) + "\n";
    out_.notes.push_back("default_mode: " + mode + " (FilterDefaultDeny " +
                         (c.filter_default_deny ? "Yes" : "No") + ")");

    if (c.connect_ports.empty()) {
      not_carried("CONNECT to every port (no ConnectPort line)",
                  "egressd needs the ports listed: connect_ports stays [443]");
    } else {
      std::string ports;
      for (const auto port : c.connect_ports) {
        if (port == 0) continue;  // "ConnectPort 0": CONNECT disabled
        ports += (ports.empty() ? "" : ", ") + std::to_string(port);
      }
      t += "connect_ports = [" + ports + "]\n";
      out_.notes.push_back("connect_ports: [" + ports + "] (ConnectPort)");
    }
    warning(config_path_, 0,
            "plain HTTP: tinyproxy allowed every port, egressd allows http_ports = [80]; add "
            "the ports your AppVMs use");
    if (!c.via_proxy_name.empty()) {
      if (core::is_http_token(c.via_proxy_name)) {
        t += "via_name = " + toml_string(c.via_proxy_name) + "\n";
        out_.notes.push_back("via_name: " + c.via_proxy_name + " (ViaProxyName)");
      } else {
        not_carried("ViaProxyName " + c.via_proxy_name, "not an HTTP token");
      }
    }
    if (c.disable_via) not_carried("DisableViaHeader", "egressd always adds Via");
    if (c.filter_case_sensitive) {
      not_carried("FilterCaseSensitive",
                  "egressd matches case-insensitively (host names are lower case anyway)");
    }
    if (!c.user.empty() || !c.group.empty()) {
      not_carried("User/Group", "the egressd units run it as their own unprivileged user");
    }
    if (!c.pid_file.empty()) not_carried("PidFile", "egressd runs under systemd");
    if (!c.log_file.empty() || c.syslog) {
      not_carried("LogFile/Syslog", "egressd logs to standard error (the journal)");
    }
    if (!c.bind.empty()) not_carried("Bind", "egressd connects from the system's choice");
    if (!c.access.empty()) {
      not_carried("Allow/Deny",
                  "egressd serves the clients that have a rules file (and unknown_clients)");
    }
    if (!c.basic_auth.empty()) {
      not_carried("BasicAuth", "egressd tells clients apart by address, not by password");
    }
    if (!c.add_headers.empty()) not_carried("AddHeader", "egressd adds no headers but Via");
    if (c.xtinyproxy) not_carried("XTinyproxy", "egressd adds no headers but Via");
    if (!c.error_files.empty() || !c.default_error_file.empty()) {
      not_carried("ErrorFile/DefaultErrorFile", "egressd has its own pages");
    }

    t += "\n[timeouts]\n";
    t += "idle_client = " + std::to_string(c.timeout) + "\n";
    t += "body_idle = " + std::to_string(c.timeout) + "\n";
    t += "tunnel_idle = " + std::to_string(c.timeout) + "\n";
    out_.notes.push_back("timeouts: idle_client, body_idle and tunnel_idle " +
                         std::to_string(c.timeout) + " s (Timeout)");
    t += "\n[limits]\nconnections = " + std::to_string(c.max_clients) + "\n";
    out_.notes.push_back("limits.connections: " + std::to_string(c.max_clients) + " (MaxClients)");
    write_upstreams(c);
  }

  // tinyproxy takes the LAST Upstream line that matches, egressd the FIRST route: the
  // routes are written in reverse order.
  void write_upstreams(const core::TinyproxyConfig& c) {
    if (c.upstreams.empty()) return;
    std::string& t = out_.config;
    std::map<std::string, std::string> names;  // parent URL and user -> section name
    std::string sections;
    std::string routes;
    for (auto it = c.upstreams.rbegin(); it != c.upstreams.rend(); ++it) {
      std::string via = "direct";
      if (it->parent) {
        const std::string key = it->parent->display() + " " + it->parent->username;
        auto [entry, added] = names.try_emplace(key, "parent" + std::to_string(names.size() + 1));
        via = entry->second;
        if (added) {
          sections +=
              "\n[upstreams." + via + "]\nurl = " + toml_string(it->parent->display()) + "\n";
          if (it->parent->has_credentials()) {
            sections += "username = " + toml_string(it->parent->username) + "\n";
            if (!it->parent->password.empty()) {
              sections += "password = " + toml_string(it->parent->password) + "\n";
            }
            warning(config_path_, it->line,
                    "the new config holds the upstream's password: keep it readable by root only");
          }
        }
      }
      std::string condition;
      if (it->site) {
        switch (it->site->kind) {
          case core::TinyproxySite::Kind::host:
            condition = "hosts = " + toml_strings({it->site->name}) + "\n";
            break;
          case core::TinyproxySite::Kind::domain:
            condition = "domains = " + toml_strings({it->site->name}) + "\n";
            break;
          case core::TinyproxySite::Kind::network:
            condition = "networks = " + toml_strings({it->site->network.to_string()}) + "\n";
            break;
          case core::TinyproxySite::Kind::no_domain:
            warning(config_path_, it->line,
                    "Upstream for \".\" (names without a domain) has no route equivalent: "
                    "not carried over");
            continue;
        }
      }
      routes += "\n[[routes]]\nvia = " + toml_string(via) + "\n" + condition;
      out_.notes.push_back("route (Upstream line " + std::to_string(it->line) + "): via " + via);
    }
    t += sections + routes;
  }

  void convert_filter(const ImportFile& file, const core::TinyproxyConfig& c) {
    const std::string source = path(file.name);
    std::string out = "# Imported from " + source + " (FilterType " +
                      std::string(core::to_string(c.filter_type)) + ").\n";
    bool ok = true;
    int line_number = 0;
    std::size_t pos = 0;
    while (pos < file.content.size()) {
      const std::size_t end = std::min(file.content.find('\n', pos), file.content.size());
      std::string_view line = std::string_view(file.content).substr(pos, end - pos);
      pos = end + 1;
      ++line_number;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      std::string ignored;
      const std::string_view pattern = core::tinyproxy_filter_pattern(line, ignored);
      if (!ignored.empty()) warning(source, line_number, ignored);
      if (pattern.empty()) {
        // A comment stays a comment; a line tinyproxy ignores becomes one.
        if (!line.empty() && line.front() != '#') out += "# ";
        out += std::string(line) + "\n";
        continue;
      }
      if (pattern.size() < line.size()) out += "# " + std::string(line) + "\n";
      auto converted = core::tinyproxy_filter_rule(pattern, c.filter_type,
                                                   c.filter_case_sensitive, c.filter_urls);
      if (!converted) {
        error(source, line_number, converted.error().message);
        ok = false;
        continue;
      }
      out += *converted + "\n";
    }
    // What egressd will make of the result: a line it refuses stops the import.
    const std::string target = "rules/" + file.name;
    auto parsed = core::parse_rules(target, out);
    auto compiled = core::HostMatcher::compile(target, std::move(parsed.rules));
    for (auto* problems : {&parsed.problems, &compiled.problems}) {
      for (auto& p : *problems) {
        ok = ok && p.severity != Problem::Severity::error;
        out_.problems.push_back(std::move(p));
      }
    }
    if (!ok) return;
    out_.rules.push_back(ImportFile{file.name, std::move(out)});
    out_.notes.push_back("rules/" + file.name + ": from " + file.name);
  }

  std::string folder_;
  std::string config_path_;
  TinyproxyImport out_;
};

}  // namespace

TinyproxyImport import_tinyproxy(std::string_view folder, const std::vector<ImportFile>& files) {
  Importer importer(folder);
  return importer.run(files);
}

}  // namespace egressd::ctl
