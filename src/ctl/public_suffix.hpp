// Registrable domains from the Public Suffix List (libpsl), for `egressctl suggest`.
#pragma once

#include <string>
#include <string_view>

struct psl_ctx_st;  // libpsl's psl_ctx_t, kept out of this header

namespace egressd::ctl {

// The Public Suffix List installed by the publicsuffix package, or libpsl's built-in
// copy when that file is missing or older (psl_latest). Loaded once by the constructor;
// registrable_domain() only reads it, so one object may be shared between threads.
class PublicSuffixList {
 public:
  PublicSuffixList();
  ~PublicSuffixList();
  PublicSuffixList(const PublicSuffixList&) = delete;
  PublicSuffixList& operator=(const PublicSuffixList&) = delete;

  // The registrable domain of a normalised host name: the public suffix plus one label
  // ("www.bbc.co.uk" -> "bbc.co.uk", "example.com" -> "example.com"). "" when there is
  // none: a public suffix itself ("co.uk", "github.io"), a single label ("localhost"),
  // an IP literal, an empty name, or when no list could be loaded at all.
  std::string registrable_domain(std::string_view host) const;

  // False when neither the installed nor the built-in list was available; every
  // registrable_domain() is then "".
  bool loaded() const { return psl_ != nullptr; }

 private:
  psl_ctx_st* psl_ = nullptr;
};

}  // namespace egressd::ctl
