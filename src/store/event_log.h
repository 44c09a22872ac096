// The event log: every state change of every message and recipient, written in the same batch as
// the change itself, so an event is durable exactly when its change is (and after a crash every
// change has its event). Column `log`; layouts in docs/formats/spool.md:
//   ev/<tenant> 0x00 u64be(stamp) id16    -> v1 + event JSON        (a tenant's stream)
//   mev/<message id16> u64be(at_ms) id16 -> u64be(stamp) tenant id (a message's timeline)
// The stamp is the batch's commit stamp (kv.h PutStamped): microseconds, at least the event's
// time, strictly increasing in commit order. So a tenant's stream is in commit order and a reader
// (the API's cursors, the webhook dispatcher) that has read up to some position never finds a
// later-committed event behind it, however long a batch took to commit.
// Old events go away in compaction (a compaction filter drops keys older than the tenant's
// retention): no sweeper scans the log.
// Thread-safety: the functions are stateless; reads go through the KvStore.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/id.h"
#include "store/kv.h"
#include "store/spool.h"

namespace mp {

class Clock;

// Every event type. Message events name a message (and, for recipient outcomes, a recipient);
// the others (pool, tenant, webhook endpoint, reputation) have no message and carry what they
// are about in metadata.
inline constexpr std::string_view kEventTypes[] = {
    "accepted",          "scheduled",        "canceled",      "suppressed",    "delivered",
    "deferred",          "bounced",          "expired",       "complained",    "unsubscribed",
    "auto_replied",      "pool_quarantined", "pool_released", "tenant_paused", "tenant_resumed",
    "endpoint_disabled", "reputation_alert"};
bool IsEventType(std::string_view type);
// "hard" for a bounce that means the address will never work (invalid recipient, bad domain,
// inactive mailbox, or an unclassified permanent failure), "soft" for the rest (mailbox full,
// too large, content or policy blocks, throttling...): SES's Permanent and Transient.
std::string_view BounceType(std::string_view category);

struct Event {
  MessageId id;  // time-ordered; its time is at_ms
  int64_t at_ms = 0;
  uint64_t seq = 0;  // its commit stamp in the tenant's stream (set when read from the stream)
  std::string tenant;
  std::string type;  // accepted, scheduled, canceled, delivered, deferred, bounced, expired, ...
  MessageId message;
  std::string recipient;  // "" for message-level events
  std::string pool, source, site, mx, ip;
  int code = 0;
  std::string enhanced, text;
  std::string category;  // bounce category for deferrals and bounces
  std::vector<std::string> tags;
  std::string metadata_json;  // the message's metadata (a JSON object), "" for none
};

std::string EncodeEvent(const Event& e);
std::optional<Event> DecodeEvent(std::string_view data);
// The public JSON form (API, webhooks, exports).
std::string EventJson(const Event& e);

void AddEvent(WriteBatch& batch, const Event& e);
// Overwrites an event read from the stream (e.seq set) in place, keeping its position
// (redaction).
void AddEventRewrite(WriteBatch& batch, const Event& e);

// An event of message e (a fresh time-ordered id, at at_ms), for recipient ("" for the message),
// with the message's tags; the caller adds the reply and the path when there are any.
Event MakeEvent(const Envelope& e, std::string type, std::string recipient, const Clock& clock,
                int64_t at_ms);

// A position in a tenant's stream: the key suffix after the tenant (u64be stamp + id16), as text.
// e must have been read from the stream (seq set).
std::string EventCursor(const Event& e);
// The stream position just before the first event committed at or after at_ms.
std::string EventCursorAt(int64_t at_ms);

struct EventPage {
  std::vector<Event> events;
  std::string next_cursor;  // "" at the end
};
// A tenant's events committed from since_ms (or after cursor), in commit order, at most limit,
// optionally of one type. A bad cursor is kInvalidValue. next_cursor is set when the page was
// cut short by limit (or by the scan bound of a type filter); a follower that reached the end
// continues from EventCursor of the last event it got.
Result<EventPage> ReadTenantEvents(KvStore& kv, const std::string& tenant, int64_t since_ms,
                                   int64_t until_ms, const std::string& cursor,
                                   const std::string& type, size_t limit);
// A message's events, oldest first.
Result<std::vector<Event>> ReadMessageEvents(KvStore& kv, const MessageId& message);

// For the store's memtable insert hint: the length of the part of a log key after which keys
// arrive in (about) ascending order: a tenant's stream prefix "ev/<tenant>\0", or "mev/" for
// timelines (keyed by message id, which starts with its time); 0 for keys without one.
size_t LogKeyOrderedPrefix(std::string_view key);

// For the store's compaction filter: whether a log key is older than cutoff_ms for its tenant
// (retention(tenant) gives the cutoff; 0 = keep).
bool LogKeyExpired(std::string_view key, std::string_view value,
                   const std::function<int64_t(std::string_view tenant)>& cutoff_ms);

}  // namespace mp
