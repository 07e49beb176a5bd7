// Rules-file lint: a small structural parse of each pattern, RE2 probes, and comparisons
// with earlier lines, to point at lines that compile but do not do what they seem to.
#include "core/lint.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "core/rules.hpp"

namespace egressd::core {

namespace {

// ---------------------------------------------------------------------------------------
// The characters of normalised host names

// Every character a normalised host can contain: names and IPv4 literals use lower-case
// letters, digits, '.', '-' and '_'; IPv6 literals use hex digits, ':' and '.'.
constexpr std::string_view kHostChars = "abcdefghijklmnopqrstuvwxyz0123456789.-_:";

using CharSet = std::uint64_t;  // bit i stands for kHostChars[i]

constexpr CharSet set_of(std::string_view chars) {
  CharSet set = 0;
  for (const char c : chars) {
    const auto i = kHostChars.find(c);
    if (i != std::string_view::npos) set |= CharSet{1} << i;
  }
  return set;
}

constexpr CharSet kAnyHostChar = (CharSet{1} << kHostChars.size()) - 1;
// A host is either a name or IPv4 literal (no ':'), or an IPv6 literal (only these).
constexpr CharSet kNameAlphabet = kAnyHostChar & ~set_of(":");
constexpr CharSet kIpv6Alphabet = set_of("0123456789abcdef:.");
constexpr CharSet kLettersAndDigits = set_of("abcdefghijklmnopqrstuvwxyz0123456789");

// The first host character in `set`, letters first; '\0' when the set is empty.
char first_char_of(CharSet set) {
  for (std::size_t i = 0; i < kHostChars.size(); ++i) {
    if (set & (CharSet{1} << i)) return kHostChars[i];
  }
  return '\0';
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// The same options as HostMatcher (rules.cpp), so that probes see what the daemon sees.
RE2::Options rule_options() {
  RE2::Options options;
  options.set_posix_syntax(true);
  options.set_perl_classes(true);
  options.set_word_boundary(true);
  options.set_one_line(true);
  options.set_case_sensitive(false);
  options.set_never_capture(true);
  options.set_log_errors(false);
  options.set_max_mem(64 << 20);
  return options;
}

// Which host characters a one-character atom (a bracket expression, "\d", "\x41", a
// non-ASCII letter) matches. RE2 decides rather than a second implementation of classes
// and case folding; results are cached because files repeat the same classes.
class CharSetCache {
 public:
  CharSet of(std::string_view atom) {
    const auto [it, inserted] = cache_.try_emplace(std::string(atom), kAnyHostChar);
    if (!inserted) return it->second;
    const RE2 re(atom, rule_options());
    if (!re.ok()) return it->second;  // unknown: assume it may match anything
    CharSet set = 0;
    for (std::size_t i = 0; i < kHostChars.size(); ++i) {
      if (RE2::FullMatch(kHostChars.substr(i, 1), re)) set |= CharSet{1} << i;
    }
    it->second = set;
    return set;
  }

 private:
  std::unordered_map<std::string, CharSet> cache_;
};

// ---------------------------------------------------------------------------------------
// A structural parse of a pattern RE2 has already accepted

constexpr std::size_t kUnbounded = std::numeric_limits<std::size_t>::max();

std::size_t add_lengths(std::size_t a, std::size_t b) {
  return (a == kUnbounded || b == kUnbounded) ? kUnbounded : a + b;
}

std::size_t multiply_lengths(std::size_t a, std::size_t b) {
  if (a == 0 || b == 0) return 0;
  if (a == kUnbounded || b == kUnbounded || a > kUnbounded / b) return kUnbounded;
  return a * b;
}

struct Item;
using Sequence = std::vector<Item>;

// One atom with its repetition. Only what the checks below need is kept.
struct Item {
  enum class Type : std::uint8_t {
    literal,     // one character, possibly escaped
    any_char,    // an unescaped "."
    char_class,  // a bracket expression, or \d \D \s \S \w \W
    begin,       // ^
    end,         // $
    boundary,    // \b \B
    group,       // ( ... )
    opaque,      // an escape this parse does not model: assume anything
  };
  Type type = Type::opaque;
  std::size_t offset = 0;              // where the atom starts in the pattern
  std::size_t end = 0;                 // where it ends, before any repetition
  char ascii = '\0';                   // literal: the character, lower-cased, when it is ASCII
  CharSet chars = 0;                   // literal, any_char, char_class: host characters it matches
  std::vector<Sequence> alternatives;  // group
  std::size_t min = 1;
  std::size_t max = 1;  // kUnbounded for *, + and {n,}
};

struct Pattern {
  std::vector<Sequence> branches;                          // the top-level alternatives
  std::vector<std::pair<std::size_t, std::size_t>> spans;  // [begin, end) of each branch
};

// Parses the POSIX extended syntax RE2 accepts with the rule options. RE2 has already
// accepted the pattern, so this parse only has to be right about valid patterns; on
// anything it does not expect it gives up (nullopt) and the structural checks are skipped.
class PatternParser {
 public:
  PatternParser(std::string_view text, CharSetCache& sets) : text_(text), sets_(sets) {}

  std::optional<Pattern> parse() {
    Pattern pattern;
    if (!parse_alternatives(pattern.branches, &pattern.spans) || pos_ != text_.size()) {
      return std::nullopt;
    }
    return pattern;
  }

 private:
  // RE2 refuses deeper nesting anyway (its limit is 1000); this bounds our recursion.
  static constexpr int kMaxDepth = 1000;

  bool parse_alternatives(std::vector<Sequence>& out,
                          std::vector<std::pair<std::size_t, std::size_t>>* spans) {
    out.emplace_back();
    std::size_t start = pos_;
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ')') break;
      if (c == '|') {
        if (spans) spans->emplace_back(start, pos_);
        ++pos_;
        start = pos_;
        out.emplace_back();
        continue;
      }
      Item item;
      if (!parse_atom(item)) return false;
      item.end = pos_;
      if (!parse_repetitions(item)) return false;
      out.back().push_back(std::move(item));
    }
    if (spans) spans->emplace_back(start, pos_);
    return true;
  }

  bool parse_atom(Item& item) {
    item.offset = pos_;
    const char c = text_[pos_];
    switch (c) {
      case '(': {
        if (++depth_ > kMaxDepth) return false;
        ++pos_;
        item.type = Item::Type::group;
        if (!parse_alternatives(item.alternatives, nullptr)) return false;
        if (pos_ >= text_.size() || text_[pos_] != ')') return false;
        ++pos_;
        --depth_;
        return true;
      }
      case '[':
        return parse_bracket(item);
      case '\\':
        return parse_escape(item);
      case '.':
        ++pos_;
        item.type = Item::Type::any_char;
        item.chars = kAnyHostChar;
        return true;
      case '^':
        ++pos_;
        item.type = Item::Type::begin;
        return true;
      case '$':
        ++pos_;
        item.type = Item::Type::end;
        return true;
      case '*':
      case '+':
      case '?':
        return false;  // a repetition without an atom: RE2 refuses it
      case '{':
        if (repetition_at(pos_)) return false;
        break;  // a '{' that starts no repetition is a literal
      default:
        break;
    }
    item.type = Item::Type::literal;
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x80) {
      ++pos_;
      item.ascii = ascii_lower(c);
      item.chars = set_of(std::string_view(&item.ascii, 1));
      return true;
    }
    // One UTF-8 character (parse_rules has checked the encoding); RE2 decides whether it
    // case-folds to an ASCII letter, as the Kelvin sign does to 'k'.
    std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
    length = std::min(length, text_.size() - pos_);
    item.chars = sets_.of(text_.substr(pos_, length));
    pos_ += length;
    return true;
  }

  bool parse_bracket(Item& item) {
    const std::size_t start = pos_;
    std::size_t i = pos_ + 1;
    if (i < text_.size() && text_[i] == '^') ++i;
    if (i < text_.size() && text_[i] == ']') ++i;  // a leading ']' is a member
    while (i < text_.size() && text_[i] != ']') {
      if (text_[i] == '\\') {
        i += 2;
      } else if (text_.substr(i, 2) == "[:") {
        const auto close = text_.find(":]", i + 2);
        if (close == std::string_view::npos) return false;
        i = close + 2;
      } else {
        ++i;
      }
    }
    if (i >= text_.size()) return false;
    pos_ = i + 1;
    item.type = Item::Type::char_class;
    item.chars = sets_.of(text_.substr(start, pos_ - start));
    return true;
  }

  bool parse_escape(Item& item) {
    if (pos_ + 1 >= text_.size()) return false;
    const char c = text_[pos_ + 1];
    const auto byte = static_cast<unsigned char>(c);
    std::size_t length = 2;
    if (c == 'x') {
      // \xHH or \x{H...}
      if (pos_ + 2 < text_.size() && text_[pos_ + 2] == '{') {
        const auto close = text_.find('}', pos_ + 3);
        if (close == std::string_view::npos) return false;
        length = close + 1 - pos_;
      } else {
        length = 4;
      }
      item.type = Item::Type::literal;
      item.chars = sets_.of(text_.substr(pos_, length));
    } else if (std::string_view("dDsSwW").find(c) != std::string_view::npos) {
      item.type = Item::Type::char_class;
      item.chars = sets_.of(text_.substr(pos_, 2));
    } else if (c == 'b' || c == 'B') {
      item.type = Item::Type::boundary;
    } else if (std::string_view("afnrtv").find(c) != std::string_view::npos) {
      item.type = Item::Type::literal;  // control characters: in no host name
      item.chars = 0;
    } else if (byte < 0x80 && (!is_name_char(c) || c == '-')) {
      item.type = Item::Type::literal;  // escaped punctuation stands for itself
      item.ascii = c;
      item.chars = set_of(std::string_view(&c, 1));
    } else {
      item.type = Item::Type::opaque;
    }
    pos_ = std::min(pos_ + length, text_.size());
    return true;
  }

  // Reads "{n}", "{n,}" or "{n,m}" at `at`; its bounds and end, or nullopt.
  struct Repetition {
    std::size_t min, max, end;
  };
  std::optional<Repetition> repetition_at(std::size_t at) const {
    if (at >= text_.size() || text_[at] != '{') return std::nullopt;
    std::size_t i = at + 1;
    const auto number = [&]() -> std::optional<std::size_t> {
      const std::size_t begin = i;
      std::size_t value = 0;
      while (i < text_.size() && text_[i] >= '0' && text_[i] <= '9' && i - begin < 6) {
        value = value * 10 + static_cast<std::size_t>(text_[i] - '0');
        ++i;
      }
      if (i == begin) return std::nullopt;
      return value;
    };
    const auto low = number();
    if (!low) return std::nullopt;
    std::size_t high = *low;
    if (i < text_.size() && text_[i] == ',') {
      ++i;
      if (i < text_.size() && text_[i] == '}') {
        high = kUnbounded;
      } else {
        const auto value = number();
        if (!value) return std::nullopt;
        high = *value;
      }
    }
    if (i >= text_.size() || text_[i] != '}') return std::nullopt;
    return Repetition{*low, high, i + 1};
  }

  bool parse_repetitions(Item& item) {
    while (pos_ < text_.size()) {
      std::size_t low = 0;
      std::size_t high = 0;
      const char c = text_[pos_];
      if (c == '*') {
        low = 0, high = kUnbounded, ++pos_;
      } else if (c == '+') {
        low = 1, high = kUnbounded, ++pos_;
      } else if (c == '?') {
        low = 0, high = 1, ++pos_;
      } else if (const auto repetition = repetition_at(pos_)) {
        low = repetition->min, high = repetition->max, pos_ = repetition->end;
      } else {
        break;
      }
      // Stacked repetitions multiply: the bounds are what the checks need.
      item.min = multiply_lengths(item.min, low);
      item.max = multiply_lengths(item.max, high);
    }
    return true;
  }

  std::string_view text_;
  CharSetCache& sets_;
  std::size_t pos_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------
// What a parsed pattern can match

std::size_t min_length(const Sequence& seq);
std::size_t max_length(const Sequence& seq);

std::size_t atom_min_length(const Item& item) {
  switch (item.type) {
    case Item::Type::literal:
    case Item::Type::any_char:
    case Item::Type::char_class:
      return 1;
    case Item::Type::group: {
      std::size_t shortest = kUnbounded;
      for (const auto& alt : item.alternatives) shortest = std::min(shortest, min_length(alt));
      return shortest;
    }
    default:
      return 0;
  }
}

std::size_t atom_max_length(const Item& item) {
  switch (item.type) {
    case Item::Type::literal:
    case Item::Type::any_char:
    case Item::Type::char_class:
      return 1;
    case Item::Type::group: {
      std::size_t longest = 0;
      for (const auto& alt : item.alternatives) longest = std::max(longest, max_length(alt));
      return longest;
    }
    case Item::Type::opaque:
      return kUnbounded;
    default:
      return 0;
  }
}

std::size_t min_length(const Sequence& seq) {
  std::size_t total = 0;
  for (const auto& item : seq) {
    total = add_lengths(total, multiply_lengths(atom_min_length(item), item.min));
  }
  return total;
}

std::size_t max_length(const Sequence& seq) {
  std::size_t total = 0;
  for (const auto& item : seq) {
    total = add_lengths(total, multiply_lengths(atom_max_length(item), item.max));
  }
  return total;
}

bool can_match(const Sequence& seq, CharSet alphabet);

bool atom_can_match(const Item& item, CharSet alphabet) {
  switch (item.type) {
    case Item::Type::literal:
    case Item::Type::any_char:
    case Item::Type::char_class:
      return (item.chars & alphabet) != 0;
    case Item::Type::group:
      return std::any_of(item.alternatives.begin(), item.alternatives.end(),
                         [&](const Sequence& alt) { return can_match(alt, alphabet); });
    default:
      return true;
  }
}

// Whether `seq` may match some non-empty text written only with `alphabet`. Sound, not
// complete: false only when it certainly cannot. With one_line, "^" is the start of the
// name and "$" its end, so nothing can be consumed before "^" or after "$"; and a
// sequence that can consume nothing between "^" and "$" matches only the empty name.
bool can_match(const Sequence& seq, CharSet alphabet) {
  for (const auto& item : seq) {
    if (item.min > 0 && !atom_can_match(item, alphabet)) return false;
  }
  std::size_t consumed = 0;
  bool has_begin = false;
  for (const auto& item : seq) {
    if (item.type == Item::Type::begin && item.min > 0) {
      if (consumed > 0) return false;
      has_begin = true;
    }
    consumed = add_lengths(consumed, multiply_lengths(atom_min_length(item), item.min));
  }
  consumed = 0;
  bool has_end = false;
  for (auto it = seq.rbegin(); it != seq.rend(); ++it) {
    if (it->type == Item::Type::end && it->min > 0) {
      if (consumed > 0) return false;
      has_end = true;
    }
    consumed = add_lengths(consumed, multiply_lengths(atom_min_length(*it), it->min));
  }
  return !(has_begin && has_end && max_length(seq) == 0);
}

bool pattern_can_match_a_host(const Pattern& pattern) {
  return std::any_of(pattern.branches.begin(), pattern.branches.end(), [](const Sequence& b) {
    return can_match(b, kNameAlphabet) || can_match(b, kIpv6Alphabet);
  });
}

// A branch is anchored at the start by "^", by a leading literal dot (a label boundary:
// "\.example\.com$" is the documented form for subdomains only), or by a group all of
// whose alternatives are, as in "(^|\.)example\.com$" and "^(a|b)".
bool anchored_at_start(const Sequence& seq) {
  if (seq.empty()) return false;
  const Item& first = seq.front();
  if (first.min == 0) return false;
  switch (first.type) {
    case Item::Type::begin:
      return true;
    case Item::Type::literal:
    case Item::Type::char_class:
      return first.chars == set_of(".");
    case Item::Type::group:
      return std::all_of(first.alternatives.begin(), first.alternatives.end(), anchored_at_start);
    default:
      return false;
  }
}

bool anchored_at_end(const Sequence& seq) {
  if (seq.empty()) return false;
  const Item& last = seq.back();
  if (last.min == 0) return false;
  if (last.type == Item::Type::end) return true;
  if (last.type == Item::Type::group) {
    return std::all_of(last.alternatives.begin(), last.alternatives.end(), anchored_at_end);
  }
  return false;
}

bool looks_like_name_part(const Item& item) {
  switch (item.type) {
    case Item::Type::literal:
      return is_name_char(item.ascii);
    case Item::Type::char_class:
      return (item.chars & kLettersAndDigits) != 0;
    case Item::Type::group:
      return true;
    default:
      return false;
  }
}

// Offsets of unescaped dots written where a domain dot would be: once, between two parts
// of a name. Wildcards (".*", ".+", "(.*\.)?") are repeated or next to punctuation.
void find_domain_dots(const Sequence& seq, std::vector<std::size_t>& offsets) {
  for (std::size_t i = 0; i < seq.size(); ++i) {
    const Item& item = seq[i];
    if (item.type == Item::Type::group) {
      for (const auto& alt : item.alternatives) find_domain_dots(alt, offsets);
    } else if (item.type == Item::Type::any_char && item.min == 1 && item.max == 1 && i > 0 &&
               i + 1 < seq.size() && looks_like_name_part(seq[i - 1]) &&
               looks_like_name_part(seq[i + 1])) {
      offsets.push_back(item.offset);
    }
  }
}

// Appends a short lower-case text that `seq` matches, using `wildcard` for "."; false when
// this simple walk cannot build one. Callers check the result with RE2 before showing it.
bool build_sample(const Sequence& seq, char wildcard, std::string& out) {
  constexpr std::size_t kMaxSample = 253;
  for (const auto& item : seq) {
    // Repeating what consumes nothing changes nothing, however large the count.
    const std::size_t times =
        atom_max_length(item) == 0 ? std::min<std::size_t>(item.min, 1) : item.min;
    for (std::size_t n = 0; n < times; ++n) {
      if (out.size() > kMaxSample) return false;
      switch (item.type) {
        case Item::Type::literal:
        case Item::Type::char_class: {
          const bool ascii_matches =
              item.ascii != '\0' && (item.chars & set_of(std::string_view(&item.ascii, 1))) != 0;
          const char c = ascii_matches ? item.ascii : first_char_of(item.chars);
          if (c == '\0') return false;
          out += c;
          break;
        }
        case Item::Type::any_char:
          out += wildcard;
          break;
        case Item::Type::group: {
          bool built = false;
          for (const auto& alt : item.alternatives) {
            std::string attempt = out;
            if (build_sample(alt, wildcard, attempt)) {
              out = std::move(attempt);
              built = true;
              break;
            }
          }
          if (!built) return false;
          break;
        }
        case Item::Type::opaque:
          return false;
        default:
          break;
      }
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Literal readings of patterns

// "www\.example\.com" (or, with `bare_dots`, "www.example.com") as the name it spells:
// only name characters and dots, no dot at either end. nullopt for anything else.
std::optional<std::string> spelled_name(std::string_view text, bool bare_dots) {
  std::string name;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (is_name_char(c) || c == '_') {
      name += ascii_lower(c);
    } else if (c == '\\' && i + 1 < text.size() && text[i + 1] == '.') {
      name += '.';
      ++i;
    } else if (c == '.' && bare_dots) {
      name += '.';
    } else {
      return std::nullopt;
    }
  }
  if (name.empty() || name.front() == '.' || name.back() == '.') return std::nullopt;
  return name;
}

// The host a name spelled in a pattern normalises to, when it is a host a request can name.
std::optional<Host> spelled_host(std::string_view text, bool bare_dots) {
  const auto name = spelled_name(text, bare_dots);
  if (!name) return std::nullopt;
  auto host = normalize_host(*name);
  if (!host || host->name != *name) return std::nullopt;
  return std::move(host.value());
}

// "^www\.example\.com$" matches exactly one host, as host:www.example.com would.
std::optional<Host> exact_host_of(std::string_view pattern) {
  if (pattern.size() < 3 || pattern.front() != '^' || pattern.back() != '$') return std::nullopt;
  return spelled_host(pattern.substr(1, pattern.size() - 2), false);
}

// "(^|\.)example\.com$" matches a domain and its subdomains, as domain:example.com would.
std::optional<std::string> domain_of(std::string_view pattern) {
  for (const std::string_view prefix : {std::string_view("(^|\\.)"), std::string_view("(\\.|^)")}) {
    if (pattern.size() > prefix.size() + 1 && pattern.substr(0, prefix.size()) == prefix &&
        pattern.back() == '$') {
      const auto host =
          spelled_host(pattern.substr(prefix.size(), pattern.size() - prefix.size() - 1), false);
      if (host && !host->is_ip()) return host->name;
    }
  }
  return std::nullopt;
}

// What a line that looks like a URL or "name:port" was probably meant to allow.
struct HostOnlyForm {
  Host host;
  std::uint16_t port = 0;
};

std::optional<HostOnlyForm> host_only_form(std::string_view pattern) {
  std::string_view rest = pattern;
  if (!rest.empty() && rest.front() == '^') rest.remove_prefix(1);
  if (const auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    rest.remove_prefix(scheme + 3);
  }
  if (const auto at = rest.find('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (!rest.empty() && rest.back() == '$') rest.remove_suffix(1);
  HostOnlyForm form;
  if (const auto colon = rest.rfind(':'); colon != std::string_view::npos) {
    const std::string_view digits = rest.substr(colon + 1);
    unsigned value = 0;
    if (digits.empty() || digits.size() > 5 || digits.front() == '0') return std::nullopt;
    for (const char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return std::nullopt;
    form.port = static_cast<std::uint16_t>(value);
    rest = rest.substr(0, colon);
  }
  auto host = spelled_host(rest, true);
  if (!host) return std::nullopt;
  form.host = std::move(*host);
  return form;
}

// "host:NAME or ^NAME$" for a name, "ip:ADDRESS or ^ADDRESS$" for an IP literal.
std::string literal_suggestion(const Host& host, std::uint16_t port = 0) {
  const std::string port_suffix = port != 0 ? ":" + std::to_string(port) : "";
  if (host.is_ip()) return "ip:" + host.name + " or " + exact_host_rule(host.name);
  if (port != 0) return "host:" + host.name + port_suffix;
  return "host:" + host.name + " or " + exact_host_rule(host.name);
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

// ---------------------------------------------------------------------------------------
// Matching every host

// Host names unlike each other in every way a pattern could care about: each single
// character, names and IP literals of both families, short, long and punycode.
const std::vector<std::string>& probe_hosts() {
  static const std::vector<std::string> probes = [] {
    std::vector<std::string> out;
    for (const char c : std::string_view("abcdefghijklmnopqrstuvwxyz0123456789_")) {
      out.emplace_back(1, c);
    }
    for (const char* host :
         {"example.com", "www.example.co.uk", "xn--bcher-kva.example", "a-b_c.d9", "localhost",
          "10.0.0.1", "255.255.255.255", "2001:db8::1", "::1", "::"}) {
      out.emplace_back(host);
    }
    out.push_back(std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                  "." + std::string(61, 'd'));
    return out;
  }();
  return probes;
}

bool matches_every_probe(const RE2& re) {
  return std::all_of(probe_hosts().begin(), probe_hosts().end(),
                     [&](const std::string& host) { return RE2::PartialMatch(host, re); });
}

// ---------------------------------------------------------------------------------------
// The linter

// What the per-line checks learn about one regex line.
struct RegexFacts {
  std::unique_ptr<RE2> re;
  std::optional<Pattern> parsed;
  bool everything = false;
  bool nothing = false;
  std::vector<std::size_t> domain_dots;  // offsets of "." that look like domain dots
};

bool in_network(const IpAddress& address, const IpAddress& network, int prefix_length) {
  if (address.family() != network.family()) return false;
  const auto& a = address.bytes();
  const auto& n = network.bytes();
  for (int bit = 0; bit < prefix_length; ++bit) {
    const auto byte = static_cast<std::size_t>(bit / 8);
    const auto mask = static_cast<std::uint8_t>(0x80u >> (bit % 8));
    if ((a[byte] & mask) != (n[byte] & mask)) return false;
  }
  return true;
}

std::string ip_text(const Rule& rule) {
  return rule.network.to_string() + "/" + std::to_string(rule.prefix_length);
}

class Linter {
 public:
  Linter(std::string_view file, const HostMatcher& matcher) : file_(file), matcher_(matcher) {
    // Port-less rules are shadowed only by port-less rules; HostMatcher's own port-less
    // lookup considers every rule, so those rules get a matcher of their own.
    const auto& rules = matcher.rules();
    const bool any_port =
        std::any_of(rules.begin(), rules.end(), [](const Rule& rule) { return rule.port != 0; });
    if (any_port) {
      std::vector<Rule> portless;
      for (const Rule& rule : rules) {
        if (rule.port == 0) portless.push_back(Rule{rule.pattern, rule.line});
      }
      auto compiled = HostMatcher::compile(file, std::move(portless));
      portless_ = std::make_unique<HostMatcher>(std::move(compiled.matcher));
    }
  }

  std::vector<LintWarning> run() {
    for (const Rule& rule : matcher_.rules()) lint(rule);
    return std::move(warnings_);
  }

 private:
  void warn(LintClass kind, const Rule& rule, std::string message) {
    warnings_.push_back(LintWarning{kind, file_, rule.line, std::move(message)});
  }

  RegexFacts regex_facts(const Rule& rule) {
    RegexFacts facts;
    facts.re = std::make_unique<RE2>(rule.pattern, rule_options());
    facts.everything = facts.re->ok() && matches_every_probe(*facts.re);
    facts.parsed = PatternParser(rule.pattern, sets_).parse();
    if (facts.parsed) {
      facts.nothing = !pattern_can_match_a_host(*facts.parsed);
      for (const auto& branch : facts.parsed->branches) find_domain_dots(branch, facts.domain_dots);
    }
    return facts;
  }

  void lint(const Rule& rule) {
    std::optional<RegexFacts> facts;
    if (rule.kind == RuleKind::regex) {
      facts = regex_facts(rule);
      // A line that matches everything or nothing has a bigger problem than its anchors,
      // and the advice for it would be noise.
      if (facts->parsed && !facts->everything && !facts->nothing) check_anchors(rule, *facts);
      if (facts->parsed && !facts->nothing && !facts->domain_dots.empty()) {
        warn(LintClass::unescaped_dot, rule,
             "pattern " + quoted(rule.pattern) +
                 " has \".\" between name characters, where it matches any character, not "
                 "only a dot; write " +
                 escape_dots(rule.pattern, 0, rule.pattern.size(), facts->domain_dots));
      }
      if (facts->everything) {
        const bool empty = RE2::PartialMatch("", *facts->re);
        warn(LintClass::matches_everything, rule,
             "pattern " + quoted(rule.pattern) + " matches every host name" +
                 (empty ? ", since it can match zero characters anywhere" : ""));
      }
      if (facts->nothing) warn(LintClass::matches_nothing, rule, nothing_message(rule, *facts));
    } else if (rule.kind == RuleKind::ip && rule.prefix_length == 0) {
      warn(LintClass::matches_everything, rule,
           quoted(rule.pattern) + " matches every " + (rule.network.is_v4() ? "IPv4" : "IPv6") +
               " address literal");
    }

    if (!check_duplicate(rule)) check_shadowed(rule, facts);

    if (facts && facts->everything && !everything_line_) everything_line_ = &rule;
    if (rule.kind == RuleKind::ip) earlier_networks_.push_back(&rule);
    std::optional<std::string> domain;
    if (rule.kind == RuleKind::domain) domain = rule.name;
    if (rule.kind == RuleKind::regex) domain = domain_of(rule.pattern);
    if (domain) domains_.try_emplace(*domain + ":" + std::to_string(rule.port), &rule);
  }

  // ---- unanchored

  void check_anchors(const Rule& rule, const RegexFacts& facts) {
    const Pattern& pattern = *facts.parsed;
    std::vector<bool> start_ok;
    std::vector<bool> end_ok;
    bool any_anchor = false;
    std::optional<std::size_t> bad_branch;
    for (std::size_t i = 0; i < pattern.branches.size(); ++i) {
      start_ok.push_back(anchored_at_start(pattern.branches[i]));
      end_ok.push_back(anchored_at_end(pattern.branches[i]));
      any_anchor = any_anchor || start_ok.back() || end_ok.back();
      if (!bad_branch && !(start_ok.back() && end_ok.back())) bad_branch = i;
    }
    if (!bad_branch) return;
    const bool start_missing = std::find(start_ok.begin(), start_ok.end(), false) != start_ok.end();
    const bool end_missing = std::find(end_ok.begin(), end_ok.end(), false) != end_ok.end();
    const std::string what = start_missing && end_missing ? "is not anchored"
                             : start_missing              ? "is not anchored at the start"
                                                          : "is not anchored at the end";

    // An example of a host it also matches, from the first branch that lacks an anchor.
    std::string example;
    for (const char wildcard : {'.', 'a'}) {
      std::string sample;
      if (!build_sample(pattern.branches[*bad_branch], wildcard, sample) || sample.empty()) {
        continue;
      }
      const std::string candidate = !end_ok[*bad_branch]
                                        ? (sample.front() == '.' ? "www" : "") + sample +
                                              (sample.back() == '.' ? "evil.net" : ".evil.net")
                                        : (sample.front() == '.' ? "evil" : "not") + sample;
      const auto host = normalize_host(candidate);
      if (host && host->name == candidate && RE2::PartialMatch(candidate, *facts.re)) {
        example = candidate;
        break;
      }
    }

    // A plain name, with at most the anchors it has: suggest the literal forms.
    std::string_view middle = rule.pattern;
    if (!middle.empty() && middle.front() == '^') middle.remove_prefix(1);
    if (!middle.empty() && middle.back() == '$') middle.remove_suffix(1);
    const auto host =
        pattern.branches.size() == 1 ? spelled_host(middle, true) : std::optional<Host>();
    std::string advice;
    if (host && start_missing && !end_missing && !host->is_ip()) {
      // "example\.com$" was probably meant to take in subdomains.
      advice = "domain:" + host->name + " or (^|\\.)" + exact_host_rule(host->name).substr(1) +
               " for " + host->name + " and its subdomains, or host:" + host->name + " for " +
               host->name + " alone";
    } else if (host) {
      advice = literal_suggestion(*host);
    } else if (pattern.branches.size() == 1) {
      advice = (start_missing ? "^" : "") +
               escape_dots(rule.pattern, 0, rule.pattern.size(), facts.domain_dots) +
               (end_missing ? "$" : "");
    } else if (!any_anchor) {
      advice = "^(" + escape_dots(rule.pattern, 0, rule.pattern.size(), facts.domain_dots) + ")$";
    } else {
      for (std::size_t i = 0; i < pattern.branches.size(); ++i) {
        const auto [begin, end] = pattern.spans[i];
        if (i > 0) advice += '|';
        advice += (start_ok[i] ? "" : "^") +
                  escape_dots(rule.pattern, begin, end, facts.domain_dots) + (end_ok[i] ? "" : "$");
      }
    }
    warn(LintClass::unanchored, rule,
         "pattern " + quoted(rule.pattern) + " " + what +
             (example.empty() ? ", so it also matches longer names that contain a match"
                              : ": it also matches " + quoted(example)) +
             "; write " + advice);
  }

  // pattern[begin, end) with the given dots escaped.
  static std::string escape_dots(std::string_view pattern, std::size_t begin, std::size_t end,
                                 const std::vector<std::size_t>& dots) {
    std::string out;
    for (std::size_t i = begin; i < end; ++i) {
      if (std::find(dots.begin(), dots.end(), i) != dots.end()) out += '\\';
      out += pattern[i];
    }
    return out;
  }

  // ---- matches nothing

  static std::string nothing_message(const Rule& rule, const RegexFacts& facts) {
    const std::string pattern = "pattern " + quoted(rule.pattern);
    const std::string_view text = rule.pattern;
    const auto form = host_only_form(text);
    if (text.find("://") != std::string_view::npos) {
      return pattern + " is a URL, but rules match host names only" +
             (form ? "; write " + literal_suggestion(form->host, form->port) : "");
    }
    if (form && form->port != 0) {
      return pattern + " names a port, which is never part of a host name; write " +
             literal_suggestion(form->host, form->port);
    }
    if (form && text.find('/') != std::string_view::npos) {
      return pattern + " contains a path, but rules match host names only; write " +
             literal_suggestion(form->host);
    }
    // The first character no host name can contain explains most of the rest.
    const Item* impossible = nullptr;
    bool colon = false;
    const auto visit = [&](const auto& self, const Sequence& seq) -> void {
      for (const Item& item : seq) {
        if (item.type == Item::Type::group) {
          for (const auto& alt : item.alternatives) self(self, alt);
        } else if ((item.type == Item::Type::literal || item.type == Item::Type::char_class) &&
                   item.chars == 0 && !impossible) {
          impossible = &item;
        } else if (item.type == Item::Type::literal && item.ascii == ':') {
          colon = true;
        }
      }
    };
    for (const auto& branch : facts.parsed->branches) visit(visit, branch);
    if (impossible) {
      const auto byte = static_cast<unsigned char>(text[impossible->offset]);
      if (byte >= 0x80) {
        return pattern + " can never match: host names are ASCII (write internationalised " +
               "names in their xn-- form)";
      }
      if (impossible->type == Item::Type::literal && impossible->ascii != '\0') {
        return pattern + " can never match: host names never contain " +
               quoted(std::string_view(&impossible->ascii, 1));
      }
      const std::string_view atom =
          text.substr(impossible->offset, impossible->end - impossible->offset);
      return pattern + " can never match: " + quoted(atom) +
             " matches no character that occurs in host names";
    }
    if (colon) {
      return pattern + " can never match: \":\" occurs only in IPv6 addresses, and the rest " +
             "of the pattern cannot match one";
    }
    const bool only_empty =
        std::all_of(facts.parsed->branches.begin(), facts.parsed->branches.end(),
                    [](const Sequence& branch) { return max_length(branch) == 0; });
    if (only_empty) {
      return pattern + " can never match: it matches only an empty name, and host names are " +
             "never empty";
    }
    return pattern + " can never match: nothing can follow \"$\" or come before \"^\"";
  }

  // ---- duplicate and shadowed

  // Reports `rule` if an earlier line is the same rule; true when it did.
  bool check_duplicate(const Rule& rule) {
    std::string key;
    switch (rule.kind) {
      case RuleKind::regex:
        // Matching ignores case, but escapes do not: \d and \D differ.
        key = "regex:";
        for (std::size_t i = 0; i < rule.pattern.size(); ++i) {
          const char c = rule.pattern[i];
          key += (i > 0 && rule.pattern[i - 1] == '\\') ? c : ascii_lower(c);
        }
        break;
      case RuleKind::domain:
      case RuleKind::host:
        key = std::string(rule.kind == RuleKind::domain ? "domain:" : "host:") + rule.name + ":" +
              std::to_string(rule.port);
        break;
      case RuleKind::ip:
        key = "ip:" + ip_text(rule);
        break;
    }
    const auto [it, inserted] = first_of_key_.try_emplace(key, &rule);
    if (inserted) return false;
    warn(LintClass::duplicate, rule,
         quoted(rule.pattern) + " is a duplicate of line " + std::to_string(it->second->line) +
             "; remove one of them");
    return true;
  }

  void check_shadowed(const Rule& rule, const std::optional<RegexFacts>& facts) {
    const Rule* first = nullptr;
    const auto consider = [&](const Rule* earlier) {
      if (earlier && earlier->line < rule.line && (!first || earlier->line < first->line)) {
        first = earlier;
      }
    };
    // Every port-less rule is decided by an earlier line that matches everything.
    if (rule.port == 0) consider(everything_line_);

    // A rule that matches one host is shadowed by the first earlier line matching it.
    std::optional<Host> single;
    if (rule.kind == RuleKind::host) {
      single = Host{rule.name, std::nullopt};
    } else if (rule.kind == RuleKind::ip &&
               rule.prefix_length == (rule.network.is_v4() ? 32 : 128)) {
      single = Host{rule.network.to_string(), rule.network};
    } else if (rule.kind == RuleKind::regex) {
      single = exact_host_of(rule.pattern);
    }
    if (single) {
      std::optional<std::size_t> index;
      const HostMatcher* matcher = &matcher_;
      if (rule.port != 0) {
        index = matcher_.first_match(*single, rule.port, true);
      } else {
        if (portless_) matcher = portless_.get();
        index = matcher->first_match(*single, 0);
      }
      if (index) consider(&matcher->rules()[*index]);
    }

    std::optional<std::string> domain;
    if (rule.kind == RuleKind::domain) domain = rule.name;
    if (rule.kind == RuleKind::regex && facts && !facts->everything) {
      domain = domain_of(rule.pattern);
    }
    if (domain) {
      // An earlier domain: line (or its regex form) for this name or a parent of it.
      std::string_view suffix = *domain;
      while (!suffix.empty()) {
        const auto it = domains_.find(std::string(suffix) + ":" + std::to_string(rule.port));
        if (it != domains_.end()) consider(it->second);
        const auto dot = suffix.find('.');
        if (dot == std::string_view::npos) break;
        suffix.remove_prefix(dot + 1);
      }
    }

    if (rule.kind == RuleKind::ip) {
      for (const Rule* earlier : earlier_networks_) {
        if (earlier->prefix_length <= rule.prefix_length &&
            in_network(rule.network, earlier->network, earlier->prefix_length)) {
          consider(earlier);
          break;  // in file order: the first is the one that decides
        }
      }
    }

    if (first) {
      warn(LintClass::shadowed, rule,
           quoted(rule.pattern) + " never decides: line " + std::to_string(first->line) + " (" +
               first->pattern + ") matches first");
    }
  }

  std::string file_;
  const HostMatcher& matcher_;
  std::unique_ptr<HostMatcher> portless_;  // port-less rules only; null when all are
  CharSetCache sets_;
  std::vector<LintWarning> warnings_;
  std::unordered_map<std::string, const Rule*> first_of_key_;  // for duplicates
  std::unordered_map<std::string, const Rule*> domains_;       // "name:port" of domain lines
  std::vector<const Rule*> earlier_networks_;                  // ip: lines so far
  const Rule* everything_line_ = nullptr;                      // the first match-everything regex
};

}  // namespace

std::string_view lint_class_code(LintClass c) {
  switch (c) {
    case LintClass::unanchored:
      return "unanchored";
    case LintClass::unescaped_dot:
      return "unescaped-dot";
    case LintClass::matches_everything:
      return "matches-everything";
    case LintClass::matches_nothing:
      return "matches-nothing";
    case LintClass::duplicate:
      return "duplicate";
    case LintClass::shadowed:
      return "shadowed";
  }
  return "unknown";
}

Problem LintWarning::to_problem() const {
  return Problem{Problem::Severity::warning, file, line,
                 "[" + std::string(lint_class_code(kind)) + "] " + message};
}

LintResult lint_rules(std::string_view file_path, std::string_view content) {
  LintResult result;
  auto parsed = parse_rules(file_path, content);
  auto compiled = HostMatcher::compile(file_path, std::move(parsed.rules));
  result.errors = std::move(parsed.problems);
  result.errors.insert(result.errors.end(), compiled.problems.begin(), compiled.problems.end());
  if (!result.errors.empty()) {
    std::stable_sort(result.errors.begin(), result.errors.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    return result;
  }
  result.warnings = Linter(file_path, compiled.matcher).run();
  return result;
}

}  // namespace egressd::core
