// ASCII case folding for protocol text (addresses, domains, header names): locale-free, bytes
// outside A-Z unchanged.
#pragma once

#include <string>
#include <string_view>

namespace mp {

inline std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace mp
