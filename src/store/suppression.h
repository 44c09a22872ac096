// Suppression lists: addresses a tenant must not send to (hard bounces, complaints,
// unsubscribes, manual and imported entries), one list per tenant plus one global list that an
// operator manages (scope kGlobalScope), in the state column. Layout:
// docs/formats/suppression.md.
//
// Inputs: entries from the feedback path (source "auto"), the API ("api") and CSV imports
// ("import"); each tenant's policy (which automatic reasons add an address and for how long,
// whether the global list applies). Outputs: the entry that stops a recipient (FindSuppression,
// at most two point Gets, called for every recipient at submission), pages of a list, and CSV for
// exports.
//
// SECURITY: addresses, filters, cursors and whole CSV files come from API clients and are
// untrusted. Addresses are normalized and checked strictly before they become keys; a CSV import
// is bounded in bytes and rows and must be UTF-8 text; listing bounds the keys one page may
// scan; exported CSV guards against formula injection when opened in a spreadsheet.
// Thread-safety: the functions are stateless; reads go through the KvStore.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "store/kv.h"

namespace mp {

struct Envelope;
struct Event;

inline constexpr std::string_view kGlobalScope = "*";  // the global list's scope
// Longest detail kept; longer text is cut at a character boundary when stored.
inline constexpr size_t kMaxSuppressionDetail = 512;
// Bounds of a ListSuppressions page.
inline constexpr size_t kMaxSuppressionPage = 1000;
// The latest expiry an entry can have: the CSV export writes four-digit years.
inline constexpr int64_t kMaxSuppressionExpiresMs =
    253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

struct Suppression {
  std::string scope;    // tenant id, or kGlobalScope
  std::string address;  // normalized (see NormalizeSuppressedAddress)
  // "invalid_recipient", "bad_domain", "inactive_mailbox", "complaint", "unsubscribe", "manual"
  std::string reason;
  std::string source;  // "auto" (from an event), "api", "import"
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0 = never
  std::string message_id;  // the message whose event caused it (ULID text) or ""
  std::string event_id;    // that event's id or ""
  // E.g. the remote reply text. Stored as UTF-8 without control characters (each invalid byte
  // becomes '?', each control character a space), at most kMaxSuppressionDetail bytes.
  std::string detail;
};

// Lower-cases the whole address (local part too: providers treat local parts case-insensitively
// in practice, and Amazon SES does the same for its suppression list) and trims spaces and tabs.
// Refuses (kInvalidValue, field "address") anything but a dot-atom local part of 1 to 64 octets
// (RFC 5321 atext and dots; no quoted local parts), '@', and either a domain of at least two LDH
// labels (at most 255 octets, a top label that is not all digits) or an address literal
// ([192.0.2.1], [IPv6:2001:db8::1], canonicalized). Non-ASCII is refused: the rest of mailplane
// sends only to A-label domains and ASCII local parts, so no such address can be a recipient.
// src/mime/address.h is not used: mp_store links only mp_core.
Result<std::string> NormalizeSuppressedAddress(std::string_view address);

bool IsSuppressionReason(std::string_view r);
bool IsSuppressionSource(std::string_view s);

// State column key: "sup/" scope 0x00 address.
std::string SuppressionKey(std::string_view scope, std::string_view address);
// The value stored under SuppressionKey (scope and address live in the key), and back; nullopt
// for a corrupt value.
std::string EncodeSuppression(const Suppression& s);
std::optional<Suppression> DecodeSuppression(std::string_view scope, std::string_view address,
                                             std::string_view value);

// Put (replaces an existing entry) and delete, with the domain index entry. s.address (and
// address) must be as NormalizeSuppressedAddress returned it; s.scope must not be empty.
void AddSuppression(WriteBatch& batch, const Suppression& s);
void RemoveSuppression(WriteBatch& batch, std::string_view scope, std::string_view address);

// ---- Per-tenant policy (state key "suppolicy/" tenant; docs/formats/suppression.md) ----

inline constexpr int64_t kSuppressionDayMs = 86'400'000;

// The reasons the feedback path adds by itself: every reason but "manual".
bool IsAutoSuppressionReason(std::string_view r);

struct SuppressionPolicy {
  // Which automatic reasons add the address, and for how long (ms; 0 = until removed). A reason
  // absent from the map does not suppress automatically. Keys are IsAutoSuppressionReason.
  std::map<std::string, int64_t> auto_reasons;
  bool use_global = true;  // whether the global list applies to this tenant
  // Like Amazon SES's account-level list: hard bounces about the address (invalid_recipient,
  // inactive_mailbox), complaints and unsubscribes stay until removed; bad_domain (the domain
  // does not take mail) often recovers, so it lasts 30 days. The global list applies.
  static SuppressionPolicy Defaults();
  // The expires_ms of an automatic entry for reason added at now_ms (0 = never), or nullopt when
  // the reason does not add the address.
  std::optional<int64_t> AutoExpiry(std::string_view reason, int64_t now_ms) const;
  bool operator==(const SuppressionPolicy&) const = default;
};

std::string SuppressionPolicyKey(std::string_view tenant);
// The value stored under SuppressionPolicyKey, and back; nullopt for a corrupt value.
std::string EncodeSuppressionPolicy(const SuppressionPolicy& p);
std::optional<SuppressionPolicy> DecodeSuppressionPolicy(std::string_view value);
// The tenant's policy; Defaults() when none is stored. A corrupt value is kStorage.
Result<SuppressionPolicy> ReadSuppressionPolicy(KvStore& kv, std::string_view tenant);
// Puts (replaces) the tenant's policy. p.auto_reasons holds only automatic reasons with
// durations >= 0 (the API checks; anything else is dropped here so the value always decodes).
void AddSuppressionPolicy(WriteBatch& batch, std::string_view tenant, const SuppressionPolicy& p);
// Adds an automatic entry for address to e's tenant list, for reason, when the tenant's policy
// says that reason suppresses (with its expiry), naming e and the event ev that caused it.
// Returns whether it added one (an unreadable policy reads as the defaults).
bool AddAutoSuppression(KvStore& kv, WriteBatch& batch, const Envelope& e,
                        const std::string& address, const std::string& reason, const Event& ev);

// ---- Lookups ----

// One scope's entry for address (normalized here; a bad address is kInvalidValue "address"),
// expired or not.
Result<std::optional<Suppression>> ReadSuppression(KvStore& kv, std::string_view scope,
                                                   std::string_view address);
// The entry that stops a tenant's mail to address: the tenant's own, else the global one; expired
// entries (expires_ms != 0 && <= now_ms) do not count. An address that does not normalize can be
// on no list: nullopt. At most two point Gets.
Result<std::optional<Suppression>> FindSuppression(KvStore& kv, std::string_view tenant,
                                                   std::string_view address, int64_t now_ms);
// The same under the tenant's policy (read once by the caller, e.g. per message): the global
// list is not read when policy.use_global is false. At most two point Gets.
Result<std::optional<Suppression>> FindSuppression(KvStore& kv, std::string_view tenant,
                                                   std::string_view address, int64_t now_ms,
                                                   const SuppressionPolicy& policy);

// The {} initializers let callers use designated initializers without -Wextra warnings.
struct SuppressionQuery {
  std::string scope{};           // required: a tenant id or kGlobalScope
  std::string address_prefix{};  // compared with the normalized address (lower-cased here)
  std::string domain{};          // exact domain match after '@' (lower-cased here)
  std::string reason{};          // one reason, or "" for all
  std::string cursor{};          // next_cursor of the previous page, or ""
  size_t limit = 100;            // 1..kMaxSuppressionPage
  bool include_expired = false;
};
struct SuppressionPage {
  std::vector<Suppression> items;  // ordered by address
  // "" at the end. A page may hold fewer than limit items (even none) and still have a cursor
  // when filters skip many entries: one page scans at most max(20 * limit, 10000) entries.
  std::string next_cursor;
};
// Bad arguments are kInvalidValue with the field: "scope", "reason", "limit", "domain",
// "address_prefix", "cursor". The cursor is the last address looked at (hex), so pages are stable
// across inserts and deletes on either side of it.
Result<SuppressionPage> ListSuppressions(KvStore& kv, const SuppressionQuery& q, int64_t now_ms);

// CSV import (RFC 4180: quoted fields with "" escapes, CRLF or LF line ends, an optional UTF-8
// byte order mark). An optional header line names the columns; it is recognized by its first
// field being "address" or "email". With a header, columns are found by name: address (or email),
// reason, expires_at, detail; source, created_at, message_id and event_id (written by the
// export) are ignored; any other name refuses the input. Without a header the columns are
// address, reason, expires_at, detail, in that order, all but address optional. reason defaults
// to "manual"; expires_at is RFC 3339 (2026-12-31T00:00:00Z) or empty for never. One leading
// apostrophe of any field is dropped: it is the export's formula guard. Blank lines are skipped.
struct SuppressionCsvRow {
  std::string address, reason, detail;  // address normalized, reason valid, detail as given
  int64_t expires_ms = 0;
};
struct SuppressionCsvError {
  size_t line;  // 1-based line where the bad record starts (the header is line 1)
  std::string message;
};
// Bad rows are reported with their line number and skipped; the rest are returned.
struct SuppressionCsvResult {
  std::vector<SuppressionCsvRow> rows;
  std::vector<SuppressionCsvError> errors;
};
// Refuses the whole input over max_bytes (kMessageTooLarge) or over max_rows records, good or
// bad (kBatchTooLarge), when it is not text (NUL bytes, invalid UTF-8) or has a bad header
// (kInvalidValue, field "csv").
Result<SuppressionCsvResult> ParseSuppressionCsv(std::string_view csv, size_t max_rows = 100000,
                                                 size_t max_bytes = 16 * 1024 * 1024);

// CSV export: "address,reason,source,created_at,expires_at,message_id,detail\r\n".
std::string SuppressionCsvHeader();
// One entry as a CSV line (CRLF), fields quoted as needed, times RFC 3339, expires_at "" for never.
// Against CSV (formula) injection, as OWASP advises, a field starting with = + - @ (or tab, CR)
// gets a leading apostrophe, and so does one starting with an apostrophe, so the import's "drop
// one leading apostrophe" gives every value back exactly.
std::string SuppressionCsvLine(const Suppression& s);

}  // namespace mp
