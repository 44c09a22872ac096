// Redaction (privacy): removing a message's content and personal data, or one address from a
// tenant's whole log, while the counts stay (recipients, their statuses, attempts, events and
// their types and times).
//   RedactMessage: the body is deleted; subject, Message-ID, metadata, the envelope sender and
//     every recipient address are replaced ("redacted@redacted.invalid"), reply texts of the
//     attempts blanked; every event of the message loses its recipient, text and metadata; the
//     message list's sender and recipient index entries go.
//   RedactRecipient: the same for one address of one message (the others untouched).
// The caller owns the message while it does this (no delivery in flight: the engine's cancel
// protocol) and commits the batch.
// Thread-safety: stateless; reads through the KvStore.
#pragma once

#include <string>

#include "core/error.h"
#include "store/kv.h"
#include "store/spool.h"

namespace mp {

inline constexpr std::string_view kRedactedAddress = "redacted@redacted.invalid";

Status RedactMessage(KvStore& kv, WriteBatch& batch, Envelope& e);
// address in any case. False in *found when e has no such recipient.
Status RedactRecipient(KvStore& kv, WriteBatch& batch, Envelope& e, const std::string& address,
                       bool* found);

}  // namespace mp
