// IPv4/IPv6 addresses as plain values, with strict parsing of canonical literals.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace egressd::core {

class IpAddress {
 public:
  enum class Family : std::uint8_t { v4, v6 };

  IpAddress() = default;  // 0.0.0.0

  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);

  // Parses a literal as written in a rules file name, a config value or a URI host
  // (without brackets). Accepts only canonical forms: IPv4 as four decimal parts
  // 0-255 without leading zeros ("127.0.0.1", never "127.1", "0x7f.0.0.1", "017.0.0.1",
  // "2130706433"); IPv6 in any RFC 4291 text form (including "::ffff:1.2.3.4", which
  // stays an IPv6 address). No zone ids, no surrounding whitespace.
  // Returns nullopt for anything else.
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  bool is_v6() const { return family_ == Family::v6; }

  // The first 4 (v4) or 16 (v6) bytes are meaningful; the rest are zero.
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }

  // For an IPv4-mapped IPv6 address (::ffff:a.b.c.d) returns the IPv4 address;
  // otherwise returns *this. Peers of dual-stack sockets are unmapped with this
  // so that one client has one identity.
  IpAddress unmapped() const;

  // Canonical text: dotted quad, or RFC 5952 for IPv6 (lower case, "::" compression).
  std::string to_string() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

}  // namespace egressd::core

template <>
struct std::hash<egressd::core::IpAddress> {
  std::size_t operator()(const egressd::core::IpAddress& a) const noexcept;
};
