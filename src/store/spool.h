// Spool records: a message's envelope (with per-recipient state), its body, its entry in the
// due-time queue index, and, while an operator holds it, its entry in the held index. Layouts:
// docs/formats/spool.md.
//
// A new message is written as one batch (envelope + body + queue entry, plus whatever the caller
// adds, e.g. an idempotency record), so it is on disk whole or not at all. A message with
// recipients pending has exactly one of a queue entry or (held) a held-index entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/id.h"
#include "store/kv.h"

namespace mp {

enum class MessageStatus : uint8_t {
  kQueued,
  kScheduled,
  kCanceled,
  kDelivered,
  kBounced,
  kPartial,
  kDeferred,   // at least one recipient waits for a retry, none is being tried for the first time
  kSuppressed  // every recipient was on a suppression list (or canceled): nothing was sent
};
enum class RecipientStatus : uint8_t {
  kQueued,
  kScheduled,
  kCanceled,
  kDelivered,
  kDeferred,
  kBounced,
  kSuppressed  // on a suppression list at submission: never sent
};
enum class RecipientKind : uint8_t { kTo, kCc, kBcc };

std::string_view MessageStatusName(MessageStatus s);
std::string_view RecipientStatusName(RecipientStatus s);
std::string_view RecipientKindName(RecipientKind k);

// One delivery attempt for a recipient: where it went and what the server (or DNS) answered.
struct Attempt {
  int64_t at_ms = 0;        // when the attempt ended
  std::string mx;           // MX or relay host name ("" when DNS failed first)
  std::string ip;           // address connected to ("" if none)
  int code = 0;             // SMTP reply code (local failures use 4xx/5xx too)
  std::string enhanced;     // "5.1.1", or ""
  std::string text;         // reply text, lines joined with a space
  std::string tls_version;  // "TLSv1.3", or "" without TLS
  std::string tls_cipher;
  std::string pool, source;  // egress pool and source ("" for static relays and local failures)
  std::string site;          // destination site ("mx:host,host")
};

struct RecipientRecord {
  std::string address;  // envelope address (domain in A-labels)
  RecipientKind kind = RecipientKind::kTo;
  RecipientStatus status = RecipientStatus::kQueued;
  int attempts_total = 0;       // every attempt ever made
  int64_t next_attempt_ms = 0;  // when deferred: the next try
  std::string reason;           // when bounced: "rejected", "expired", "null_mx", "no_such_domain"
  std::vector<Attempt> attempts;  // the most recent kMaxAttemptsKept attempts, oldest first
  static constexpr size_t kMaxAttemptsKept = 20;
  // Still to be delivered (queued, scheduled or deferred).
  bool Pending() const {
    return status == RecipientStatus::kQueued || status == RecipientStatus::kScheduled ||
           status == RecipientStatus::kDeferred;
  }
};

struct Envelope {
  MessageId id;
  std::string tenant_id;
  std::string mail_from;   // envelope sender (RFC 5321 MAIL FROM)
  std::string subject;     // for display in the API
  std::string message_id;  // Message-ID header value, without angle brackets
  MessageStatus status = MessageStatus::kQueued;
  int64_t created_ms = 0;
  int64_t send_at_ms = 0;  // when delivery may start (== created_ms unless scheduled)
  int64_t due_ms = -1;     // time of the message's queue entry; -1 = send_at_ms, never requeued
  int64_t updated_ms = 0;
  uint64_t size = 0;  // body size in bytes
  std::vector<RecipientRecord> recipients;
  std::vector<std::string> tags;
  std::string metadata_json;  // JSON object text, "{}" if none
  std::string source;         // "http" or "smtp"
  // Held by an operator (admin API): no queue entry, so it is never delivered until released;
  // its recipients keep their states. While held, due_ms is 0 (see AddHold).
  bool held = false;
  // The status the message list's status index has it under (message_index.h): unset on a new
  // envelope (indexed under status by AddNewMessage); envelope writes move the entry when the
  // status changed.
  std::optional<MessageStatus> indexed_status;
  // Content and personal data removed (redaction.h): counts and statuses only.
  bool redacted = false;
};

std::string EncodeEnvelope(const Envelope& e);
std::optional<Envelope> DecodeEnvelope(std::string_view data);

std::string EnvelopeKey(const MessageId& id);
// Queue index key: tenant id, NUL, due time (u64 big-endian), message id (16 bytes), so each
// tenant's entries are a range ordered by due time.
std::string QueueKeyPrefix(const std::string& tenant_id);
std::string QueueKey(const std::string& tenant_id, int64_t due_ms, const MessageId& id);
// Splits a queue key into its parts; false for a key of another shape.
bool ParseQueueKey(std::string_view key, std::string* tenant_id, int64_t* due_ms, MessageId* id);

// Held index (column state): "held/", tenant id, NUL, message id (16 bytes); empty value. It lets
// the admin API find held messages (which have no queue entry) without reading every envelope.
inline constexpr std::string_view kHeldKeyPrefix = "held/";
std::string HeldKeyPrefix(const std::string& tenant_id);  // "held/" + tenant id + NUL
std::string HeldKey(const std::string& tenant_id, const MessageId& id);
bool ParseHeldKey(std::string_view key, std::string* tenant_id, MessageId* id);

// Adds a new message (envelope, body, queue entry when a recipient is pending, its accepted or
// scheduled event, suppressed events, the message list's index entries) to batch, and records in
// e that its status entry is under e.status (so a later write of the same object moves it).
void AddNewMessage(WriteBatch& batch, Envelope& e, std::string body);
// The time of the message's current queue entry.
inline int64_t QueueDue(const Envelope& e) { return e.due_ms >= 0 ? e.due_ms : e.send_at_ms; }
// Adds an envelope update; if the message leaves the queue, removes its queue entry (for a held
// message: its held-index entry, and clears held).
void AddEnvelopeUpdate(WriteBatch& batch, Envelope& e, bool remove_from_queue);
// The end of a delivery round: writes the envelope and moves the message's queue entry from
// from_due_ms to next_due_ms (setting e.due_ms), or deletes it when next_due_ms is -1 (nothing
// pending). Idempotent, so a failed batch can be built again and retried.
void AddQueueMove(WriteBatch& batch, Envelope& e, int64_t from_due_ms, int64_t next_due_ms);
// Holds a message that is in the queue: deletes its queue entry (at QueueDue), puts its held-index
// entry, and writes the envelope with held set and due_ms 0. A queue entry read before the hold
// then never matches the envelope's QueueDue, so a scanner that found it just before treats it
// as stale instead of delivering a held message.
void AddHold(WriteBatch& batch, Envelope& e);
// Releases a held message: deletes its held-index entry, clears held and, if a recipient is still
// pending, puts its queue entry at due_ms (setting e.due_ms).
void AddRelease(WriteBatch& batch, Envelope& e, int64_t due_ms);
// Whether any recipient is still to be delivered.
bool AnyPending(const Envelope& e);
// Derives the message status from its recipients (delivered, bounced, partially delivered,
// canceled, deferred or queued).
MessageStatus DeriveStatus(const Envelope& e);

Result<std::optional<Envelope>> ReadEnvelope(KvStore& kv, const MessageId& id);

// An entry of the queue index or of the held index.
struct IndexEntry {
  MessageId id;
  std::string tenant_id;
  bool held = false;   // an entry of the held index
  int64_t due_ms = 0;  // queue entries: the entry's due time
};

// Walks the queue index and/or the held index of one tenant (or of every tenant, "") in key
// order: queue entries (by tenant, then due time) first, then held ones (by tenant, then id).
// Holds no iterator between calls, so the caller may write in between; entries written behind
// the walk's position are not met.
// Thread-safety: one thread at a time.
class IndexWalk {
 public:
  IndexWalk(KvStore& kv, std::string tenant_id, bool queue, bool held);
  // Up to n more entries; fewer only at the end.
  Result<std::vector<IndexEntry>> Next(size_t n);
  bool done() const { return phase_ == kDone; }
  // Where the walk is, as text ("q" or "h" and the hex of the next key), for Resume.
  std::string Cursor() const;
  // Continues from a Cursor() of a walk of the same indexes. A position outside this walk's
  // ranges is clamped into them, so a cursor never reaches other keys. False: not a cursor.
  bool Resume(std::string_view cursor);

 private:
  enum Phase { kQueue, kHeld, kDone };
  std::string Start(Phase p) const;
  std::string End(Phase p) const;

  KvStore& kv_;
  std::string tenant_;
  bool queue_, held_;
  Phase phase_;
  std::string from_;  // the next key to look at
};

// The envelope an index entry stands for, if the entry is current: the message exists, belongs
// to the entry's tenant, is in that index (at that due time) and has a recipient pending. Stale
// entries (the engine deletes them lazily) read as nullopt.
Result<std::optional<Envelope>> ReadIndexed(KvStore& kv, const IndexEntry& entry);
Result<std::optional<std::string>> ReadBody(KvStore& kv, const MessageId& id);

}  // namespace mp
