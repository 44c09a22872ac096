#include "events/webhook_service.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "core/ascii.h"
#include "core/clock.h"
#include "core/id.h"
#include "core/log.h"
#include "core/metrics.h"
#include "events/http_client.h"
#include "events/webhook_sign.h"
#include "events/webhook_url.h"
#include "store/event_log.h"
#include "store/kv.h"

namespace mp::events {
namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr char kFormatV1 = 1;
constexpr std::string_view kEndpointPrefix = "webhook/";
constexpr std::string_view kStatePrefix = "whstate/";
constexpr size_t kMaxDescription = 256;
constexpr size_t kMaxEventTypes = 32;
// Events looked at per dispatch round of one endpoint when its filter skips most of them.
constexpr size_t kMaxScanPerRound = 10000;

std::string Key(std::string_view prefix, const std::string& tenant, const std::string& id) {
  std::string k(prefix);
  k += tenant;
  k.push_back('\0');
  k += id;
  return k;
}

std::string EncodeEndpoint(const WebhookEndpoint& e) {
  json::array types, secrets;
  for (const auto& t : e.event_types) types.emplace_back(t);
  for (const auto& s : e.secrets) {
    secrets.push_back(json::object{{"value", s.value}, {"expires", s.expires_ms}});
  }
  json::object o{{"id", e.id},
                 {"tenant", e.tenant},
                 {"url", e.url},
                 {"description", e.description},
                 {"types", std::move(types)},
                 {"secrets", std::move(secrets)},
                 {"batch", e.batch_size},
                 {"created", e.created_ms},
                 {"updated", e.updated_ms}};
  return std::string(1, kFormatV1) + json::serialize(o);
}

std::optional<WebhookEndpoint> DecodeEndpoint(std::string_view data) {
  if (data.empty() || data[0] != kFormatV1) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(data.substr(1), ec);
  if (ec || !v.is_object()) return std::nullopt;
  try {
    const json::object& o = v.get_object();
    WebhookEndpoint e;
    e.id = o.at("id").as_string();
    e.tenant = o.at("tenant").as_string();
    e.url = o.at("url").as_string();
    e.description = o.at("description").as_string();
    for (const auto& t : o.at("types").as_array()) e.event_types.emplace_back(t.as_string());
    for (const auto& s : o.at("secrets").as_array()) {
      const json::object& so = s.as_object();
      e.secrets.push_back(
          {std::string(so.at("value").as_string()), so.at("expires").to_number<int64_t>()});
    }
    e.batch_size = o.at("batch").to_number<int>();
    e.created_ms = o.at("created").to_number<int64_t>();
    e.updated_ms = o.at("updated").to_number<int64_t>();
    return e;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string EncodeState(const WebhookState& s) {
  json::object o{{"enabled", s.enabled},
                 {"disabled_reason", s.disabled_reason},
                 {"disabled", s.disabled_ms},
                 {"cursor", s.cursor},
                 {"failing_since", s.failing_since_ms},
                 {"failures", s.failures},
                 {"next", s.next_attempt_ms},
                 {"status", s.last_status},
                 {"error", s.last_error},
                 {"attempt", s.last_attempt_ms},
                 {"success", s.last_success_ms},
                 {"events", s.events_delivered},
                 {"ok", s.requests_ok},
                 {"failed", s.requests_failed}};
  return std::string(1, kFormatV1) + json::serialize(o);
}

std::optional<WebhookState> DecodeState(std::string_view data) {
  if (data.empty() || data[0] != kFormatV1) return std::nullopt;
  boost::system::error_code ec;
  json::value v = json::parse(data.substr(1), ec);
  if (ec || !v.is_object()) return std::nullopt;
  try {
    const json::object& o = v.get_object();
    WebhookState s;
    s.enabled = o.at("enabled").as_bool();
    s.disabled_reason = o.at("disabled_reason").as_string();
    s.disabled_ms = o.at("disabled").to_number<int64_t>();
    s.cursor = o.at("cursor").as_string();
    s.failing_since_ms = o.at("failing_since").to_number<int64_t>();
    s.failures = o.at("failures").to_number<int>();
    s.next_attempt_ms = o.at("next").to_number<int64_t>();
    s.last_status = o.at("status").to_number<int>();
    s.last_error = o.at("error").as_string();
    s.last_attempt_ms = o.at("attempt").to_number<int64_t>();
    s.last_success_ms = o.at("success").to_number<int64_t>();
    s.events_delivered = o.at("events").to_number<uint64_t>();
    s.requests_ok = o.at("ok").to_number<uint64_t>();
    s.requests_failed = o.at("failed").to_number<uint64_t>();
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string LowerId(const MessageId& id) { return AsciiLower(id.ToString()); }

// A batch ready to send (kept as is for its retries, so a receiver sees the same webhook-id and
// body every time).
struct Batch {
  std::string msg_id;
  std::string body;
  std::string end_cursor;  // the position after its last event
  size_t events = 0;
};

}  // namespace

struct WebhookService::Impl {
  using EndpointKey = std::pair<std::string, std::string>;  // tenant, id
  struct Entry {
    WebhookEndpoint endpoint;
    WebhookState state;
    bool in_flight = false;
    std::optional<Batch> retry;   // the batch that failed, sent again when next_attempt_ms comes
    uint64_t generation = 0;      // bumped by API changes: a result from before them is stale
    int64_t skip_written_ms = 0;  // when a cursor moved past skipped events was last written
  };

  Impl(const WebhooksConfig& c, KvStore& k, const Clock& cl)
      : config(c),
        kv(k),
        clock(cl),
        tls(asio::ssl::context::tls_client),
        requests_ok(Metrics::Global().GetCounter("mailplane_webhook_requests_total",
                                                 "Webhook requests by result", {{"result", "ok"}})),
        requests_failed(Metrics::Global().GetCounter("mailplane_webhook_requests_total",
                                                     "Webhook requests by result",
                                                     {{"result", "failed"}})),
        events_sent(Metrics::Global().GetCounter("mailplane_webhook_events_delivered_total",
                                                 "Events delivered to webhook endpoints")),
        disabled_total(Metrics::Global().GetCounter(
            "mailplane_webhook_endpoints_disabled_total",
            "Webhook endpoints disabled after failing for webhooks.disable_after_seconds")) {
    boost::system::error_code ec;
    if (config.ca_file.empty()) {
      tls.set_default_verify_paths(ec);
    } else {
      tls.load_verify_file(config.ca_file, ec);
    }
    if (ec) log::Warn("webhooks.trust_store_failed", {{"reason", ec.message()}});
  }

  const WebhooksConfig& config;
  KvStore& kv;
  const Clock& clock;
  asio::ssl::context tls;
  Counter& requests_ok;
  Counter& requests_failed;
  Counter& events_sent;
  Counter& disabled_total;

  mutable std::mutex mu;
  std::map<EndpointKey, Entry> entries;
  size_t in_flight = 0;
  std::atomic<bool> flush_all{false};  // a state write failed: write every state again

  asio::io_context io;
  std::thread thread;
  bool started = false;

  int BatchSize(const WebhookEndpoint& e) const {
    return e.batch_size > 0 ? e.batch_size : config.batch_size;
  }

  // Queues a write of entry's records. Called with mu held, so writes reach the store's queue in
  // the order their snapshots were taken (the store commits in queue order).
  std::future<Status> WriteLocked(const Entry& entry, bool endpoint, bool state,
                                  std::optional<Event> event = std::nullopt) {
    WriteBatch b;
    if (endpoint) {
      b.Put(Column::kState, Key(kEndpointPrefix, entry.endpoint.tenant, entry.endpoint.id),
            EncodeEndpoint(entry.endpoint));
    }
    if (state) {
      b.Put(Column::kState, Key(kStatePrefix, entry.endpoint.tenant, entry.endpoint.id),
            EncodeState(entry.state));
    }
    if (event) AddEvent(b, *event);
    auto promise = std::make_shared<std::promise<Status>>();
    std::future<Status> f = promise->get_future();
    // The callback may run right here (an overloaded store): it must not take mu.
    kv.Commit(std::move(b), [this, promise](Status s) {
      if (!s.ok()) {
        log::Warn("webhooks.state_write_failed", {{"reason", s.error().detail}});
        flush_all = true;
      }
      promise->set_value(std::move(s));
    });
    return f;
  }

  Result<Entry*> FindLocked(const std::string& tenant, const std::string& id) {
    auto it = entries.find({tenant, id});
    if (it == entries.end()) {
      return MakeError(Code::kNotFound, "no webhook endpoint " + id);
    }
    return &it->second;
  }

  static WebhookView View(const Entry& e) { return {e.endpoint, e.state}; }

  Status CheckUrl(const std::string& url) const {
    auto parsed = ParseWebhookUrl(url);
    if (!parsed.ok()) return parsed.error();
    if (!config.allow_private_addresses && parsed.value().HostIsIp()) {
      boost::system::error_code ec;
      auto a = asio::ip::make_address(parsed.value().host, ec);
      if (!ec && !IsPublicAddress(a)) {
        return MakeError(Code::kInvalidValue,
                         "the endpoint's address " + parsed.value().host +
                             " is private or reserved; webhook endpoints must be public",
                         "url");
      }
    }
    return {};
  }

  Status CheckChange(const WebhookChange& c) const {
    if (c.url) {
      Status s = CheckUrl(*c.url);
      if (!s.ok()) return s;
    }
    if (c.description) {
      if (c.description->size() > kMaxDescription) {
        return MakeError(Code::kInvalidValue, "description is longer than 256 bytes",
                         "description");
      }
      for (unsigned char ch : *c.description) {
        if (ch < 0x20 || ch == 0x7f) {
          return MakeError(Code::kInvalidValue, "description has a control character",
                           "description");
        }
      }
    }
    if (c.event_types) {
      if (c.event_types->size() > kMaxEventTypes) {
        return MakeError(Code::kInvalidValue, "at most 32 event types", "event_types");
      }
      for (const std::string& t : *c.event_types) {
        if (!IsEventType(t)) {
          return MakeError(Code::kInvalidValue, "unknown event type '" + t + "'", "event_types");
        }
      }
    }
    if (c.batch_size && (*c.batch_size < 1 || *c.batch_size > config.max_batch_size)) {
      return MakeError(Code::kInvalidValue,
                       "batch_size must be 1 to " + std::to_string(config.max_batch_size),
                       "batch_size");
    }
    return {};
  }

  static void Apply(WebhookEndpoint& e, const WebhookChange& c) {
    if (c.url) e.url = *c.url;
    if (c.description) e.description = *c.description;
    if (c.event_types) {
      std::vector<std::string> types = *c.event_types;
      std::sort(types.begin(), types.end());
      types.erase(std::unique(types.begin(), types.end()), types.end());
      e.event_types = std::move(types);
    }
    if (c.batch_size) e.batch_size = *c.batch_size;
  }

  // Drops secrets whose overlap ended.
  void PruneSecrets(WebhookEndpoint& e, int64_t now) const {
    std::erase_if(e.secrets, [now](const WebhookSecret& s) {
      return s.expires_ms != 0 && s.expires_ms <= now;
    });
  }

  int64_t Backoff(int failures) const {
    double d = config.backoff_initial_seconds * 1000.0;
    for (int i = 1; i < failures && d < config.backoff_max_seconds * 1000.0; ++i) d *= 2;
    d = std::min(d, config.backoff_max_seconds * 1000.0);
    uint32_t r = 0;
    RandomBytes(&r, sizeof r);
    double jitter = 0.8 + 0.4 * (r / 4294967295.0);
    return static_cast<int64_t>(d * jitter);
  }

  // Reads the events after cursor that the endpoint wants, at most batch_size. scanned_to gets
  // the position after the last event looked at (also the skipped ones).
  std::optional<Batch> BuildBatch(const WebhookEndpoint& ep, const std::string& cursor,
                                  std::string* scanned_to) {
    const size_t want = static_cast<size_t>(BatchSize(ep));
    std::vector<Event> picked;
    std::string pos = cursor;
    size_t scanned = 0;
    while (picked.size() < want && scanned < kMaxScanPerRound) {
      const size_t limit = std::min<size_t>(1000, kMaxScanPerRound - scanned);
      auto page = ReadTenantEvents(kv, ep.tenant, 0, 0, pos, "", limit);
      if (!page.ok()) {
        log::Warn("webhooks.read_failed", {{"endpoint", ep.id}, {"reason", page.error().detail}});
        break;
      }
      for (Event& e : page.value().events) {
        ++scanned;
        pos = EventCursor(e);
        bool wanted =
            ep.event_types.empty() ||
            std::find(ep.event_types.begin(), ep.event_types.end(), e.type) != ep.event_types.end();
        if (wanted) {
          picked.push_back(std::move(e));
          if (picked.size() >= want) break;
        }
      }
      if (page.value().events.size() < limit && page.value().next_cursor.empty()) break;
    }
    *scanned_to = pos;
    if (picked.empty()) return std::nullopt;
    Batch b;
    b.msg_id = "msg_" + LowerId(picked.front().id) + "_" + std::to_string(picked.size());
    b.end_cursor = pos;
    b.events = picked.size();
    std::string events;
    for (const Event& e : picked) {
      if (!events.empty()) events.push_back(',');
      events += EventJson(e);
    }
    b.body = R"({"type":"events","timestamp":")" + FormatRfc3339(clock.NowMs()) +
             R"(","data":{"endpoint_id":")" + ep.id + R"(","events":[)" + events + "]}}";
    return b;
  }

  // One round: every enabled endpoint that is due and idle gets its next batch, while there is
  // room in flight; states that only moved past skipped events are written now and then.
  void Round() {
    const int64_t now = clock.NowMs();
    struct Due {
      EndpointKey key;
      WebhookEndpoint endpoint;
      std::string cursor;
      uint64_t generation;
      std::optional<Batch> retry;
    };
    std::vector<Due> due;
    {
      std::lock_guard lock(mu);
      if (flush_all.exchange(false)) {
        for (auto& [k, e] : entries) WriteLocked(e, false, true);
      }
      for (auto& [k, e] : entries) {
        if (!e.state.enabled || e.in_flight || e.state.next_attempt_ms > now) continue;
        PruneSecrets(e.endpoint, now);
        due.push_back({k, e.endpoint, e.state.cursor, e.generation, e.retry});
      }
    }
    for (Due& d : due) {
      {
        std::lock_guard lock(mu);
        if (in_flight >= static_cast<size_t>(config.concurrency)) return;
      }
      std::optional<Batch> batch = std::move(d.retry);
      std::string scanned_to = d.cursor;
      if (!batch) batch = BuildBatch(d.endpoint, d.cursor, &scanned_to);
      std::lock_guard lock(mu);
      auto it = entries.find(d.key);
      if (it == entries.end() || it->second.generation != d.generation || it->second.in_flight) {
        continue;  // changed meanwhile: next round
      }
      Entry& e = it->second;
      if (!batch) {
        if (scanned_to != e.state.cursor) {
          // Only skipped events: move past them; written with the next write or round.
          e.state.cursor = scanned_to;
          if (now - e.skip_written_ms > 1000) {
            e.skip_written_ms = now;
            WriteLocked(e, false, true);
          }
        }
        continue;
      }
      e.in_flight = true;
      ++in_flight;
      asio::co_spawn(io, Deliver(this, d.key, d.generation, e.endpoint, std::move(*batch)),
                     asio::detached);
    }
  }

  static asio::awaitable<void> Deliver(Impl* self, EndpointKey key, uint64_t generation,
                                       WebhookEndpoint endpoint, Batch batch) {
    std::vector<std::string> secrets;
    for (const WebhookSecret& s : endpoint.secrets) secrets.push_back(s.value);
    const int64_t ts = self->clock.NowMs() / 1000;
    HttpPostResult r;
    Result<SignedHeaders> sig = SignWebhook(secrets, batch.msg_id, ts, batch.body);
    if (!sig.ok()) {
      r.error = "cannot sign: " + sig.error().detail;
    } else {
      std::vector<std::pair<std::string, std::string>> headers = {
          {"webhook-id", sig.value().id},
          {"webhook-timestamp", sig.value().timestamp},
          {"webhook-signature", sig.value().signature}};
      std::string body = batch.body;
      std::chrono::milliseconds timeout(int64_t{self->config.timeout_seconds} * 1000);
      r = co_await HttpPost(endpoint.url, headers, std::move(body), timeout, &self->tls,
                            self->config.allow_private_addresses);
    }
    self->Finish(key, generation, std::move(batch), r);
  }

  void Finish(const EndpointKey& key, uint64_t generation, Batch batch, const HttpPostResult& r) {
    const int64_t now = clock.NowMs();
    const bool ok = r.status >= 200 && r.status < 300;
    (ok ? requests_ok : requests_failed).Inc();
    std::lock_guard lock(mu);
    --in_flight;
    auto it = entries.find(key);
    if (it == entries.end()) return;  // deleted meanwhile
    Entry& e = it->second;
    e.in_flight = false;
    WebhookState& s = e.state;
    s.last_attempt_ms = now;
    s.last_status = r.status;
    if (ok) {
      ++s.requests_ok;
      events_sent.Inc(batch.events);
      s.events_delivered += batch.events;
      s.last_success_ms = now;
      s.last_error.clear();
      if (e.generation == generation) {
        s.cursor = batch.end_cursor;
        s.failures = 0;
        s.failing_since_ms = 0;
        s.next_attempt_ms = 0;
        e.retry.reset();
      }
      WriteLocked(e, false, true);
      return;
    }
    ++s.requests_failed;
    if (r.status != 0) {
      std::string prefix = r.body_prefix.substr(0, 200);
      for (char& c : prefix) {
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
      }
      s.last_error = "HTTP " + std::to_string(r.status) + (prefix.empty() ? "" : ": " + prefix);
    } else {
      s.last_error = r.error;
    }
    if (e.generation != generation) {
      WriteLocked(e, false, true);
      return;  // replayed or re-enabled meanwhile: its own schedule stands
    }
    ++s.failures;
    if (s.failing_since_ms == 0) s.failing_since_ms = now;
    if (now - s.failing_since_ms >= int64_t{config.disable_after_seconds} * 1000) {
      s.enabled = false;
      s.disabled_reason = "failing";
      s.disabled_ms = now;
      e.retry.reset();
      disabled_total.Inc();
      log::Warn("webhooks.endpoint_disabled", {{"tenant", e.endpoint.tenant},
                                               {"endpoint", e.endpoint.id},
                                               {"failing_since", FormatRfc3339(s.failing_since_ms)},
                                               {"last_error", s.last_error}});
      Event ev;
      ev.id = NewId(clock);
      ev.at_ms = now;
      ev.tenant = e.endpoint.tenant;
      ev.type = "endpoint_disabled";
      ev.code = r.status;
      ev.text = s.last_error;
      ev.metadata_json =
          json::serialize(json::object{{"endpoint_id", e.endpoint.id},
                                       {"url", e.endpoint.url},
                                       {"failing_since", FormatRfc3339(s.failing_since_ms)},
                                       {"failures", s.failures}});
      WriteLocked(e, false, true, std::move(ev));
      return;
    }
    s.next_attempt_ms = now + Backoff(s.failures);
    e.retry = std::move(batch);
    WriteLocked(e, false, true);
  }

  static asio::awaitable<void> Loop(Impl* self) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
      self->Round();
      timer.expires_after(std::chrono::milliseconds(self->config.poll_interval_ms));
      auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
    }
  }
};

WebhookService::WebhookService(const WebhooksConfig& config, KvStore& kv, const Clock& clock)
    : config_(config), impl_(std::make_unique<Impl>(config_, kv, clock)) {}

WebhookService::~WebhookService() { Stop(); }

Status WebhookService::Load() {
  std::map<Impl::EndpointKey, Impl::Entry> loaded;
  bool corrupt = false;
  Status s =
      impl_->kv.Scan(Column::kState, kEndpointPrefix, [&](std::string_view, std::string_view v) {
        auto e = DecodeEndpoint(v);
        if (!e) {
          corrupt = true;
          return false;
        }
        loaded[{e->tenant, e->id}].endpoint = std::move(*e);
        return true;
      });
  if (!s.ok()) return s;
  if (corrupt) return MakeError(Code::kStorage, "corrupt webhook endpoint record");
  for (auto& [k, e] : loaded) {
    auto v = impl_->kv.Get(Column::kState, Key(kStatePrefix, k.first, k.second));
    if (!v.ok()) return v.error();
    if (!v.value()) {
      e.state.cursor = EventCursorAt(e.endpoint.created_ms);
      continue;
    }
    auto st = DecodeState(*v.value());
    if (!st) return MakeError(Code::kStorage, "corrupt webhook state record");
    e.state = std::move(*st);
  }
  std::lock_guard lock(impl_->mu);
  impl_->entries = std::move(loaded);
  return {};
}

void WebhookService::Start() {
  if (!config_.enabled || impl_->started) return;
  impl_->started = true;
  asio::co_spawn(impl_->io, Impl::Loop(impl_.get()), asio::detached);
  impl_->thread = std::thread([this] {
    auto guard = asio::make_work_guard(impl_->io);
    impl_->io.run();
  });
}

void WebhookService::Stop() {
  if (!impl_->started) return;
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->started = false;
}

Result<WebhookView> WebhookService::Create(const std::string& tenant, const WebhookChange& fields,
                                           const std::string& secret) {
  if (!fields.url) return MakeError(Code::kInvalidValue, "url is required", "url");
  Status s = impl_->CheckChange(fields);
  if (!s.ok()) return s.error();
  std::string value = secret.empty() ? NewWebhookSecret() : secret;
  if (auto key = DecodeWebhookSecret(value); !key.ok()) return key.error();
  if (value.rfind(kWebhookSecretPrefix, 0) != 0) value = std::string(kWebhookSecretPrefix) + value;
  const int64_t now = impl_->clock.NowMs();
  Impl::Entry entry;
  entry.endpoint.id = "wh_" + LowerId(NewId(impl_->clock));
  entry.endpoint.tenant = tenant;
  Impl::Apply(entry.endpoint, fields);
  entry.endpoint.secrets.push_back({value, 0});
  entry.endpoint.created_ms = entry.endpoint.updated_ms = now;
  entry.state.cursor = EventCursorAt(now);
  std::future<Status> done;
  {
    std::lock_guard lock(impl_->mu);
    size_t mine = 0;
    for (const auto& [k, e] : impl_->entries) mine += k.first == tenant;
    if (mine >= static_cast<size_t>(config_.max_endpoints_per_tenant)) {
      return MakeError(Code::kConflict, "this tenant has " + std::to_string(mine) +
                                            " webhook endpoints, the most allowed");
    }
    auto [it, inserted] =
        impl_->entries.emplace(Impl::EndpointKey{tenant, entry.endpoint.id}, std::move(entry));
    done = impl_->WriteLocked(it->second, true, true);
    entry = it->second;
  }
  Status w = done.get();
  if (!w.ok()) return w.error();
  return Impl::View(entry);
}

Result<WebhookView> WebhookService::Update(const std::string& tenant, const std::string& id,
                                           const WebhookChange& change) {
  Status s = impl_->CheckChange(change);
  if (!s.ok()) return s.error();
  std::future<Status> done;
  WebhookView view;
  {
    std::lock_guard lock(impl_->mu);
    auto found = impl_->FindLocked(tenant, id);
    if (!found.ok()) return found.error();
    Impl::Entry& e = *found.value();
    Impl::Apply(e.endpoint, change);
    e.endpoint.updated_ms = impl_->clock.NowMs();
    done = impl_->WriteLocked(e, true, false);
    view = Impl::View(e);
  }
  Status w = done.get();
  if (!w.ok()) return w.error();
  return view;
}

Status WebhookService::Delete(const std::string& tenant, const std::string& id) {
  std::future<Status> done;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->entries.find({tenant, id});
    if (it == impl_->entries.end()) return MakeError(Code::kNotFound, "no webhook endpoint " + id);
    impl_->entries.erase(it);
    WriteBatch b;
    b.Delete(Column::kState, Key(kEndpointPrefix, tenant, id));
    b.Delete(Column::kState, Key(kStatePrefix, tenant, id));
    auto promise = std::make_shared<std::promise<Status>>();
    done = promise->get_future();
    impl_->kv.Commit(std::move(b), [promise](Status s) { promise->set_value(std::move(s)); });
  }
  return done.get();
}

std::vector<WebhookView> WebhookService::List(const std::string& tenant) const {
  std::vector<WebhookView> out;
  std::lock_guard lock(impl_->mu);
  for (auto it = impl_->entries.lower_bound({tenant, ""});
       it != impl_->entries.end() && it->first.first == tenant; ++it) {
    out.push_back(Impl::View(it->second));
  }
  return out;
}

Result<WebhookView> WebhookService::Get(const std::string& tenant, const std::string& id) const {
  std::lock_guard lock(impl_->mu);
  auto found = impl_->FindLocked(tenant, id);
  if (!found.ok()) return found.error();
  return Impl::View(*found.value());
}

namespace {
Status CheckCursor(KvStore& kv, const std::string& tenant, const std::string& cursor) {
  // A cursor is checked by reading from it (the same parser as the events API).
  auto page = ReadTenantEvents(kv, tenant, 0, 0, cursor, "", 1);
  if (!page.ok()) return page.error();
  return {};
}
}  // namespace

Result<WebhookView> WebhookService::Enable(const std::string& tenant, const std::string& id,
                                           const std::string& cursor) {
  if (!cursor.empty()) {
    Status c = CheckCursor(impl_->kv, tenant, cursor);
    if (!c.ok()) return c.error();
  }
  std::future<Status> done;
  WebhookView view;
  {
    std::lock_guard lock(impl_->mu);
    auto found = impl_->FindLocked(tenant, id);
    if (!found.ok()) return found.error();
    Impl::Entry& e = *found.value();
    ++e.generation;
    e.retry.reset();
    WebhookState& s = e.state;
    s.enabled = true;
    s.disabled_reason.clear();
    s.disabled_ms = 0;
    s.failures = 0;
    s.failing_since_ms = 0;
    s.next_attempt_ms = 0;
    if (!cursor.empty()) s.cursor = cursor;
    done = impl_->WriteLocked(e, false, true);
    view = Impl::View(e);
  }
  Status w = done.get();
  if (!w.ok()) return w.error();
  return view;
}

Result<WebhookView> WebhookService::Disable(const std::string& tenant, const std::string& id) {
  std::future<Status> done;
  WebhookView view;
  {
    std::lock_guard lock(impl_->mu);
    auto found = impl_->FindLocked(tenant, id);
    if (!found.ok()) return found.error();
    Impl::Entry& e = *found.value();
    ++e.generation;
    e.retry.reset();
    e.state.enabled = false;
    e.state.disabled_reason = "api";
    e.state.disabled_ms = impl_->clock.NowMs();
    done = impl_->WriteLocked(e, false, true);
    view = Impl::View(e);
  }
  Status w = done.get();
  if (!w.ok()) return w.error();
  return view;
}

Result<WebhookView> WebhookService::Replay(const std::string& tenant, const std::string& id,
                                           const std::string& cursor) {
  Status c = CheckCursor(impl_->kv, tenant, cursor);
  if (!c.ok()) return c.error();
  std::future<Status> done;
  WebhookView view;
  {
    std::lock_guard lock(impl_->mu);
    auto found = impl_->FindLocked(tenant, id);
    if (!found.ok()) return found.error();
    Impl::Entry& e = *found.value();
    ++e.generation;
    e.retry.reset();
    e.state.cursor = cursor;
    e.state.next_attempt_ms = 0;
    done = impl_->WriteLocked(e, false, true);
    view = Impl::View(e);
  }
  Status w = done.get();
  if (!w.ok()) return w.error();
  return view;
}

Result<WebhookView> WebhookService::RotateSecret(const std::string& tenant, const std::string& id,
                                                 int64_t keep_old_ms) {
  std::future<Status> done;
  WebhookView view;
  {
    std::lock_guard lock(impl_->mu);
    auto found = impl_->FindLocked(tenant, id);
    if (!found.ok()) return found.error();
    Impl::Entry& e = *found.value();
    const int64_t now = impl_->clock.NowMs();
    impl_->PruneSecrets(e.endpoint, now);
    for (WebhookSecret& s : e.endpoint.secrets) {
      if (s.expires_ms == 0 || s.expires_ms > now + keep_old_ms) s.expires_ms = now + keep_old_ms;
    }
    if (keep_old_ms <= 0) e.endpoint.secrets.clear();
    // A few old secrets at most: each one is an HMAC per request.
    if (e.endpoint.secrets.size() > 3) e.endpoint.secrets.resize(3);
    e.endpoint.secrets.insert(e.endpoint.secrets.begin(), {NewWebhookSecret(), 0});
    e.endpoint.updated_ms = now;
    done = impl_->WriteLocked(e, true, false);
    view = Impl::View(e);
  }
  Status w = done.get();
  if (!w.ok()) return w.error();
  return view;
}

}  // namespace mp::events
