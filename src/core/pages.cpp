// Block pages and error pages: self-contained HTML (and plain text) with every value escaped.
#include "core/pages.hpp"

#include <utility>

namespace egressd::core {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
        break;
    }
  }
  return out;
}

namespace {

std::string join_ports(const std::vector<std::uint16_t>& ports) {
  if (ports.empty()) return "none";
  std::string out;
  for (const std::uint16_t port : ports) {
    if (!out.empty()) out += ", ";
    out += std::to_string(port);
  }
  return out;
}

// "host:port", with brackets around an IPv6 literal.
std::string host_port(std::string_view host, std::uint16_t port) {
  std::string out;
  if (host.find(':') != std::string_view::npos) {
    out = "[" + std::string(host) + "]";
  } else {
    out = std::string(host);
  }
  return out + ":" + std::to_string(port);
}

// What the person reading the page can do about it, or empty.
std::string remedy(const DenyInfo& info) {
  if (!info.rule_to_add.empty()) return {};
  if (!info.decided_by.empty()) {
    return "remove or change the deciding rule in " + info.rules_file;
  }
  return {};
}

constexpr std::string_view kStyle =
    "body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;padding:0 1em;"
    "color:#222;background:#fff}"
    "h1{font-size:1.5em;color:#a40000}"
    "table{border-collapse:collapse}"
    "th{text-align:left;padding:.2em 1em .2em 0;vertical-align:top;color:#555;"
    "font-weight:normal}"
    "td{padding:.2em 0;word-break:break-all}"
    "pre{background:#f4f4f4;border:1px solid #ccc;padding:.6em;white-space:pre-wrap;"
    "word-break:break-all}"
    "footer{margin-top:2em;color:#777;font-size:.85em}";

std::string page_start(std::string_view title) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"robots\" content=\"noindex\">\n<title>";
  out += html_escape(title);
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n</head>\n<body>\n";
  return out;
}

constexpr std::string_view kPageEnd = "<footer>egressd</footer>\n</body>\n</html>\n";

void add_row(std::string& out, std::string_view name, std::string_view value) {
  out += "<tr><th>";
  out += html_escape(name);
  out += "</th><td>";
  out += html_escape(value);
  out += "</td></tr>\n";
}

// Plain text stays on one line per field whatever the value holds.
std::string text_value(std::string_view value) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// One "key: value" line of a plain-text page, the value made safe for a terminal.
void add_text_line(std::string& out, std::string_view key, std::string_view value) {
  out += key;
  out += ": ";
  out += text_value(value);
  out += '\n';
}

}  // namespace

DenyInfo make_deny_info(const PolicySnapshot& snapshot, const IpAddress& client,
                        const DecisionRequest& request, const Decision& decision) {
  DenyInfo info;
  info.client_address = client.to_string();
  info.method = std::string(request.method);
  info.host = request.host.name;
  info.port = request.port;
  if (decision.client != nullptr) {
    info.client_label = decision.client->label;
    info.rules_file = decision.client->rules_path;
  } else {
    std::string dir = snapshot.rules_dir;
    if (!dir.empty() && dir.back() != '/') dir += '/';
    info.rules_file = dir + "CLIENT." + info.client_address;
  }
  if (decision.reason == Reason::port_not_allowed) {
    const auto& ports = request.is_connect ? snapshot.connect_ports : snapshot.http_ports;
    info.reason = "port " + std::to_string(request.port) + " is not allowed for " +
                  (request.is_connect ? "CONNECT" : "plain HTTP") +
                  " (allowed: " + join_ports(ports) + ")";
  } else {
    info.reason = std::string(reason_text(decision.reason));
  }
  if (decision.rule != nullptr && decision.client != nullptr) {
    info.decided_by = decision.client->rules_path + ":" + std::to_string(decision.rule->line) +
                      ": " + decision.rule->pattern;
  }
  if (decision.reason == Reason::no_allow_rule_matched ||
      decision.reason == Reason::unknown_client_denied) {
    info.rule_to_add = exact_host_rule(info.host);
  }
  return info;
}

std::string render_deny_html(const DenyInfo& info) {
  std::string out = page_start("Blocked by egressd");
  out += "<h1>Blocked by egressd</h1>\n<p>The proxy refused to connect to <strong>";
  out += html_escape(host_port(info.host, info.port));
  out += "</strong>: ";
  out += html_escape(info.reason);
  out += ".</p>\n<table>\n";
  add_row(out, "Client", info.client_label.empty() ? "unknown client" : info.client_label);
  add_row(out, "Address", info.client_address);
  add_row(out, "Method", info.method);
  add_row(out, "Host", host_port(info.host, info.port));
  add_row(out, "Reason", info.reason);
  if (!info.decided_by.empty()) add_row(out, "Deciding rule", info.decided_by);
  add_row(out, "Rules file", info.rules_file);
  out += "</table>\n";
  if (!info.rule_to_add.empty()) {
    out += "<p>To allow it, add this line to ";
    out += html_escape(info.rules_file);
    out += ":</p>\n<pre>";
    out += html_escape(info.rule_to_add);
    out += "</pre>\n";
  } else if (const std::string text = remedy(info); !text.empty()) {
    out += "<p>To allow it, ";
    out += html_escape(text);
    out += ".</p>\n";
  }
  out += kPageEnd;
  return out;
}

std::string render_deny_text(const DenyInfo& info) {
  std::string out = "Blocked by egressd\n";
  const auto line = [&](std::string_view key, std::string_view value) {
    add_text_line(out, key, value);
  };
  line("client", info.client_label.empty() ? "unknown client" : info.client_label);
  line("address", info.client_address);
  line("method", info.method);
  line("host", host_port(info.host, info.port));
  line("reason", info.reason);
  if (!info.decided_by.empty()) line("rule", info.decided_by);
  line("rules file", info.rules_file);
  if (!info.rule_to_add.empty()) {
    line("to allow it, add this line to the rules file", info.rule_to_add);
  } else if (const std::string text = remedy(info); !text.empty()) {
    line("to allow it", text);
  }
  return out;
}

std::string StoppedInfo::resume_command() const {
  return "egressctl start " + (client_label.empty() ? client_address : client_label);
}

std::string render_stopped_html(const StoppedInfo& info) {
  std::string out = page_start("egressd is stopped for this client");
  out += "<h1>egressd is stopped for this client</h1>\n<p>The proxy is not serving <strong>";
  out += html_escape(info.client_label.empty() ? info.client_address : info.client_label);
  out += "</strong> at the moment, so it did not connect to <strong>";
  out += html_escape(host_port(info.host, info.port));
  out += "</strong>.</p>\n<table>\n";
  add_row(out, "Client", info.client_label.empty() ? "unknown client" : info.client_label);
  add_row(out, "Address", info.client_address);
  add_row(out, "Method", info.method);
  add_row(out, "Host", host_port(info.host, info.port));
  out += "</table>\n<p>To serve this client again, run as root on the proxy:</p>\n<pre>";
  out += html_escape(info.resume_command());
  out += "</pre>\n";
  out += kPageEnd;
  return out;
}

std::string render_stopped_text(const StoppedInfo& info) {
  std::string out = "egressd is stopped for this client\n";
  const auto line = [&](std::string_view key, std::string_view value) {
    add_text_line(out, key, value);
  };
  line("client", info.client_label.empty() ? "unknown client" : info.client_label);
  line("address", info.client_address);
  line("method", info.method);
  line("host", host_port(info.host, info.port));
  line("to serve it again, run", info.resume_command());
  return out;
}

std::string render_error_html(unsigned status, std::string_view reason_phrase,
                              std::string_view detail) {
  const std::string title = std::to_string(status) + " " + std::string(reason_phrase);
  std::string out = page_start(title);
  out += "<h1>";
  out += html_escape(title);
  out += "</h1>\n";
  if (!detail.empty()) {
    out += "<p>";
    out += html_escape(detail);
    out += "</p>\n";
  }
  out += kPageEnd;
  return out;
}

}  // namespace egressd::core
