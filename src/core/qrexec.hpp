// Identity by qube name over qrexec: the descriptor the qrexec daemon writes before a
// socket service's data ("egress.Proxy+ARG SOURCE\0"), and the address egressd files a
// qube under so that a qube is a client like any other (decisions, stop, learning...).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "core/result.hpp"

namespace egressd::core {

inline constexpr std::string_view kQrexecService = "egress.Proxy";
// The longest descriptor accepted, its NUL included: a service name with its argument
// (at most 64 bytes in qrexec) and a qube name (at most 31), with room to spare.
inline constexpr std::size_t kMaxQrexecDescriptor = 256;

struct QrexecCaller {
  std::string argument;  // after '+'; empty when the call had none
  std::string source;    // the calling qube's name, as dom0 gave it
  // The name that selects the rules file: the argument (a named profile) when given,
  // else the qube's name.
  const std::string& client_name() const { return argument.empty() ? source : argument; }
};

// Parses a descriptor without its NUL: exactly "egress.Proxy" or "egress.Proxy+ARG",
// one space, the source qube's name. ARG (a profile) and the source are qube names
// (is_qube_name()). Anything else is an error saying what is wrong.
Result<QrexecCaller> parse_qrexec_descriptor(std::string_view text);

// A qube name as Qubes allows it: 1..31 characters of [A-Za-z0-9_.-], starting with a
// letter. Profile names (the argument) follow the same rule here.
bool is_qube_name(std::string_view name);

// The address that stands for the qube or profile `name`: in 100::/64, the IPv6 prefix
// RFC 6666 reserves for discarding, so never a real peer; the low 64 bits a hash of the
// name. The same name gives the same address in every run.
IpAddress qube_address(std::string_view name);

// Whether `address` lies in 100::/64 (a qube_address()).
bool is_qube_address(const IpAddress& address);

}  // namespace egressd::core
