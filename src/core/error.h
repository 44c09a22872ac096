// Error codes and Result<T>: how every domain failure in mailplane is reported.
//
// The data plane never throws (STYLE.md rule 4). A failure is an Error: a code from one fixed set,
// a human detail and, where it applies, the offending field. Each code maps onto one HTTP status
// (and later one SMTP reply), and its name is the stable, machine-readable identifier that clients
// see in problem+json answers. Codes are never renamed; new ones are appended.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace mp {

enum class Code : uint8_t {
  kOk = 0,
  kInvalidJson,           // body is not JSON
  kInvalidType,           // a field has the wrong JSON type
  kMissingField,          // a required field is absent
  kUnknownField,          // a field the API does not define
  kInvalidValue,          // a field has the right type but a value out of range or malformed
  kInvalidAddress,        // an email address that RFC 5321/5322 does not allow
  kHeaderInjection,       // CR or LF (or NUL) in a header name or value
  kTooManyRecipients,     // more recipients than the configured limit
  kMessageTooLarge,       // request or composed message over the size limit
  kInvalidBase64,         // base64 content that does not decode
  kInvalidSendAt,         // send_at unparsable, too far in the past or the future
  kBatchTooLarge,         // more messages in a batch than allowed
  kUnauthorized,          // missing, wrong or disabled credentials
  kNotFound,              // no such resource (for this tenant)
  kMethodNotAllowed,      // the route exists but not with this method
  kUnsupportedMediaType,  // request body is not application/json
  kIdempotencyMismatch,   // Idempotency-Key reused with a different body
  kIdempotencyInFlight,   // Idempotency-Key used by a request still in progress
  kConflict,              // state does not allow the operation (e.g. cancel a delivered message)
  kShuttingDown,          // server is draining
  kOverloaded,            // a bounded queue is full; retry later
  kStorage,               // the store failed
  kInternal,              // a bug
  kBadRequest,            // not a well-formed HTTP request
  kHeadersTooLarge,       // request headers over the limit
  kRateLimited,           // the tenant's send rate or daily quota is used up; retry later
  kDomainNotVerified,     // the sender's domain is not a verified sending domain of the tenant
};
inline constexpr Code kLastCode = Code::kDomainNotVerified;

// The stable snake_case identifier of a code ("invalid_address").
std::string_view CodeName(Code code);
// A short human title for a code ("Invalid address").
std::string_view CodeTitle(Code code);
// The HTTP status a code is answered with.
int CodeHttpStatus(Code code);

struct Error {
  Code code = Code::kInternal;
  std::string detail;
  std::string field;  // JSON path of the offending field ("to[2]"), empty if none
};

inline Error MakeError(Code code, std::string detail, std::string field = {}) {
  return Error{code, std::move(detail), std::move(field)};
}

// Holds either a value or an Error. Small and explicit on purpose: check ok(), then value().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error)
      : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  static Status Ok() { return {}; }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace mp
