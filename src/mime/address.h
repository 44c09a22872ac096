// Email addresses: parsing and validation of "addr@domain" and "Display Name <addr@domain>".
//
// SECURITY: sees untrusted input (API request fields). Rules: RFC 5321 section 4.1.2 for the
// address (dot-string or quoted-string local part up to 64 octets; a domain of LDH labels, or an
// address literal; at most 254 octets in all) and RFC 5322 for display names. Internationalized
// domain names are accepted and converted to A-labels (IDNA2008, libidn2), so the envelope and
// headers stay 7-bit. Non-ASCII local parts need SMTPUTF8 end to end and are refused for now.
// CR, LF and NUL are refused anywhere.
#pragma once

#include <string>
#include <string_view>

#include "core/error.h"

namespace mp {

struct Mailbox {
  std::string display_name;  // UTF-8, unquoted; may be empty
  std::string local;         // as given (quoted form kept with its quotes)
  std::string domain;        // A-labels, as given case otherwise

  std::string Address() const { return local + "@" + domain; }
};

// Parses a bare address or a name-addr. field is used in the error.
Result<Mailbox> ParseMailbox(std::string_view text, std::string_view field);
// Validates a bare address (no display name).
Result<Mailbox> ParseAddress(std::string_view text, std::string_view field);

// The address as a header value: "Name <local@domain>" with the name quoted or RFC 2047-encoded
// as needed, or just "local@domain".
std::string FormatMailboxHeader(const Mailbox& m);

}  // namespace mp
