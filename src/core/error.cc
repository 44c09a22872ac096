#include "core/error.h"

namespace mp {
namespace {

struct CodeInfo {
  std::string_view name;
  std::string_view title;
  int http;
};

constexpr CodeInfo kCodes[] = {
    {"ok", "OK", 200},
    {"invalid_json", "Malformed JSON", 400},
    {"invalid_type", "Wrong type", 422},
    {"missing_field", "Missing field", 422},
    {"unknown_field", "Unknown field", 422},
    {"invalid_value", "Invalid value", 422},
    {"invalid_address", "Invalid address", 422},
    {"header_injection", "Header injection", 422},
    {"too_many_recipients", "Too many recipients", 422},
    {"message_too_large", "Message too large", 413},
    {"invalid_base64", "Invalid base64", 422},
    {"invalid_send_at", "Invalid send_at", 422},
    {"batch_too_large", "Batch too large", 422},
    {"unauthorized", "Unauthorized", 401},
    {"not_found", "Not found", 404},
    {"method_not_allowed", "Method not allowed", 405},
    {"unsupported_media_type", "Unsupported media type", 415},
    {"idempotency_key_reused", "Idempotency key reused with a different request", 409},
    {"idempotency_key_in_flight", "Idempotency key in use by a request in progress", 409},
    {"conflict", "Conflict", 409},
    {"shutting_down", "Server shutting down", 503},
    {"overloaded", "Server overloaded", 503},
    {"storage_error", "Storage error", 500},
    {"internal_error", "Internal error", 500},
    {"bad_request", "Malformed HTTP request", 400},
    {"request_headers_too_large", "Request headers too large", 431},
    {"rate_limited", "Rate limited", 429},
    {"domain_not_verified", "Sender domain not verified", 422},
};
static_assert(sizeof(kCodes) / sizeof(kCodes[0]) == static_cast<size_t>(kLastCode) + 1);

const CodeInfo& Info(Code code) { return kCodes[static_cast<size_t>(code)]; }

}  // namespace

std::string_view CodeName(Code code) { return Info(code).name; }
std::string_view CodeTitle(Code code) { return Info(code).title; }
int CodeHttpStatus(Code code) { return Info(code).http; }

}  // namespace mp
