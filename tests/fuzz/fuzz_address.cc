// Fuzzes address and display-name parsing, and base64 decoding.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mime/address.h"
#include "mime/encoding.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = mp::ParseMailbox(text, "f");
  if (m.ok()) {
    // A bare address never needs folding; a valid address must validate again unchanged.
    if (m.value().display_name.empty() &&
        mp::FormatMailboxHeader(m.value()).find('\n') != std::string::npos) {
      std::abort();
    }
    auto again = mp::ParseAddress(m.value().Address(), "f");
    if (!again.ok()) std::abort();
  }
  auto decoded = mp::Base64Decode(text);
  if (decoded && mp::Base64Decode(mp::Base64Encode(*decoded)) != decoded) std::abort();
  return 0;
}
