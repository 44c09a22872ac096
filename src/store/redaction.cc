#include "store/redaction.h"

#include <algorithm>

#include "core/ascii.h"
#include "store/event_log.h"
#include "store/message_index.h"

namespace mp {
namespace {

void BlankAttempts(RecipientRecord& r) {
  for (Attempt& a : r.attempts) a.text.clear();
}

// Rewrites the events of e whose recipient is address (any recipient when address is ""):
// recipient, text and metadata go; the type, time, codes and path stay.
Status RedactEvents(KvStore& kv, WriteBatch& batch, const Envelope& e, const std::string& address) {
  auto events = ReadMessageEvents(kv, e.id);
  if (!events.ok()) return events.error();
  for (Event ev : events.value()) {
    if (ev.tenant != e.tenant_id) continue;
    if (!address.empty() && AsciiLower(ev.recipient) != address) continue;
    if (!ev.recipient.empty()) ev.recipient = std::string(kRedactedAddress);
    ev.text.clear();
    if (address.empty()) ev.metadata_json.clear();
    AddEventRewrite(batch, ev);
  }
  return {};
}

}  // namespace

Status RedactMessage(KvStore& kv, WriteBatch& batch, Envelope& e) {
  RemoveAddressIndexes(batch, e, "");
  Status s = RedactEvents(kv, batch, e, "");
  if (!s.ok()) return s;
  batch.Delete(Column::kBody, EnvelopeKey(e.id));
  e.subject.clear();
  e.message_id.clear();
  e.metadata_json = "{}";
  e.mail_from = std::string(kRedactedAddress);
  for (RecipientRecord& r : e.recipients) {
    r.address = std::string(kRedactedAddress);
    BlankAttempts(r);
  }
  e.redacted = true;
  AddEnvelopeUpdate(batch, e, false);
  return {};
}

Status RedactRecipient(KvStore& kv, WriteBatch& batch, Envelope& e, const std::string& address,
                       bool* found) {
  const std::string want = AsciiLower(address);
  *found = false;
  for (RecipientRecord& r : e.recipients) {
    if (AsciiLower(r.address) != want) continue;
    *found = true;
  }
  if (!*found) return {};
  RemoveAddressIndexes(batch, e, want);
  Status s = RedactEvents(kv, batch, e, want);
  if (!s.ok()) return s;
  for (RecipientRecord& r : e.recipients) {
    if (AsciiLower(r.address) != want) continue;
    r.address = std::string(kRedactedAddress);
    BlankAttempts(r);
  }
  AddEnvelopeUpdate(batch, e, false);
  return {};
}

}  // namespace mp
