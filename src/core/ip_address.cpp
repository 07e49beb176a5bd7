// Strict, hand-written IPv4/IPv6 literal parsing and RFC 5952 formatting.
//
// inet_aton/inet_pton are deliberately not used: inet_aton accepts numeric tricks
// ("127.1", "0x7f.1", "2130706433") and both depend on the C library's locale-free but
// platform-specific leniency. Rules must see exactly one spelling per address.
#include "core/ip_address.hpp"

#include <algorithm>

namespace egressd::core {
namespace {

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Returns the value of a hex digit, or -1.
constexpr int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Parses exactly four dot-separated decimal parts 0-255 without leading zeros.
std::optional<std::array<std::uint8_t, 4>> parse_dotted_quad(std::string_view text) {
  std::array<std::uint8_t, 4> out{};
  std::size_t pos = 0;
  for (std::size_t part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    const std::size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && is_digit(text[pos]) && pos - start < 3) {
      value = value * 10 + static_cast<unsigned>(text[pos] - '0');
      ++pos;
    }
    const std::size_t len = pos - start;
    if (len == 0 || value > 255) return std::nullopt;
    if (len > 1 && text[start] == '0') return std::nullopt;  // octal-looking "017"
    out[part] = static_cast<std::uint8_t>(value);
  }
  if (pos != text.size()) return std::nullopt;  // "1.2.3.4.5", "1.2.3.4x", "1.2.3.1234"
  return out;
}

// Parses any RFC 4291 section 2.2 text form: eight groups of 1-4 hex digits, at most one
// "::" standing for one or more zero groups, optionally ending in a dotted quad that
// supplies the last 32 bits.
std::optional<std::array<std::uint8_t, 16>> parse_v6(std::string_view text) {
  // Longest valid form is 8*4 hex + 7 colons = 39, or 6*4 + 6 colons + 15 = 45.
  if (text.size() < 2 || text.size() > 45) return std::nullopt;

  std::array<std::uint16_t, 8> groups{};
  std::size_t count = 0;            // groups written so far
  std::optional<std::size_t> gap;   // index in `groups` where "::" stands
  std::size_t pos = 0;

  if (text.substr(0, 2) == "::") {
    gap = 0;
    pos = 2;
    if (pos == text.size()) return std::array<std::uint8_t, 16>{};  // "::"
  } else if (text[0] == ':') {
    return std::nullopt;  // ":1::"
  }

  while (true) {
    // Here we are at the start of a group (or a dotted-quad tail).
    if (count >= 8) return std::nullopt;
    const std::size_t start = pos;
    unsigned value = 0;
    while (pos < text.size() && hex_value(text[pos]) >= 0 && pos - start < 4) {
      value = value * 16 + static_cast<unsigned>(hex_value(text[pos]));
      ++pos;
    }
    if (pos < text.size() && text[pos] == '.') {
      // The rest must be a dotted quad taking the place of two groups.
      if (count > 6) return std::nullopt;
      auto quad = parse_dotted_quad(text.substr(start));
      if (!quad) return std::nullopt;
      groups[count++] = static_cast<std::uint16_t>(((*quad)[0] << 8) | (*quad)[1]);
      groups[count++] = static_cast<std::uint16_t>(((*quad)[2] << 8) | (*quad)[3]);
      break;
    }
    if (pos == start) return std::nullopt;  // empty group (":::" or trailing ':')
    groups[count++] = static_cast<std::uint16_t>(value);
    if (pos == text.size()) break;
    if (text[pos] != ':') return std::nullopt;  // bad character or 5+ hex digits
    ++pos;
    if (pos < text.size() && text[pos] == ':') {
      if (gap) return std::nullopt;  // second "::"
      gap = count;
      ++pos;
      if (pos == text.size()) break;  // trailing "::"
    } else if (pos == text.size()) {
      return std::nullopt;  // trailing single ':'
    }
  }

  std::array<std::uint16_t, 8> full{};
  if (gap) {
    if (count > 7) return std::nullopt;  // "::" must stand for at least one group
    const std::size_t tail = count - *gap;
    std::copy_n(groups.begin(), *gap, full.begin());
    std::copy_n(groups.begin() + static_cast<std::ptrdiff_t>(*gap), tail,
                full.begin() + static_cast<std::ptrdiff_t>(8 - tail));
  } else {
    if (count != 8) return std::nullopt;
    full = groups;
  }

  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t i = 0; i < 8; ++i) {
    bytes[2 * i] = static_cast<std::uint8_t>(full[i] >> 8);
    bytes[2 * i + 1] = static_cast<std::uint8_t>(full[i] & 0xff);
  }
  return bytes;
}

bool is_v4_mapped(const std::array<std::uint8_t, 16>& b) {
  for (std::size_t i = 0; i < 10; ++i) {
    if (b[i] != 0) return false;
  }
  return b[10] == 0xff && b[11] == 0xff;
}

void append_decimal(std::string& out, unsigned v) {
  if (v >= 100) out.push_back(static_cast<char>('0' + v / 100));
  if (v >= 10) out.push_back(static_cast<char>('0' + (v / 10) % 10));
  out.push_back(static_cast<char>('0' + v % 10));
}

void append_quad(std::string& out, const std::uint8_t* b) {
  for (std::size_t i = 0; i < 4; ++i) {
    if (i > 0) out.push_back('.');
    append_decimal(out, b[i]);
  }
}

void append_hex_group(std::string& out, unsigned v) {
  static constexpr char digits[] = "0123456789abcdef";
  bool started = false;
  for (int shift = 12; shift >= 0; shift -= 4) {
    const unsigned d = (v >> shift) & 0xf;
    if (d != 0 || started || shift == 0) {
      out.push_back(digits[d]);
      started = true;
    }
  }
}

}  // namespace

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress a;
  a.family_ = Family::v4;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  return a;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> bytes) {
  IpAddress a;
  a.family_ = Family::v6;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    if (auto b = parse_v6(text)) return v6(*b);
    return std::nullopt;
  }
  if (auto q = parse_dotted_quad(text)) return v4(*q);
  return std::nullopt;
}

IpAddress IpAddress::unmapped() const {
  if (family_ == Family::v6 && is_v4_mapped(bytes_)) {
    return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
  }
  return *this;
}

// IPv6 output follows RFC 5952: lower-case hex without leading zeros, the longest run of
// two or more zero groups (the first one on a tie) written as "::". IPv4-mapped
// addresses use the mixed notation "::ffff:a.b.c.d" of RFC 5952 section 5 so that they
// stay recognisable in logs and rules.
std::string IpAddress::to_string() const {
  std::string out;
  if (family_ == Family::v4) {
    out.reserve(15);
    append_quad(out, bytes_.data());
    return out;
  }
  if (is_v4_mapped(bytes_)) {
    out = "::ffff:";
    append_quad(out, bytes_.data() + 12);
    return out;
  }

  std::array<unsigned, 8> g{};
  for (std::size_t i = 0; i < 8; ++i) {
    g[i] = (static_cast<unsigned>(bytes_[2 * i]) << 8) | bytes_[2 * i + 1];
  }
  std::size_t best_start = 8;
  std::size_t best_len = 0;
  for (std::size_t i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }
  if (best_len < 2) best_start = 8;

  out.reserve(39);
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out.push_back(':');
    append_hex_group(out, g[i]);
  }
  return out;
}

}  // namespace egressd::core

std::size_t std::hash<egressd::core::IpAddress>::operator()(
    const egressd::core::IpAddress& a) const noexcept {
  // FNV-1a over the family tag and the 16 bytes: cheap, and every byte contributes.
  std::uint64_t h = 14695981039346656037ULL;
  auto mix = [&h](std::uint8_t byte) {
    h ^= byte;
    h *= 1099511628211ULL;
  };
  mix(static_cast<std::uint8_t>(a.family()));
  for (std::uint8_t byte : a.bytes()) mix(byte);
  return static_cast<std::size_t>(h);
}
