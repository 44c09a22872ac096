// Fuzzes bounce classification of remote replies: any code, enhanced code and text (any bytes)
// get exactly one category, permanence from the basic code alone, a rule name, and the same answer
// every time; and any rules file text is either added or refused with an error, never a crash.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "feedback/classify.h"

namespace {

using mp::feedback::BounceClassifier;
using mp::feedback::Classification;

void Check(const BounceClassifier& c, int code, std::string_view enhanced, std::string_view text) {
  Classification a = c.Classify(code, enhanced, text);
  if (static_cast<int>(a.category) > static_cast<int>(mp::feedback::kLastBounceCategory)) {
    std::abort();
  }
  if (a.permanent != (code >= 500 && code <= 599)) std::abort();
  if (a.rule.empty()) std::abort();
  Classification b = c.Classify(code, enhanced, text);
  if (a.category != b.category || a.rule != b.rule) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const BounceClassifier* shipped = [] {
    auto r = BounceClassifier::Load("");
    if (!r.ok()) std::abort();
    return new BounceClassifier(std::move(r).value());
  }();
  if (size < 4) return 0;
  const int code = (data[0] << 8 | data[1]) % 1000;
  const size_t enhanced_size = std::min<size_t>(data[2] % 24, size - 4);
  std::string_view rest(reinterpret_cast<const char*>(data) + 4, size - 4);
  std::string_view enhanced = rest.substr(0, enhanced_size);
  std::string_view text = rest.substr(enhanced_size);
  if (data[3] & 1) {
    // The input as a rules file: refused with an error or added; then it classifies its own text.
    BounceClassifier c;
    mp::Status s = c.Add(rest, "fuzz.toml");
    if (!s.ok() && s.error().detail.empty()) std::abort();
    if (!s.ok() && c.size() != 0) std::abort();
    Check(c, code, enhanced, text);
    return 0;
  }
  Check(*shipped, code, enhanced, text);
  return 0;
}
