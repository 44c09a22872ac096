#include "smtp/extensions.h"

#include <cctype>
#include <sstream>

namespace mp::smtp {

Extensions ParseEhloReply(const Reply& reply) {
  Extensions ext;
  for (size_t i = 0; i < reply.lines.size(); ++i) {
    std::istringstream words(reply.lines[i]);
    std::string keyword;
    words >> keyword;
    if (i == 0) {
      ext.greeting_domain = keyword;
      continue;
    }
    for (char& c : keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "8BITMIME") {
      ext.eight_bit_mime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      ext.enhanced_status_codes = true;
    } else if (keyword == "CHUNKING") {
      ext.chunking = true;
    } else if (keyword == "SIZE") {
      ext.size_advertised = true;
      std::string n;
      if (words >> n && n.size() <= 19 && n.find_first_not_of("0123456789") == std::string::npos) {
        ext.max_size = std::stoull(n);
      }
    } else if (keyword == "AUTH") {
      std::string mech;
      while (words >> mech && ext.auth.size() < 32) {
        for (char& c : mech) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        ext.auth.insert(mech);
      }
    }
  }
  return ext;
}

}  // namespace mp::smtp
