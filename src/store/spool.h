// Spool records: a message's envelope (with per-recipient state), its body, and its entry in the
// due-time queue index. Layouts: docs/formats/spool.md.
//
// A new message is written as one batch (envelope + body + queue entry, plus whatever the caller
// adds, e.g. an idempotency record), so it is on disk whole or not at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
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
  kPartial
};
enum class RecipientStatus : uint8_t {
  kQueued,
  kScheduled,
  kCanceled,
  kDelivered,
  kDeferred,
  kBounced
};
enum class RecipientKind : uint8_t { kTo, kCc, kBcc };

std::string_view MessageStatusName(MessageStatus s);
std::string_view RecipientStatusName(RecipientStatus s);
std::string_view RecipientKindName(RecipientKind k);

struct RecipientRecord {
  std::string address;  // envelope address (domain in A-labels)
  RecipientKind kind = RecipientKind::kTo;
  RecipientStatus status = RecipientStatus::kQueued;
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
  int64_t updated_ms = 0;
  uint64_t size = 0;  // body size in bytes
  std::vector<RecipientRecord> recipients;
  std::vector<std::string> tags;
  std::string metadata_json;  // JSON object text, "{}" if none
  std::string source;         // "http" or "smtp"
};

std::string EncodeEnvelope(const Envelope& e);
std::optional<Envelope> DecodeEnvelope(std::string_view data);

std::string EnvelopeKey(const MessageId& id);
std::string QueueKey(int64_t due_ms, const MessageId& id);

// Adds a new message (envelope, body, queue entry) to batch.
void AddNewMessage(WriteBatch& batch, const Envelope& e, std::string body);
// Adds an envelope update; if the message leaves the queue, removes its queue entry.
void AddEnvelopeUpdate(WriteBatch& batch, const Envelope& e, bool remove_from_queue);

Result<std::optional<Envelope>> ReadEnvelope(KvStore& kv, const MessageId& id);
Result<std::optional<std::string>> ReadBody(KvStore& kv, const MessageId& id);

}  // namespace mp
