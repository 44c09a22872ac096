// Secondary indexes of messages for `GET /v1/messages`: by tenant (every message), and by status,
// recipient, envelope sender and tag, each newest first. They live in the log column, so the
// event log's retention (a compaction filter, no sweeper) drops them with the tenant's events.
//   mx/<tenant> 0x00 <kind><value> 0x00 u64be(~created_ms) id16 -> ""
// kind: 'a' every message (value ""), 's' status name, 'r' recipient, 'f' sender, 'g' tag;
// addresses in lower case. The time is inverted so a forward scan is newest first, and a cursor
// (the key suffix after the value) stays where it is while newer messages arrive.
// The status index follows the message: every envelope write whose status changed moves its
// entry (spool.cc, through Envelope::indexed_status), in the same batch.
// Thread-safety: stateless functions; reads go through the KvStore.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "store/kv.h"
#include "store/spool.h"

namespace mp {

// Puts every index entry of a new message (status entry under e.status).
void AddMessageIndexes(WriteBatch& batch, const Envelope& e);
// Deletes the sender and recipient entries of e (address "": every recipient and the sender;
// else only that recipient's, in lower case).
void RemoveAddressIndexes(WriteBatch& batch, const Envelope& e, const std::string& address);
// Moves the status entry from e.indexed_status to e.status when they differ, and sets
// e.indexed_status.
void SyncStatusIndex(WriteBatch& batch, Envelope& e);

struct MessageQuery {
  std::string tenant;
  std::optional<MessageStatus> status;
  std::string recipient;  // exact address (any case)
  std::string from;       // exact envelope sender (any case)
  std::string tag;        // exact tag
  int64_t since_ms = 0;   // created at or after; 0 = no bound
  int64_t until_ms = 0;   // created before; 0 = no bound
  std::string cursor;
  size_t limit = 50;
};
struct MessagePage {
  std::vector<Envelope> messages;  // newest first
  std::string next_cursor;         // "" when there are no more
};
// Reads one index (the most selective the query names: recipient, sender, tag, status, every
// message) and checks the other filters on the envelopes. A page looks at a bounded number of
// entries; when that ends it early, next_cursor continues. Bad cursor: kInvalidValue "cursor".
Result<MessagePage> QueryMessages(KvStore& kv, const MessageQuery& q);

// For the log column's compaction filter: if key is a message index key, its tenant and the
// message's creation time.
bool ParseMessageIndexKey(std::string_view key, std::string_view* tenant, int64_t* created_ms);

// Parses a status name as the API shows it ("delivered", "partially_delivered", ...).
std::optional<MessageStatus> ParseMessageStatus(std::string_view name);

}  // namespace mp
