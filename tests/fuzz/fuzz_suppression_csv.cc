// Fuzzes the suppression list's untrusted inputs: any bytes as an address either normalize to a
// fixed point (lower case, printable ASCII, at most 320 octets) or are refused on the "address"
// field; any bytes as a CSV import are refused whole with one of the documented codes or give
// rows whose addresses are normalized and reasons valid, per-line errors in line order, within the
// row limit; and the export of those rows parses back to exactly the same rows.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "store/suppression.h"

namespace {

void CheckAddress(std::string_view in) {
  auto r = mp::NormalizeSuppressedAddress(in);
  if (!r.ok()) {
    if (r.error().code != mp::Code::kInvalidValue || r.error().field != "address") std::abort();
    if (r.error().detail.empty()) std::abort();
    return;
  }
  const std::string& a = r.value();
  if (a.empty() || a.size() > 320 || a.find('@') == std::string::npos) std::abort();
  for (char c : a) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F || (c >= 'A' && c <= 'Z')) std::abort();
  }
  auto again = mp::NormalizeSuppressedAddress(a);
  if (!again.ok() || again.value() != a) std::abort();
  // The key keeps the address whole and the record decodes back.
  mp::Suppression s;
  s.scope = "tn_fuzz";
  s.address = a;
  s.reason = "manual";
  s.detail.assign(in);
  auto back = mp::DecodeSuppression(s.scope, a, mp::EncodeSuppression(s));
  if (!back || back->detail.size() > mp::kMaxSuppressionDetail) std::abort();
}

void CheckCsv(std::string_view csv) {
  constexpr size_t kMaxRows = 1000, kMaxBytes = 1 << 20;
  auto r = mp::ParseSuppressionCsv(csv, kMaxRows, kMaxBytes);
  auto small = mp::ParseSuppressionCsv(csv, 3, kMaxBytes);
  if (!r.ok()) {
    mp::Code c = r.error().code;
    if (c != mp::Code::kInvalidValue && c != mp::Code::kBatchTooLarge &&
        c != mp::Code::kMessageTooLarge) {
      std::abort();
    }
    if (small.ok() && c != mp::Code::kBatchTooLarge) std::abort();
    return;
  }
  const mp::SuppressionCsvResult& res = r.value();
  if (res.rows.size() + res.errors.size() > kMaxRows) std::abort();
  // A lower row limit gives the same answer or refuses the input as too many rows.
  if (small.ok() ? small.value().rows.size() != res.rows.size()
                 : small.error().code != mp::Code::kBatchTooLarge) {
    std::abort();
  }
  size_t last_line = 0;
  for (const mp::SuppressionCsvError& e : res.errors) {
    if (e.line == 0 || e.line <= last_line || e.message.empty()) std::abort();
    last_line = e.line;
  }
  std::string out = mp::SuppressionCsvHeader();
  for (const mp::SuppressionCsvRow& row : res.rows) {
    auto a = mp::NormalizeSuppressedAddress(row.address);
    if (!a.ok() || a.value() != row.address) std::abort();
    if (!mp::IsSuppressionReason(row.reason) || row.expires_ms < 0) std::abort();
    mp::Suppression s;
    s.scope = "tn_fuzz";
    s.address = row.address;
    s.reason = row.reason;
    s.source = "import";
    s.expires_ms = row.expires_ms;
    s.detail = row.detail;
    out += mp::SuppressionCsvLine(s);
  }
  auto back = mp::ParseSuppressionCsv(out, kMaxRows, 64 * kMaxBytes);
  if (!back.ok() || !back.value().errors.empty()) std::abort();
  const auto& rows = back.value().rows;
  if (rows.size() != res.rows.size()) std::abort();
  for (size_t i = 0; i < rows.size(); ++i) {
    const mp::SuppressionCsvRow &x = rows[i], &y = res.rows[i];
    if (x.address != y.address || x.reason != y.reason || x.expires_ms != y.expires_ms ||
        x.detail != y.detail) {
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  CheckAddress(in);
  CheckCsv(in);
  return 0;
}
