// Admin API for the delivery queue: what waits, and operator actions on it. Behind admin.token.
//   GET  /v1/admin/queue?tenant=&domain=&limit=       depth by tenant, domain, site, pool, age,
//                                                     status
//   GET  /v1/admin/queue/messages?tenant=&domain=&status=&limit=&cursor=   a page of messages
//   POST /v1/admin/queue/hold|release|retry|purge     body: exactly one selector,
//        {"id"} | {"tenant"} | {"tenant", "domain"} | {"domain"}
// Reads walk the queue index and the held index (docs/formats/spool.md) and read each envelope,
// on the blocking pool. Actions rewrite each message under the delivery engine's cancel protocol
// (a message being delivered right now is left alone and counted as busy), at most kBatch
// messages per write batch, and act only on mail accepted before the request.
// SECURITY: query strings and bodies are untrusted (the admin token is checked before): every
// value is validated, cursors are bounded and only ever positions in the index ranges the query
// names, and every walk is bounded.
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <map>
#include <set>
#include <unordered_set>

#include "api/admin_util.h"
#include "api/handlers.h"
#include "api/problem.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "ingest/tenants.h"
#include "store/event_log.h"
#include "store/spool.h"

namespace mp {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr size_t kBatch = 1000;             // messages per write batch of an action
constexpr size_t kIdsShown = 100;           // changed ids listed in an action's answer
constexpr size_t kTopShown = 100;           // rows of by_domain, by_site and by_pool
constexpr int64_t kSummaryLimit = 1000000;  // index entries a summary reads by default

// ---- selectors and query values ----------------------------------------------------------------

// Recipient domains are stored in A-labels and lower case; so are selectors. Address literals
// ("[192.0.2.1]") are domains too.
Status CheckDomain(std::string& d, const char* field) {
  for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  bool ok = !d.empty() && d.size() <= 255;
  for (char c : d) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                c == '_' || c == '[' || c == ']' || c == ':');
  }
  if (!ok) {
    return MakeError(Code::kInvalidValue,
                     "domain must be a domain name in A-labels (like example.com or "
                     "xn--bcher-kva.example), at most 255 characters",
                     field);
  }
  return Status::Ok();
}

Status CheckTenant(const ApiContext& ctx, const std::string& t, const char* field) {
  if (t.empty() || t.size() > 128 || !ctx.tenants.Get(t)) {
    return MakeError(Code::kInvalidValue, "no such tenant: " + t.substr(0, 128), field);
  }
  return Status::Ok();
}

struct Selector {
  std::optional<MessageId> id;
  std::string tenant;  // "" = every tenant
  std::string domain;  // "" = every domain
};

Result<Selector> ParseSelector(const ApiContext& ctx, const json::object& o) {
  Status s = OnlyFields(o, {"id", "tenant", "domain"});
  if (!s.ok()) return s.error();
  Selector sel;
  std::string id;
  for (auto [name, out] : {std::pair<const char*, std::string*>{"id", &id},
                           {"tenant", &sel.tenant},
                           {"domain", &sel.domain}}) {
    const json::value* v = o.if_contains(name);
    if (!v) continue;
    if (!v->is_string()) {
      return MakeError(Code::kInvalidType, std::string(name) + " must be a string", name);
    }
    if (v->get_string().empty()) {
      return MakeError(Code::kInvalidValue, std::string(name) + " must not be empty", name);
    }
    out->assign(v->get_string().data(), std::min<size_t>(v->get_string().size(), 1024));
  }
  if (!id.empty()) {
    if (!sel.tenant.empty() || !sel.domain.empty()) {
      return MakeError(Code::kInvalidValue,
                       "id selects one message: give it alone, without tenant or domain", "id");
    }
    sel.id = MessageId::Parse(id);
    if (!sel.id) {
      return MakeError(Code::kInvalidValue, "id must be a message id (26 characters of ULID text)",
                       "id");
    }
    return sel;
  }
  if (sel.tenant.empty() && sel.domain.empty()) {
    return MakeError(Code::kMissingField,
                     "select messages with one of {\"id\"}, {\"tenant\"}, {\"tenant\", \"domain\"} "
                     "or {\"domain\"}");
  }
  if (!sel.tenant.empty()) {
    s = CheckTenant(ctx, sel.tenant, "tenant");
    if (!s.ok()) return s.error();
  }
  if (!sel.domain.empty()) {
    s = CheckDomain(sel.domain, "domain");
    if (!s.ok()) return s.error();
  }
  return sel;
}

// The ?tenant= and ?domain= filters of the read routes (absent or empty: no filter).
Result<Selector> ParseFilters(const ApiContext& ctx, const HttpRequest& req) {
  Selector sel;
  sel.tenant = QueryParam(req.query, "tenant").value_or("");
  sel.domain = QueryParam(req.query, "domain").value_or("");
  if (!sel.tenant.empty()) {
    Status s = CheckTenant(ctx, sel.tenant, "tenant");
    if (!s.ok()) return s.error();
  }
  if (!sel.domain.empty()) {
    Status s = CheckDomain(sel.domain, "domain");
    if (!s.ok()) return s.error();
  }
  return sel;
}

Result<int64_t> IntParam(const HttpRequest& req, const char* name, int64_t lo, int64_t hi,
                         int64_t dflt) {
  auto v = QueryParam(req.query, name);
  if (!v) return dflt;
  char* end = nullptr;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end || n < lo || n > hi) {
    return MakeError(Code::kInvalidValue,
                     std::string(name) + " must be an integer from " + std::to_string(lo) + " to " +
                         std::to_string(hi),
                     name);
  }
  return static_cast<int64_t>(n);
}

std::string_view DomainOf(const std::string& address) {
  size_t at = address.rfind('@');
  return at == std::string::npos ? std::string_view() : std::string_view(address).substr(at + 1);
}

bool DomainIs(const std::string& address, const std::string& domain) {
  std::string_view d = DomainOf(address);
  if (d.size() != domain.size()) return false;
  for (size_t i = 0; i < d.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(d[i])) != domain[i]) return false;
  }
  return true;
}

// A recipient the selector's domain (if any) chooses, still to be delivered.
bool Chosen(const RecipientRecord& r, const std::string& domain) {
  return r.Pending() && (domain.empty() || DomainIs(r.address, domain));
}

bool AnyChosen(const Envelope& e, const std::string& domain) {
  for (const RecipientRecord& r : e.recipients) {
    if (Chosen(r, domain)) return true;
  }
  return false;
}

// Where a pending recipient was last routed: a message is routed only when it is tried, so this
// is its last attempt's site and pool. Static relay routes have no pool ("none"); attempts
// written before they recorded their site show "relay:<host>". Never tried, or failed before
// routing (DNS): "unrouted".
std::string LastSite(const RecipientRecord& r) {
  if (r.attempts.empty()) return "unrouted";
  const Attempt& a = r.attempts.back();
  if (!a.site.empty()) return a.site;
  return a.mx.empty() ? "unrouted" : "relay:" + a.mx;
}

std::string LastPool(const RecipientRecord& r) {
  if (r.attempts.empty()) return "unrouted";
  const Attempt& a = r.attempts.back();
  if (!a.pool.empty()) return a.pool;
  return a.mx.empty() ? "unrouted" : "none";
}

std::string_view QueueStatus(const Envelope& e) {
  return e.held ? std::string_view("held") : MessageStatusName(e.status);
}

// ---- summary -----------------------------------------------------------------------------------

struct Counts {
  uint64_t messages = 0, recipients = 0;
};

constexpr std::string_view kAgeNames[] = {"<1m",  "1-5m",  "5-30m", "30m-2h",
                                          "2-6h", "6-24h", "1-3d",  ">3d"};
constexpr int64_t kAgeUpper[] = {60'000,     300'000,    1'800'000,  7'200'000,
                                 21'600'000, 86'400'000, 259'200'000};

size_t AgeBucket(int64_t age_ms) {
  size_t i = 0;
  while (i < std::size(kAgeUpper) && age_ms >= kAgeUpper[i]) ++i;
  return i;
}

struct Summary {
  Counts total;
  std::map<std::string, Counts> tenants, domains, sites, pools;
  // Messages by state, in this order (others, which a pending message never has, after them).
  std::vector<std::pair<std::string, uint64_t>> status{
      {"queued", 0}, {"scheduled", 0}, {"deferred", 0}, {"held", 0}};
  void CountStatus(std::string_view name) {
    for (auto& [n, count] : status) {
      if (n == name) {
        ++count;
        return;
      }
    }
    status.emplace_back(std::string(name), 1);
  }
  uint64_t ages[std::size(kAgeNames)] = {};
  int64_t oldest_ms = 0;
  uint64_t scanned = 0;
  bool truncated = false;
};

Result<Summary> Summarize(KvStore& kv, const Selector& f, int64_t limit, int64_t now) {
  Summary s;
  IndexWalk walk(kv, f.tenant, true, true);
  std::set<std::string> seen;  // per message: the domain, site and pool rows it counted in
  while (!walk.done()) {
    int64_t room = limit - static_cast<int64_t>(s.scanned);
    size_t want = static_cast<size_t>(std::min<int64_t>(kBatch, room));
    if (want == 0) {
      auto rest = walk.Next(1);
      if (!rest.ok()) return rest.error();
      s.truncated = !rest.value().empty();
      break;
    }
    auto entries = walk.Next(want);
    if (!entries.ok()) return entries.error();
    s.scanned += entries.value().size();
    for (const IndexEntry& en : entries.value()) {
      auto read = ReadIndexed(kv, en);
      if (!read.ok()) return read.error();
      if (!read.value() || !AnyChosen(*read.value(), f.domain)) continue;
      const Envelope& e = *read.value();
      seen.clear();
      uint64_t rcpts = 0;
      for (const RecipientRecord& r : e.recipients) {
        if (!Chosen(r, f.domain)) continue;
        ++rcpts;
        std::string domain(DomainOf(r.address));
        for (char& c : domain) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::pair<std::map<std::string, Counts>*, std::string> rows[] = {
            {&s.domains, "d" + domain},
            {&s.sites, "s" + LastSite(r)},
            {&s.pools, "p" + LastPool(r)}};
        for (auto& [map, key] : rows) {
          Counts& c = (*map)[key.substr(1)];
          ++c.recipients;
          if (seen.insert(key).second) ++c.messages;
        }
      }
      ++s.total.messages;
      s.total.recipients += rcpts;
      Counts& t = s.tenants[e.tenant_id];
      ++t.messages;
      t.recipients += rcpts;
      s.CountStatus(QueueStatus(e));
      ++s.ages[AgeBucket(now - e.created_ms)];
      if (s.oldest_ms == 0 || e.created_ms < s.oldest_ms) s.oldest_ms = e.created_ms;
    }
  }
  return s;
}

json::array TopRows(const std::map<std::string, Counts>& m, const char* name, size_t n) {
  std::vector<std::pair<std::string, Counts>> rows(m.begin(), m.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.recipients > b.second.recipients;
  });
  if (rows.size() > n) rows.resize(n);
  json::array out;
  for (const auto& [key, c] : rows) {
    out.push_back(
        json::object{{name, key}, {"messages", c.messages}, {"recipients", c.recipients}});
  }
  return out;
}

json::value OrNull(const std::string& s) {
  return s.empty() ? json::value(nullptr) : json::value(s);
}

json::object SummaryView(const ApiContext& ctx, const Summary& s, const Selector& f, int64_t now) {
  json::array tenants;
  std::vector<std::pair<std::string, Counts>> rows(s.tenants.begin(), s.tenants.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second.messages > b.second.messages;
  });
  for (const auto& [id, c] : rows) {
    auto t = ctx.tenants.Get(id);
    tenants.push_back(json::object{{"tenant", id},
                                   {"name", t ? json::value(t->name) : json::value(nullptr)},
                                   {"messages", c.messages},
                                   {"recipients", c.recipients}});
  }
  json::object status;
  for (const auto& [k, v] : s.status) status[k] = v;
  json::array ages;
  for (size_t i = 0; i < std::size(kAgeNames); ++i) {
    ages.push_back(json::object{{"age", kAgeNames[i]}, {"messages", s.ages[i]}});
  }
  return json::object{{"generated_at", FormatRfc3339(now)},
                      {"tenant", OrNull(f.tenant)},
                      {"domain", OrNull(f.domain)},
                      {"messages", s.total.messages},
                      {"recipients", s.total.recipients},
                      {"oldest_created_at", s.oldest_ms ? json::value(FormatRfc3339(s.oldest_ms))
                                                        : json::value(nullptr)},
                      {"scanned", s.scanned},
                      {"truncated", s.truncated},
                      {"by_status", std::move(status)},
                      {"by_tenant", std::move(tenants)},
                      {"by_domain", TopRows(s.domains, "domain", kTopShown)},
                      {"domains", s.domains.size()},
                      {"by_site", TopRows(s.sites, "site", kTopShown)},
                      {"sites", s.sites.size()},
                      {"by_pool", TopRows(s.pools, "pool", kTopShown)},
                      {"by_age", std::move(ages)}};
}

asio::awaitable<HttpResponse> GetSummary(ApiContext& ctx, const HttpRequest& req) {
  auto filters = ParseFilters(ctx, req);
  if (!filters.ok()) co_return ProblemResponse(filters.error());
  auto limit = IntParam(req, "limit", 1, 100000000, kSummaryLimit);
  if (!limit.ok()) co_return ProblemResponse(limit.error());
  Selector f = std::move(filters.value());
  int64_t lim = limit.value();
  int64_t now = ctx.clock.NowMs();
  KvStore& kv = ctx.kv;
  auto run = [&kv, &f, lim, now] { return Summarize(kv, f, lim, now); };
  Result<Summary> s = co_await RunBlocking<Result<Summary>>(ctx.blocking, run);
  if (!s.ok()) co_return ProblemResponse(s.error());
  co_return JsonResponse(200, json::serialize(SummaryView(ctx, s.value(), f, now)));
}

// ---- listing -----------------------------------------------------------------------------------

json::object ItemView(const Envelope& e) {
  json::array rcpts;
  for (const RecipientRecord& r : e.recipients) {
    json::object ro{{"address", r.address},
                    {"domain", DomainOf(r.address)},
                    {"status", RecipientStatusName(r.status)},
                    {"attempts_total", r.attempts_total}};
    if (r.status == RecipientStatus::kDeferred) {
      ro["next_attempt_at"] = FormatRfc3339(r.next_attempt_ms);
    }
    if (r.attempts.empty()) {
      ro["last_reply"] = nullptr;
    } else {
      const Attempt& a = r.attempts.back();
      ro["last_reply"] = json::object{{"at", FormatRfc3339(a.at_ms)},
                                      {"code", a.code},
                                      {"enhanced_code", a.enhanced},
                                      {"text", a.text},
                                      {"mx", a.mx},
                                      {"site", LastSite(r)},
                                      {"pool", LastPool(r)}};
    }
    rcpts.push_back(std::move(ro));
  }
  return json::object{
      {"id", e.id.ToString()},
      {"tenant", e.tenant_id},
      {"status", QueueStatus(e)},
      {"held", e.held},
      {"due_at", e.held ? json::value(nullptr) : json::value(FormatRfc3339(QueueDue(e)))},
      {"created_at", FormatRfc3339(e.created_ms)},
      {"send_at", FormatRfc3339(e.send_at_ms)},
      {"updated_at", FormatRfc3339(e.updated_ms)},
      {"from", e.mail_from},
      {"subject", e.subject},
      {"recipients", std::move(rcpts)}};
}

struct Page {
  std::vector<Envelope> messages;
  std::string next_cursor;  // "" at the end
};

Result<Page> ListPage(KvStore& kv, const Selector& f, const std::string& status, size_t limit,
                      const std::optional<std::string>& cursor) {
  bool held = status.empty() || status == "held";
  bool queued = status != "held";
  IndexWalk walk(kv, f.tenant, queued, held);
  if (cursor && !walk.Resume(*cursor)) {
    return MakeError(Code::kInvalidValue, "cursor is not a cursor of this listing", "cursor");
  }
  Page page;
  // A page reads at most this many index entries, so a narrow filter over a deep queue answers in
  // bounded time (with fewer messages and a cursor to go on).
  size_t budget = std::max<size_t>(10000, limit * 10);
  while (!walk.done() && page.messages.size() < limit && budget > 0) {
    // Never more entries than the page has room for, so the cursor lands right after the last
    // entry read.
    size_t want = std::min({kBatch, limit - page.messages.size(), budget});
    auto entries = walk.Next(want);
    if (!entries.ok()) return entries.error();
    budget -= std::min(budget, entries.value().size());
    for (const IndexEntry& en : entries.value()) {
      auto read = ReadIndexed(kv, en);
      if (!read.ok()) return read.error();
      if (!read.value() || !AnyChosen(*read.value(), f.domain)) continue;
      if (!status.empty() && QueueStatus(*read.value()) != status) continue;
      page.messages.push_back(std::move(*read.value()));
    }
  }
  if (!walk.done()) page.next_cursor = walk.Cursor();
  return page;
}

asio::awaitable<HttpResponse> GetMessages(ApiContext& ctx, const HttpRequest& req) {
  auto filters = ParseFilters(ctx, req);
  if (!filters.ok()) co_return ProblemResponse(filters.error());
  auto limit = IntParam(req, "limit", 1, 1000, 100);
  if (!limit.ok()) co_return ProblemResponse(limit.error());
  std::string status = QueryParam(req.query, "status").value_or("");
  if (!status.empty() && status != "queued" && status != "scheduled" && status != "deferred" &&
      status != "held") {
    co_return ProblemResponse(MakeError(
        Code::kInvalidValue, "status must be queued, scheduled, deferred or held", "status"));
  }
  std::optional<std::string> cursor = QueryParam(req.query, "cursor");
  if (cursor && cursor->empty()) cursor.reset();
  Selector f = std::move(filters.value());
  size_t lim = static_cast<size_t>(limit.value());
  KvStore& kv = ctx.kv;
  auto run = [&kv, &f, &status, lim, &cursor] { return ListPage(kv, f, status, lim, cursor); };
  Result<Page> page = co_await RunBlocking<Result<Page>>(ctx.blocking, run);
  if (!page.ok()) co_return ProblemResponse(page.error());
  json::array items;
  for (const Envelope& e : page.value().messages) items.push_back(ItemView(e));
  json::object out{{"messages", std::move(items)},
                   {"next_cursor", OrNull(page.value().next_cursor)}};
  co_return JsonResponse(200, json::serialize(out));
}

// ---- actions -----------------------------------------------------------------------------------

enum class Action { kHold, kRelease, kRetry, kPurge };

struct ActionResult {
  uint64_t matched = 0, changed = 0, busy = 0;
  std::vector<std::string> ids;  // the first kIdsShown changed
  std::set<std::string> moved;   // tenants whose queue entries moved earlier
};

// Whether the action would change e (the selector's domain chooses what purge cancels).
bool WouldChange(Action a, const Envelope& e, int64_t now) {
  switch (a) {
    case Action::kHold:
      return !e.held;
    case Action::kRelease:
      return e.held;
    case Action::kRetry:
      // Scheduled mail waits for its send_at; retry is for mail that waits for a retry.
      return !e.held && e.status != MessageStatus::kScheduled && QueueDue(e) > now;
    case Action::kPurge:
      return true;
  }
  return false;
}

// Applies the action to e, adding its writes to batch. Returns whether its queue entry was put
// at an earlier time (release, retry), which the engine's scan must be told about.
bool Apply(Action a, Envelope& e, const std::string& domain, int64_t now, const Clock& clock,
           WriteBatch& batch) {
  e.updated_ms = now;
  switch (a) {
    case Action::kHold:
      AddHold(batch, e);
      return false;
    case Action::kRelease: {
      int64_t due = std::max(now, e.send_at_ms);
      for (RecipientRecord& r : e.recipients) {
        if (r.status == RecipientStatus::kDeferred) r.next_attempt_ms = due;
      }
      AddRelease(batch, e, due);
      return true;
    }
    case Action::kRetry: {
      for (RecipientRecord& r : e.recipients) {
        if (r.status == RecipientStatus::kDeferred) r.next_attempt_ms = now;
      }
      AddQueueMove(batch, e, QueueDue(e), now);
      return true;
    }
    case Action::kPurge:
      for (RecipientRecord& r : e.recipients) {
        if (!Chosen(r, domain)) continue;
        r.status = RecipientStatus::kCanceled;
        // As a cancel through the API writes.
        AddEvent(batch, MakeEvent(e, "canceled", r.address, clock, now));
      }
      e.status = DeriveStatus(e);
      AddEnvelopeUpdate(batch, e, !AnyPending(e));
      return false;
  }
  return false;
}

// Runs an action over the entries of sel (blocking: store reads and synced commits).
class ActionRun {
 public:
  ActionRun(ApiContext& ctx, Action action, const Selector& sel)
      : ctx_(ctx), action_(action), sel_(sel), start_ms_(ctx.clock.NowMs()) {}

  Result<ActionResult> Run() {
    if (sel_.id) return RunOne();
    // Hold walks the held index first so the messages it holds are not met again; release needs
    // only the held index, retry only the queue.
    std::vector<std::pair<bool, bool>> walks;  // (queue, held)
    switch (action_) {
      case Action::kHold:
        walks = {{false, true}, {true, false}};
        break;
      case Action::kRelease:
        walks = {{false, true}};
        break;
      case Action::kRetry:
        walks = {{true, false}};
        break;
      case Action::kPurge:
        walks = {{true, true}};
        break;
    }
    for (auto [queue, held] : walks) {
      IndexWalk walk(ctx_.kv, sel_.tenant, queue, held);
      while (!walk.done()) {
        auto entries = walk.Next(kBatch);
        if (!entries.ok()) return entries.error();
        std::vector<Envelope> chosen;
        for (const IndexEntry& en : entries.value()) {
          auto read = ReadIndexed(ctx_.kv, en);
          if (!read.ok()) return read.error();
          // Mail accepted after the request began is not the operator's target.
          if (!read.value() || en.id.TimestampMs() > start_ms_ ||
              !AnyChosen(*read.value(), sel_.domain)) {
            continue;
          }
          // Retry: a message tried since the request began (by the engine, or retried by this
          // request and met again further on) needs no retry.
          if (action_ == Action::kRetry && read.value()->updated_ms >= start_ms_) continue;
          std::string raw(en.id.Raw());
          if (busy_ids_.erase(raw)) {  // met again (the engine moved it on): count it once
            --r_.busy;
            --r_.matched;
          }
          chosen.push_back(std::move(*read.value()));
        }
        Status s = Change(chosen);
        if (!s.ok()) return s.error();
      }
    }
    return std::move(r_);
  }

 private:
  Result<ActionResult> RunOne() {
    auto read = ReadEnvelope(ctx_.kv, *sel_.id);
    if (!read.ok()) return read.error();
    if (!read.value()) return MakeError(Code::kNotFound, "no such message", "id");
    std::vector<Envelope> one;
    if (AnyPending(*read.value())) one.push_back(std::move(*read.value()));
    Status s = Change(one);
    if (!s.ok()) return s.error();
    return std::move(r_);
  }

  // Changes up to kBatch messages in one write batch under the cancel protocol.
  Status Change(std::vector<Envelope>& chosen) {
    WriteBatch batch;
    std::vector<MessageId> claimed;
    int64_t now = ctx_.clock.NowMs();
    for (Envelope& seen : chosen) {
      ++r_.matched;
      if (!WouldChange(action_, seen, now)) continue;
      if (!ctx_.begin_cancel(seen.id)) {
        ++r_.busy;
        busy_ids_.insert(std::string(seen.id.Raw()));
        continue;
      }
      claimed.push_back(seen.id);
      // Read again under the protection: an attempt may have ended since.
      auto fresh = ReadEnvelope(ctx_.kv, seen.id);
      if (!fresh.ok()) {
        EndAll(claimed);
        return fresh.error();
      }
      if (!fresh.value() || !AnyChosen(*fresh.value(), sel_.domain) ||
          !WouldChange(action_, *fresh.value(), now)) {
        continue;
      }
      Envelope& e = *fresh.value();
      if (Apply(action_, e, sel_.domain, now, ctx_.clock, batch)) r_.moved.insert(e.tenant_id);
      ++r_.changed;
      if (r_.ids.size() < kIdsShown) r_.ids.push_back(e.id.ToString());
    }
    Status s = batch.empty() ? Status::Ok() : ctx_.kv.CommitAndWait(std::move(batch));
    EndAll(claimed);
    return s;
  }

  void EndAll(const std::vector<MessageId>& ids) {
    for (const MessageId& id : ids) ctx_.end_cancel(id);
  }

  ApiContext& ctx_;
  Action action_;
  const Selector& sel_;
  int64_t start_ms_;
  ActionResult r_;
  std::unordered_set<std::string> busy_ids_;  // raw ids counted busy
};

asio::awaitable<HttpResponse> PostAction(ApiContext& ctx, HttpRequest& req, Action action,
                                         std::string_view name) {
  auto body = BodyObject(req);
  if (!body.ok()) co_return ProblemResponse(body.error());
  auto parsed = ParseSelector(ctx, body.value());
  if (!parsed.ok()) co_return ProblemResponse(parsed.error());
  Selector sel = std::move(parsed.value());
  auto run = [&ctx, action, &sel] { return ActionRun(ctx, action, sel).Run(); };
  Result<ActionResult> r = co_await RunBlocking<Result<ActionResult>>(ctx.blocking, run);
  if (!r.ok()) co_return ProblemResponse(r.error());
  const ActionResult& a = r.value();
  // The engine's scan skips entries older than its last pass: rescan where entries moved earlier.
  for (const std::string& t : a.moved) ctx.on_tenant_changed(t);
  std::string actor(req.Header("x-mailplane-actor").substr(0, 128));
  for (char& c : actor) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  std::string event = "queue." + std::string(name);
  log::Info(event, {{"actor", actor.empty() ? std::string("admin") : actor},
                    {"id", sel.id ? sel.id->ToString() : std::string()},
                    {"tenant", sel.tenant},
                    {"domain", sel.domain},
                    {"matched", a.matched},
                    {"changed", a.changed},
                    {"busy", a.busy}});
  json::array ids;
  for (const std::string& id : a.ids) ids.emplace_back(id);
  co_return JsonResponse(200, json::serialize(json::object{{"matched", a.matched},
                                                           {"changed", a.changed},
                                                           {"busy", a.busy},
                                                           {"ids", std::move(ids)}}));
}

}  // namespace

asio::awaitable<HttpResponse> HandleAdminQueue(ApiContext& ctx, HttpRequest& req) {
  std::string_view p = req.path;
  if (p.size() > 1 && p.back() == '/') p.remove_suffix(1);
  const std::string& m = req.method;
  if (p == "/v1/admin/queue") {
    if (m != "GET") co_return MethodNotAllowed("GET");
    HttpResponse r = co_await GetSummary(ctx, req);
    co_return r;
  }
  if (p == "/v1/admin/queue/messages") {
    if (m != "GET") co_return MethodNotAllowed("GET");
    HttpResponse r = co_await GetMessages(ctx, req);
    co_return r;
  }
  struct Route {
    std::string_view name;
    Action action;
  };
  for (const Route& route : {Route{"hold", Action::kHold}, Route{"release", Action::kRelease},
                             Route{"retry", Action::kRetry}, Route{"purge", Action::kPurge}}) {
    if (p.substr(0, 16) == "/v1/admin/queue/" && p.substr(16) == route.name) {
      if (m != "POST") co_return MethodNotAllowed("POST");
      HttpResponse r = co_await PostAction(ctx, req, route.action, route.name);
      co_return r;
    }
  }
  co_return ProblemResponse(MakeError(Code::kNotFound, "no such route"));
}

}  // namespace mp
