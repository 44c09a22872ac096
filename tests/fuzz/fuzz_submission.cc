// Fuzzes the JSON -> validation -> MIME composition path that every API request takes.
// Invariants checked on success: the output is 7-bit, every line ends in CRLF and is at most 998
// octets, and it is no larger than the limit.
#include <boost/json.hpp>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/clock.h"
#include "ingest/submission.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static mp::ManualClock clock(1795000000000);
  mp::LimitsConfig limits;
  limits.max_message_bytes = 1 << 20;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec) return 0;
  auto r = mp::PrepareMessage(v, "tn_fuzz", limits, clock, "");
  if (!r.ok()) return 0;
  const std::string& body = r.value().body;
  if (body.size() > limits.max_message_bytes) std::abort();
  if (v.as_object().contains("raw")) return 0;  // raw bodies are kept as given
  size_t line = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(body[i]);
    if (c >= 0x80 || c == 0) std::abort();
    if (c == '\n') {
      if (i == 0 || body[i - 1] != '\r') std::abort();
      line = 0;
    } else if (++line > 999) {
      std::abort();
    }
  }
  return 0;
}
