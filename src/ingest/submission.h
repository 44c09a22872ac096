// Submission: one message as the API receives it (JSON) -> a validated envelope and its
// composed (or raw) RFC 5322 body, ready for the spool. Shared by the HTTP API and, later, SMTP
// submission.
//
// Input: a JSON object, either composed {from, to[], cc[], bcc[], reply_to, subject, text, html,
// headers{}, attachments[], tags[], metadata{}, send_at} or raw {from, to[], cc[], bcc[], raw,
// tags[], metadata{}, send_at}. Output: PreparedMessage, or the first Error found, which names the
// offending field by its JSON path. Unknown fields are errors (a typo must not silently drop data).
// SECURITY: every field is untrusted. Header values with CR/LF/NUL are refused (injection); sizes,
// counts and lengths are bounded by LimitsConfig; base64 is decoded strictly.
#pragma once

#include <string>
#include <string_view>

#include "core/config.h"
#include "core/error.h"
#include "store/spool.h"

namespace boost::json {
class value;
}

namespace mp {

class Clock;

struct PreparedMessage {
  Envelope envelope;  // id, tenant, recipients, status (queued or scheduled), times, size
  std::string body;   // RFC 5322 bytes
};

// path is the JSON path of the object ("" for a single message, "messages[3]" in a batch); field
// names in errors are prefixed with it.
// A one-click unsubscribe target (RFC 8058): an https URL and/or a mailto address. In a tenant's
// default, "{message_id}" and "{recipient}" (URL-encoded; messages with one recipient only) are
// replaced.
struct Unsubscribe {
  std::string url;     // "https://..."
  std::string mailto;  // an address ("unsubscribe@example.com")
  bool empty() const { return url.empty() && mailto.empty(); }
};
// Checks an unsubscribe target; field names the JSON path in errors.
Status CheckUnsubscribe(const Unsubscribe& u, std::string_view field);

// tenant_unsubscribe: the tenant's default, used when the message has no unsubscribe field.
Result<PreparedMessage> PrepareMessage(const boost::json::value& message,
                                       std::string_view tenant_id, const LimitsConfig& limits,
                                       const Clock& clock, std::string_view path,
                                       const Unsubscribe* tenant_unsubscribe = nullptr);

class KvStore;
// Marks each recipient that is on the tenant's suppression list or the global one as suppressed
// (never sent; its reason says which list and why, e.g. "global list: complaint") and derives the
// message status again; AddNewMessage then writes a `suppressed` event for each. The tenant's
// suppression settings decide whether the global list applies. One read for the settings, then
// at most two point reads a recipient. A store error is returned as is (the submission fails:
// better than sending to a suppressed address).
Status ApplySuppressions(KvStore& kv, Envelope& e, int64_t now_ms);

}  // namespace mp
