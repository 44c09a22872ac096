#include "store/message_index.h"

#include <algorithm>

#include "core/ascii.h"

namespace mp {
namespace {

constexpr std::string_view kPrefix = "mx/";

// "mx/" tenant 0x00 kind value 0x00
std::string IndexPrefix(std::string_view tenant, char kind, std::string_view value) {
  std::string k(kPrefix);
  k.append(tenant);
  k.push_back('\0');
  k.push_back(kind);
  k.append(value);
  k.push_back('\0');
  return k;
}

std::string Suffix(int64_t created_ms, const MessageId& id) {
  std::string s;
  AppendU64BE(s, ~static_cast<uint64_t>(std::max<int64_t>(created_ms, 0)));
  s.append(id.Raw());
  return s;
}

std::string IndexKey(std::string_view tenant, char kind, std::string_view value,
                     const Envelope& e) {
  return IndexPrefix(tenant, kind, value) + Suffix(e.created_ms, e.id);
}

int Nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool Matches(const Envelope& e, const MessageQuery& q) {
  if (e.tenant_id != q.tenant) return false;
  if (q.status && e.status != *q.status) return false;
  if (!q.from.empty() && AsciiLower(e.mail_from) != AsciiLower(q.from)) return false;
  if (!q.tag.empty() && std::find(e.tags.begin(), e.tags.end(), q.tag) == e.tags.end()) {
    return false;
  }
  if (!q.recipient.empty()) {
    std::string want = AsciiLower(q.recipient);
    bool found = false;
    for (const RecipientRecord& r : e.recipients) found = found || AsciiLower(r.address) == want;
    if (!found) return false;
  }
  if (q.since_ms > 0 && e.created_ms < q.since_ms) return false;
  if (q.until_ms > 0 && e.created_ms >= q.until_ms) return false;
  return true;
}

}  // namespace

std::optional<MessageStatus> ParseMessageStatus(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(MessageStatus::kSuppressed); ++i) {
    auto s = static_cast<MessageStatus>(i);
    if (MessageStatusName(s) == name) return s;
  }
  return std::nullopt;
}

void AddMessageIndexes(WriteBatch& batch, const Envelope& e) {
  const std::string& t = e.tenant_id;
  batch.Put(Column::kLog, IndexKey(t, 'a', "", e), {});
  batch.Put(Column::kLog, IndexKey(t, 's', MessageStatusName(e.status), e), {});
  batch.Put(Column::kLog, IndexKey(t, 'f', AsciiLower(e.mail_from), e), {});
  std::vector<std::string> seen;
  for (const RecipientRecord& r : e.recipients) {
    std::string a = AsciiLower(r.address);
    if (std::find(seen.begin(), seen.end(), a) != seen.end()) continue;
    batch.Put(Column::kLog, IndexKey(t, 'r', a, e), {});
    seen.push_back(std::move(a));
  }
  for (const std::string& tag : e.tags) batch.Put(Column::kLog, IndexKey(t, 'g', tag, e), {});
}

void RemoveAddressIndexes(WriteBatch& batch, const Envelope& e, const std::string& address) {
  const std::string& t = e.tenant_id;
  if (address.empty()) batch.Delete(Column::kLog, IndexKey(t, 'f', AsciiLower(e.mail_from), e));
  for (const RecipientRecord& r : e.recipients) {
    std::string a = AsciiLower(r.address);
    if (address.empty() || a == address) batch.Delete(Column::kLog, IndexKey(t, 'r', a, e));
  }
}

void SyncStatusIndex(WriteBatch& batch, Envelope& e) {
  MessageStatus was = e.indexed_status.value_or(e.status);
  if (was != e.status) {
    batch.Delete(Column::kLog, IndexKey(e.tenant_id, 's', MessageStatusName(was), e));
    batch.Put(Column::kLog, IndexKey(e.tenant_id, 's', MessageStatusName(e.status), e), {});
  }
  e.indexed_status = e.status;
}

Result<MessagePage> QueryMessages(KvStore& kv, const MessageQuery& q) {
  char kind = 'a';
  std::string value;
  if (!q.recipient.empty()) {
    kind = 'r';
    value = AsciiLower(q.recipient);
  } else if (!q.from.empty()) {
    kind = 'f';
    value = AsciiLower(q.from);
  } else if (!q.tag.empty()) {
    kind = 'g';
    value = q.tag;
  } else if (q.status) {
    kind = 's';
    value = MessageStatusName(*q.status);
  }
  const std::string prefix = IndexPrefix(q.tenant, kind, value);
  std::string from = prefix;
  if (q.until_ms > 0) AppendU64BE(from, ~static_cast<uint64_t>(q.until_ms - 1));
  if (!q.cursor.empty()) {
    if (q.cursor.size() != 48) {
      return MakeError(Code::kInvalidValue, "cursor is not one this API gave", "cursor");
    }
    std::string raw;
    for (size_t i = 0; i < q.cursor.size(); i += 2) {
      int a = Nibble(q.cursor[i]), b = Nibble(q.cursor[i + 1]);
      if (a < 0 || b < 0) {
        return MakeError(Code::kInvalidValue, "cursor is not one this API gave", "cursor");
      }
      raw.push_back(static_cast<char>(a * 16 + b));
    }
    std::string after = prefix + raw;
    after.push_back('\0');  // strictly after the cursor's entry
    from = std::max(from, after);
  }
  std::string to = prefix;
  if (q.since_ms > 0) {
    AppendU64BE(to, ~static_cast<uint64_t>(q.since_ms));
    to.push_back('\xff');  // through every id at that millisecond
  } else {
    to.back() = '\x01';  // the end of this index: prefix ends with 0x00
  }
  MessagePage page;
  const size_t max_scan = std::max<size_t>(q.limit * 20, 2000);
  size_t scanned = 0;
  std::string last_suffix;
  bool more = false;
  Status read_error;
  Status s = kv.ScanRange(Column::kLog, from, to, [&](std::string_view key, std::string_view) {
    if (page.messages.size() >= q.limit || scanned >= max_scan) {
      more = true;
      return false;
    }
    ++scanned;
    if (key.size() != prefix.size() + 24) return true;
    last_suffix.assign(key.substr(prefix.size()));
    auto id = MessageId::FromRaw(key.substr(prefix.size() + 8));
    if (!id) return true;
    auto env = ReadEnvelope(kv, *id);
    if (!env.ok()) {
      read_error = env.error();
      return false;
    }
    // A message that is gone (redacted, expired) or no longer matches (its status moved on:
    // the stale entry's delete is in the same batch, so this is a race with that batch) is
    // skipped.
    if (env.value() && Matches(*env.value(), q)) page.messages.push_back(std::move(*env.value()));
    return true;
  });
  if (!s.ok()) return s.error();
  if (!read_error.ok()) return read_error.error();
  if (more && !last_suffix.empty()) page.next_cursor = HexEncode(last_suffix);
  return page;
}

bool ParseMessageIndexKey(std::string_view key, std::string_view* tenant, int64_t* created_ms) {
  if (key.substr(0, kPrefix.size()) != kPrefix || key.size() < kPrefix.size() + 1 + 2 + 24) {
    return false;
  }
  std::string_view rest = key.substr(kPrefix.size());
  size_t nul = rest.find('\0');
  if (nul == std::string_view::npos) return false;
  *tenant = rest.substr(0, nul);
  *created_ms = static_cast<int64_t>(~ReadU64BE(key.substr(key.size() - 24, 8)));
  return true;
}

}  // namespace mp
