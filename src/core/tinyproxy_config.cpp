#include "core/tinyproxy_config.hpp"

#include <algorithm>
#include <array>
#include <functional>

#include "core/config.hpp"
#include "core/text.hpp"
#include "core/host.hpp"
#include "core/ip_address.hpp"

namespace egressd::core {

std::string_view to_string(FilterType type) {
  switch (type) {
    case FilterType::bre:
      return "bre";
    case FilterType::ere:
      return "ere";
    case FilterType::fnmatch:
      return "fnmatch";
  }
  return "bre";
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

// Splits the values of a directive: runs of non-blanks, or text in double quotes.
Result<std::vector<std::string>> split_values(std::string_view text) {
  std::vector<std::string> values;
  std::size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i])) {
      ++i;
      continue;
    }
    if (text[i] == '"') {
      const std::size_t close = text.find('"', i + 1);
      if (close == std::string_view::npos) return Error{"a quoted value has no closing '\"'"};
      values.emplace_back(text.substr(i + 1, close - i - 1));
      i = close + 1;
      if (i < text.size() && !is_space(text[i])) {
        return Error{"text follows a quoted value without a space"};
      }
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && !is_space(text[end])) ++end;
    values.emplace_back(text.substr(i, end - i));
    i = end;
  }
  return values;
}

std::optional<bool> parse_bool(std::string_view text) {
  const std::string v = ascii_lower(text);
  if (v == "yes" || v == "on") return true;
  if (v == "no" || v == "off") return false;
  return std::nullopt;
}

std::optional<unsigned> parse_unsigned(std::string_view text, unsigned max) {
  if (text.empty() || text.size() > 9) return std::nullopt;
  unsigned value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

// A dotted IPv4 netmask ("255.255.255.0") as a prefix length.
std::optional<int> mask_bits(std::string_view text) {
  const auto mask = IpAddress::parse(text);
  if (!mask || !mask->is_v4()) return std::nullopt;
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | mask->bytes()[static_cast<std::size_t>(i)];
  int bits = 0;
  while (bits < 32 && (value & (0x80000000U >> bits)) != 0) ++bits;
  if (bits < 32 && (value << bits) != 0) return std::nullopt;  // not contiguous
  return bits;
}

Result<Network> parse_site_network(std::string_view text) {
  const std::size_t slash = text.find('/');
  if (slash != std::string_view::npos) {
    if (const auto bits = mask_bits(text.substr(slash + 1))) {
      return parse_network(std::string(text.substr(0, slash)) + "/" + std::to_string(*bits));
    }
  }
  return parse_network(text);
}

Result<TinyproxySite> parse_site(std::string_view text) {
  TinyproxySite site;
  if (text == ".") {
    site.kind = TinyproxySite::Kind::no_domain;
    return site;
  }
  if (text.find('/') != std::string_view::npos) {
    auto network = parse_site_network(text);
    if (!network) return Error{"site '" + std::string(text) + "': " + network.error().message};
    site.kind = TinyproxySite::Kind::network;
    site.network = *network;
    return site;
  }
  const bool domain = text.starts_with('.');
  auto host = normalize_host(domain ? text.substr(1) : text);
  if (!host) return Error{"site '" + std::string(text) + "': " + host.error().message};
  if (host->ip) {
    if (domain) return Error{"site '" + std::string(text) + "': a domain cannot be an address"};
    site.kind = TinyproxySite::Kind::network;
    site.network = *parse_network(host->name);
    return site;
  }
  site.kind = domain ? TinyproxySite::Kind::domain : TinyproxySite::Kind::host;
  site.name = host->name;
  return site;
}

// "Upstream TYPE [user:pass@]host:port ["site"]" or "Upstream none "site"".
Result<TinyproxyUpstream> parse_upstream(const std::vector<std::string>& values) {
  TinyproxyUpstream upstream;
  if (values.empty()) return Error{"Upstream needs a type: http, socks4, socks5 or none"};
  const std::string type = ascii_lower(values[0]);
  if (type == "none") {
    if (values.size() != 2)
      return Error{"Upstream none takes one site, e.g. Upstream none \".local\""};
    auto site = parse_site(values[1]);
    if (!site) return site.error();
    upstream.site = std::move(*site);
    return upstream;
  }
  std::string scheme;
  if (type == "http") {
    scheme = "http";
  } else if (type == "socks5") {
    scheme = "socks5";
  } else if (type == "socks4") {
    scheme = "socks4a";  // the parent is given the name, as SOCKS4a
  } else {
    return Error{"unknown upstream type '" + values[0] +
                 "': expected http, socks4, socks5 or none"};
  }
  if (values.size() < 2 || values.size() > 3) {
    return Error{"Upstream " + type + " takes [user:pass@]host:port and an optional site"};
  }
  std::string_view address = values[1];
  std::string username;
  std::string password;
  if (const std::size_t at = address.rfind('@'); at != std::string_view::npos) {
    const std::string_view credentials = address.substr(0, at);
    const std::size_t colon = credentials.find(':');
    username = std::string(credentials.substr(0, colon));
    if (colon != std::string_view::npos) password = std::string(credentials.substr(colon + 1));
    address = address.substr(at + 1);
  }
  // The credentials were taken off: the URL, and any error about it, never holds them.
  auto parent = parse_parent_url(scheme + "://" + std::string(address));
  if (!parent) return parent.error();
  if (auto problem = credentials_problem(parent->kind, username, password)) {
    return Error{"upstream credentials: " + *problem};
  }
  parent->username = std::move(username);
  parent->password = std::move(password);
  parent->name = type + "-" + std::string(address);
  upstream.parent = std::move(*parent);
  if (values.size() == 3) {
    auto site = parse_site(values[2]);
    if (!site) return site.error();
    upstream.site = std::move(*site);
  }
  return upstream;
}

class TinyproxyReader {
 public:
  explicit TinyproxyReader(std::string_view file) : file_(file) {}

  ParsedTinyproxyConfig read(std::string_view content) {
    int line_number = 0;
    std::size_t pos = 0;
    while (pos <= content.size()) {
      const std::size_t end = std::min(content.find('\n', pos), content.size());
      ++line_number;
      read_line(line_number, content.substr(pos, end - pos));
      if (end == content.size()) break;
      pos = end + 1;
    }
    if (!saw_port_) error(0, "no Port: tinyproxy needs one, e.g. Port 8888");
    return std::move(out_);
  }

 private:
  void error(int line, std::string message) {
    out_.problems.push_back(Problem{Problem::Severity::error, file_, line, std::move(message)});
  }
  void warning(int line, std::string message) {
    out_.problems.push_back(Problem{Problem::Severity::warning, file_, line, std::move(message)});
  }

  void read_line(int line, std::string_view text) {
    while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
    while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
    if (text.empty() || text.front() == '#') return;
    std::size_t end = 0;
    while (end < text.size() && !is_space(text[end])) ++end;
    const std::string keyword(text.substr(0, end));
    auto values = split_values(text.substr(end));
    if (!values) {
      error(line, keyword + ": " + values.error().message);
      return;
    }
    directive(line, keyword, *values);
  }

  // One value expected: returns it, or reports the directive's usage.
  const std::string* one(int line, const std::string& keyword,
                         const std::vector<std::string>& values, std::string_view usage) {
    if (values.size() == 1) return &values[0];
    error(line, keyword + " takes one value: " + std::string(usage));
    return nullptr;
  }

  void flag(int line, const std::string& keyword, const std::vector<std::string>& values,
            bool& target) {
    const std::string* v = one(line, keyword, values, "Yes or No");
    if (v == nullptr) return;
    if (const auto b = parse_bool(*v)) {
      target = *b;
    } else {
      error(line, keyword + " must be Yes, No, On or Off, not \"" + *v + "\"");
    }
  }

  void number(int line, const std::string& keyword, const std::vector<std::string>& values,
              unsigned min, unsigned max, const std::function<void(unsigned)>& set) {
    const std::string* v = one(line, keyword, values, "a number");
    if (v == nullptr) return;
    const auto n = parse_unsigned(*v, max);
    if (!n || *n < min) {
      error(line, keyword + " must be a number from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", not \"" + *v + "\"");
      return;
    }
    set(*n);
  }

  void text(int line, const std::string& keyword, const std::vector<std::string>& values,
            std::string& target) {
    const std::string* v = one(line, keyword, values, "a text, in quotes if it has spaces");
    if (v == nullptr) return;
    if (v->empty()) {
      error(line, keyword + " must not be empty");
      return;
    }
    target = *v;
  }

  void address(int line, const std::string& keyword, const std::vector<std::string>& values,
               std::vector<std::string>& target) {
    const std::string* v = one(line, keyword, values, "an IPv4 or IPv6 address");
    if (v == nullptr) return;
    if (!IpAddress::parse(*v)) {
      error(line, keyword + " must be an IPv4 or IPv6 address, not \"" + *v + "\"");
      return;
    }
    target.push_back(*v);
  }

  void access(int line, const std::string& keyword, const std::vector<std::string>& values,
              bool allow) {
    const std::string* v = one(line, keyword, values, "an address, a network or a host name end");
    if (v == nullptr) return;
    TinyproxyAccess entry;
    entry.line = line;
    entry.allow = allow;
    if (auto network = parse_site_network(*v)) {
      entry.network = *network;
    } else if (v->find_first_of(":/") == std::string::npos && !IpAddress::parse(*v) &&
               normalize_host(v->starts_with('.') ? v->substr(1) : *v)) {
      entry.name_suffix = ascii_lower(*v);
    } else {
      error(line, keyword + " \"" + *v + "\": " + network.error().message);
      return;
    }
    out_.config.access.push_back(std::move(entry));
  }

  void directive(int line, const std::string& keyword, const std::vector<std::string>& values) {
    TinyproxyConfig& c = out_.config;
    const std::string k = ascii_lower(keyword);
    c.lines[k] = line;
    if (k == "port") {
      saw_port_ = true;
      number(line, keyword, values, 1, 65535,
             [&](unsigned n) { c.port = static_cast<std::uint16_t>(n); });
    } else if (k == "listen") {
      address(line, keyword, values, c.listen);
    } else if (k == "bind") {
      address(line, keyword, values, c.bind);
    } else if (k == "timeout") {
      number(line, keyword, values, 1, 86400, [&](unsigned n) { c.timeout = n; });
    } else if (k == "maxclients") {
      number(line, keyword, values, 1, 10000000, [&](unsigned n) { c.max_clients = n; });
    } else if (k == "allow" || k == "deny") {
      access(line, keyword, values, k == "allow");
    } else if (k == "basicauth") {
      if (values.size() != 2) {
        error(line, keyword + " takes a user and a password: BasicAuth user password");
      } else {
        c.basic_auth.emplace_back(values[0], values[1]);
      }
    } else if (k == "user") {
      text(line, keyword, values, c.user);
    } else if (k == "group") {
      text(line, keyword, values, c.group);
    } else if (k == "pidfile") {
      text(line, keyword, values, c.pid_file);
    } else if (k == "logfile") {
      text(line, keyword, values, c.log_file);
    } else if (k == "syslog") {
      flag(line, keyword, values, c.syslog);
    } else if (k == "loglevel") {
      read_log_level(line, keyword, values);
    } else if (k == "filter") {
      text(line, keyword, values, c.filter);
    } else if (k == "filterurls") {
      flag(line, keyword, values, c.filter_urls);
    } else if (k == "filtertype") {
      read_filter_type(line, keyword, values);
    } else if (k == "filterextended") {
      bool extended = false;
      flag(line, keyword, values, extended);
      if (extended) c.filter_type = FilterType::ere;
      warning(line, "FilterExtended is deprecated: use FilterType ere");
    } else if (k == "filtercasesensitive") {
      flag(line, keyword, values, c.filter_case_sensitive);
    } else if (k == "filterdefaultdeny") {
      flag(line, keyword, values, c.filter_default_deny);
    } else if (k == "connectport") {
      number(line, keyword, values, 0, 65535,
             [&](unsigned n) { c.connect_ports.push_back(static_cast<std::uint16_t>(n)); });
    } else if (k == "upstream") {
      auto upstream = parse_upstream(values);
      if (upstream) {
        upstream->line = line;
        c.upstreams.push_back(std::move(*upstream));
      } else {
        error(line, keyword + ": " + upstream.error().message);
      }
    } else if (k == "disableviaheader") {
      flag(line, keyword, values, c.disable_via);
    } else if (k == "viaproxyname") {
      text(line, keyword, values, c.via_proxy_name);
    } else if (k == "xtinyproxy") {
      flag(line, keyword, values, c.xtinyproxy);
    } else if (k == "addheader") {
      if (values.size() != 2) {
        error(line, keyword + " takes a name and a value: AddHeader \"X-Name\" \"value\"");
      } else {
        c.add_headers.emplace_back(values[0], values[1]);
      }
    } else if (k == "errorfile") {
      const auto code = values.size() == 2 ? parse_unsigned(values[0], 599) : std::nullopt;
      if (!code || *code < 100) {
        error(line, keyword + " takes an HTTP status and a file: ErrorFile 404 \"/path\"");
      } else {
        c.error_files[*code] = values[1];
      }
    } else if (k == "defaulterrorfile") {
      text(line, keyword, values, c.default_error_file);
    } else if (k == "stathost") {
      text(line, keyword, values, c.stat_host);
    } else if (k == "startservers" || k == "minspareservers" || k == "maxspareservers" ||
               k == "maxrequestsperchild") {
      warning(line, keyword + " is obsolete (tinyproxy 1.11 ignores it too) and is ignored");
    } else if (k == "bindsame" || k == "statfile" || k == "anonymous" || k == "reversepath" ||
               k == "reverseonly" || k == "reversemagic" || k == "reversebaseurl") {
      error(line, keyword + " is not supported by egressd's tinyproxy mode; remove it");
    } else {
      error(line, "unknown directive " + keyword);
    }
  }

  void read_log_level(int line, const std::string& keyword,
                      const std::vector<std::string>& values) {
    const std::string* v = one(line, keyword, values, "a log level");
    if (v == nullptr) return;
    static constexpr std::array<std::string_view, 6> kLevels = {"critical", "error",   "warning",
                                                                "notice",   "connect", "info"};
    const std::string level = ascii_lower(*v);
    if (std::find(kLevels.begin(), kLevels.end(), level) == kLevels.end()) {
      error(line, keyword + " must be Critical, Error, Warning, Notice, Connect or Info, not \"" +
                      *v + "\"");
      return;
    }
    out_.config.log_level = *v;
  }

  void read_filter_type(int line, const std::string& keyword,
                        const std::vector<std::string>& values) {
    const std::string* v = one(line, keyword, values, "bre, ere or fnmatch");
    if (v == nullptr) return;
    const std::string type = ascii_lower(*v);
    if (type == "bre") {
      out_.config.filter_type = FilterType::bre;
    } else if (type == "ere") {
      out_.config.filter_type = FilterType::ere;
    } else if (type == "fnmatch") {
      out_.config.filter_type = FilterType::fnmatch;
    } else {
      error(line, keyword + " must be bre, ere or fnmatch, not \"" + *v + "\"");
    }
  }

  std::string file_;
  ParsedTinyproxyConfig out_;
  bool saw_port_ = false;  // a Port line, valid or not
};

constexpr std::string_view kRegexSpecial = ".[]{}()\\*+?|^$";

void append_literal(std::string& out, char c) {
  if (kRegexSpecial.find(c) != std::string_view::npos) out += '\\';
  out += c;
}

// Copies a POSIX bracket expression starting at pattern[i] == '[' and returns the index
// after its ']', or npos when it does not close. A backslash is an ordinary character
// inside POSIX brackets but an escape in RE2's: it is doubled.
std::size_t copy_bracket(std::string_view pattern, std::size_t i, std::string& out, bool fnmatch) {
  std::string body = "[";
  std::size_t j = i + 1;
  if (j < pattern.size() && (pattern[j] == '^' || (fnmatch && pattern[j] == '!'))) {
    body += '^';
    ++j;
  }
  if (j < pattern.size() && pattern[j] == ']') {
    body += "\\]";
    ++j;
  }
  for (; j < pattern.size(); ++j) {
    const char c = pattern[j];
    if (c == ']') {
      out += body + "]";
      return j + 1;
    }
    if (c == '[' && j + 1 < pattern.size() && pattern[j + 1] == ':') {
      const std::size_t close = pattern.find(":]", j + 2);
      if (close == std::string_view::npos) return std::string_view::npos;
      body += pattern.substr(j, close + 2 - j);
      j = close + 1;
      continue;
    }
    if (c == '\\') {
      if (fnmatch && j + 1 < pattern.size()) {
        ++j;
        append_literal(body, pattern[j]);
      } else {
        body += "\\\\";
      }
      continue;
    }
    if (c == '[') {
      body += "\\[";
      continue;
    }
    body += c;
  }
  return std::string_view::npos;
}

Result<std::string> bre_to_re2(std::string_view pattern) {
  std::string out;
  int depth = 0;
  bool at_start = true;  // the start of the pattern, of a group or of an alternative
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    const bool was_start = at_start;
    at_start = false;
    if (c == '\\') {
      if (i + 1 >= pattern.size()) return Error{"the pattern ends with a lone '\\'"};
      const char d = pattern[++i];
      if (d >= '1' && d <= '9') {
        return Error{"back-references (\\" + std::string(1, d) +
                     ") cannot be matched in linear time and are not supported"};
      }
      switch (d) {
        case '(':
          ++depth;
          out += '(';
          at_start = true;
          break;
        case ')':
          if (--depth < 0) return Error{"'\\)' without a matching '\\('"};
          out += ')';
          break;
        case '|':
          out += '|';
          at_start = true;
          break;
        case '{':
        case '}':
        case '+':
        case '?':
          out += d;
          break;
        default:
          out += '\\';
          out += d;
          break;
      }
      continue;
    }
    if (c == '[') {
      const std::size_t next = copy_bracket(pattern, i, out, false);
      if (next == std::string_view::npos) return Error{"a '[' without its closing ']'"};
      i = next - 1;
      continue;
    }
    if (c == '*' && was_start) {
      out += "\\*";
      continue;
    }
    if (c == '^') {
      if (was_start) {
        out += '^';
        at_start = true;  // "^*" still starts with a literal '*'
      } else {
        out += "\\^";
      }
      continue;
    }
    if (c == '$') {
      const std::string_view rest = pattern.substr(i + 1);
      const bool at_end = rest.empty() || rest.starts_with("\\)") || rest.starts_with("\\|");
      out += at_end ? "$" : "\\$";
      continue;
    }
    if (c == '(' || c == ')' || c == '{' || c == '}' || c == '|' || c == '+' || c == '?') {
      out += '\\';
      out += c;
      continue;
    }
    out += c;
  }
  if (depth != 0) return Error{"a '\\(' without its closing '\\)'"};
  return out;
}

Result<std::string> fnmatch_to_re2(std::string_view pattern) {
  std::string out = "^";
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '*') {
      out += ".*";
    } else if (c == '?') {
      out += '.';
    } else if (c == '[') {
      const std::size_t next = copy_bracket(pattern, i, out, true);
      if (next == std::string_view::npos) {
        out += "\\[";  // fnmatch: a '[' that does not close is an ordinary character
      } else {
        i = next - 1;
      }
    } else if (c == '\\' && i + 1 < pattern.size()) {
      append_literal(out, pattern[++i]);
    } else {
      append_literal(out, c);
    }
  }
  out += '$';
  return out;
}

}  // namespace

ParsedTinyproxyConfig parse_tinyproxy_config(std::string_view file_path, std::string_view content) {
  TinyproxyReader reader(file_path);
  return reader.read(content);
}

bool looks_like_tinyproxy_config(std::string_view content) {
  static constexpr std::array<std::string_view, 12> kKeywords = {
      "port",   "listen",  "user",     "group",      "timeout", "allow",
      "filter", "logfile", "loglevel", "maxclients", "pidfile", "upstream"};
  std::size_t pos = 0;
  while (pos < content.size()) {
    const std::size_t end = std::min(content.find('\n', pos), content.size());
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    std::size_t word = 0;
    while (word < line.size() && !is_space(line[word])) ++word;
    const std::string keyword = ascii_lower(line.substr(0, word));
    const std::string_view rest = line.substr(word);
    const bool known = std::find(kKeywords.begin(), kKeywords.end(), keyword) != kKeywords.end();
    return known && !rest.empty() && rest.find('=') == std::string_view::npos;
  }
  return false;
}

Result<std::string> filter_pattern_to_re2(std::string_view pattern, FilterType type) {
  switch (type) {
    case FilterType::ere:
      return std::string(pattern);
    case FilterType::bre:
      return bre_to_re2(pattern);
    case FilterType::fnmatch:
      return fnmatch_to_re2(pattern);
  }
  return std::string(pattern);
}

}  // namespace egressd::core
