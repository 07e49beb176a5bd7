// Registrable domains from the Public Suffix List (libpsl).
#include "ctl/public_suffix.hpp"

#include <libpsl.h>

#include "core/ip_address.hpp"

namespace egressd::ctl {

// psl_latest(nullptr) picks the newer of the distribution's file
// (/usr/share/publicsuffix) and the built-in list. psl_free() accepts either, and
// ignores the built-in one.
PublicSuffixList::PublicSuffixList() : psl_(psl_latest(nullptr)) {}

PublicSuffixList::~PublicSuffixList() {
  psl_free(psl_);
}

std::string PublicSuffixList::registrable_domain(std::string_view host) const {
  // libpsl would read "10.0.0.1" as a name under the TLD "1" and answer "0.1".
  if (psl_ == nullptr || host.empty() || core::IpAddress::parse(host)) return {};
  // The list is lower case; normalised hosts already are, but a stray capital must not
  // make a name look like it has no public suffix.
  std::string name(host);
  for (char& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (name.find('\0') != std::string::npos) return {};
  const char* domain = psl_registrable_domain(psl_, name.c_str());
  return domain != nullptr ? std::string(domain) : std::string();
}

}  // namespace egressd::ctl
