// The SMTP service extensions a server announces in its EHLO reply (RFC 5321 section 4.1.1.1):
// PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), STARTTLS
// (RFC 3207), ENHANCEDSTATUSCODES (RFC 2034), AUTH mechanisms (RFC 4954), CHUNKING (RFC 3030).
// SECURITY: reads untrusted server text; unknown keywords are ignored, numbers are bounded.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "smtp/reply.h"

namespace mp::smtp {

struct Extensions {
  bool pipelining = false;
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool starttls = false;
  bool enhanced_status_codes = false;
  bool chunking = false;
  bool size_advertised = false;
  uint64_t max_size = 0;        // SIZE value; 0 = no limit announced
  std::set<std::string> auth;   // upper-case mechanism names, e.g. PLAIN, LOGIN
  std::string greeting_domain;  // the first word of the first line
};

// Reads the extensions of a 250 EHLO reply (the first line is the server's greeting).
Extensions ParseEhloReply(const Reply& reply);

}  // namespace mp::smtp
