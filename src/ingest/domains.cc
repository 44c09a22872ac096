#include "ingest/domains.h"

#include <boost/json.hpp>
#include <random>

#include "core/ascii.h"
#include "core/clock.h"
#include "core/log.h"
#include "store/kv.h"

namespace mp {
namespace json = boost::json;
namespace {

constexpr std::string_view kPrefix = "domain/";

std::string RecordKey(const std::string& tenant, const std::string& domain) {
  return std::string(kPrefix) + tenant + "/" + domain;
}

std::string Encode(const DomainRecord& d) {
  json::array keys;
  for (const DomainKey& k : d.keys) {
    keys.push_back(json::object{{"selector", k.selector},
                                {"algorithm", dkim::AlgorithmName(k.algorithm)},
                                {"private_pem", k.private_pem},
                                {"public", k.public_b64},
                                {"state", k.state},
                                {"created", k.created_ms},
                                {"published", k.published}});
  }
  return json::serialize(json::object{{"tenant", d.tenant},
                                      {"domain", d.domain},
                                      {"created", d.created_ms},
                                      {"verified", d.verified},
                                      {"checked", d.checked_ms},
                                      {"last_error", d.last_error},
                                      {"spf_ok", d.spf_ok},
                                      {"dmarc_ok", d.dmarc_ok},
                                      {"keys", std::move(keys)}});
}

std::optional<DomainRecord> Decode(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  try {
    const json::object& o = v.get_object();
    DomainRecord d;
    d.tenant = o.at("tenant").as_string();
    d.domain = o.at("domain").as_string();
    d.created_ms = o.at("created").to_number<int64_t>();
    d.verified = o.at("verified").as_bool();
    d.checked_ms = o.at("checked").to_number<int64_t>();
    d.last_error = o.at("last_error").as_string();
    d.spf_ok = o.at("spf_ok").as_bool();
    d.dmarc_ok = o.at("dmarc_ok").as_bool();
    for (const json::value& kv : o.at("keys").as_array()) {
      const json::object& k = kv.as_object();
      DomainKey key;
      key.selector = k.at("selector").as_string();
      key.algorithm = k.at("algorithm").as_string() == "ed25519-sha256"
                          ? dkim::Algorithm::kEd25519Sha256
                          : dkim::Algorithm::kRsaSha256;
      key.private_pem = k.at("private_pem").as_string();
      key.public_b64 = k.at("public").as_string();
      key.state = k.at("state").as_string();
      key.created_ms = k.at("created").to_number<int64_t>();
      key.published = k.at("published").as_bool();
      d.keys.push_back(std::move(key));
    }
    return d;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// Two keys under fresh selectors: "mp<yyyymmdd><4 hex>r" (RSA) and "...e" (Ed25519).
Result<std::vector<DomainKey>> NewKeys(int64_t now_ms, const std::string& state) {
  std::string date = FormatRfc3339(now_ms).substr(0, 10);
  date.erase(std::remove(date.begin(), date.end(), '-'), date.end());
  thread_local std::mt19937 rng(std::random_device{}());
  char tag[8];
  std::snprintf(tag, sizeof tag, "%04x", static_cast<unsigned>(rng() & 0xffff));
  std::vector<DomainKey> out;
  for (auto [alg, suffix] : {std::pair{dkim::Algorithm::kRsaSha256, "r"},
                             std::pair{dkim::Algorithm::kEd25519Sha256, "e"}}) {
    auto g = dkim::GenerateKey(alg);
    if (!g.ok()) return g.error();
    DomainKey k;
    k.selector = "mp" + date + tag + suffix;
    k.algorithm = alg;
    k.private_pem = std::move(g.value().private_pem);
    k.public_b64 = std::move(g.value().public_b64);
    k.state = state;
    k.created_ms = now_ms;
    out.push_back(std::move(k));
  }
  return out;
}

// The p= tag of a DKIM key record, whitespace removed ("" if none).
std::string PublicKeyOf(std::string_view record) {
  std::string flat;
  for (char c : record) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') flat.push_back(c);
  }
  size_t pos = 0;
  while (pos < flat.size()) {
    size_t end = flat.find(';', pos);
    std::string_view tag = std::string_view(flat).substr(pos, end - pos);
    if (tag.substr(0, 2) == "p=") return std::string(tag.substr(2));
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return "";
}

// The domain of the From header's first address, lower-case ("" if there is none): the identity
// DMARC checks, so the one that must be verified and that signs.
std::string FromHeaderDomain(std::string_view msg) {
  size_t pos = 0;
  std::string field;
  bool in_from = false;
  while (pos < msg.size()) {
    size_t end = msg.find('\n', pos);
    if (end == std::string_view::npos) end = msg.size();
    std::string_view line = msg.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos = end + 1;
    if (line.empty()) break;  // end of the header
    bool continuation = line.front() == ' ' || line.front() == '\t';
    if (in_from && continuation) {
      field.append(line);
      continue;
    }
    if (in_from) break;
    if (line.size() >= 5 && AsciiLower(line.substr(0, 5)) == "from:") {
      in_from = true;
      field.assign(line.substr(5));
    }
  }
  size_t close = field.find('>');
  size_t at = close == std::string::npos ? field.find('@') : field.rfind('@', close);
  if (at == std::string::npos) return "";
  std::string domain;
  for (size_t i = at + 1; i < field.size(); ++i) {
    char c = field[i];
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') break;
    domain.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return domain;
}

constexpr size_t kMaxDomainsPerTenant = 100;

}  // namespace

DomainService::DomainService(const DomainsConfig& config, KvStore& kv, const Clock& clock)
    : config_(config), kv_(kv), clock_(clock) {}

Status DomainService::CheckDomain(std::string_view domain) {
  bool ok = !domain.empty() && domain.size() <= 253 && domain.find('.') != std::string::npos &&
            domain.front() != '.' && domain.back() != '.' && domain.find("..") == std::string::npos;
  for (char c : domain) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
  }
  if (!ok) {
    return MakeError(Code::kInvalidValue,
                     "domain must be a lower-case domain name in A-labels (like example.com)",
                     "domain");
  }
  return Status::Ok();
}

Status DomainService::Load() {
  std::vector<DomainRecord> all;
  bool bad = false;
  Status s = kv_.Scan(Column::kState, kPrefix, [&](std::string_view, std::string_view v) {
    auto d = Decode(v);
    if (!d) {
      bad = true;
      return false;
    }
    all.push_back(std::move(*d));
    return true;
  });
  if (!s.ok()) return s;
  if (bad) return MakeError(Code::kStorage, "corrupt sending domain record");
  std::unique_lock lock(mu_);
  for (const DomainRecord& d : all) Index(d);
  return Status::Ok();
}

void DomainService::Index(const DomainRecord& d) {
  Loaded l;
  l.record = d;
  for (const DomainKey& k : d.keys) {
    if (k.state != "active") continue;
    auto key = dkim::SigningKey::Load(d.domain, k.selector, k.algorithm, k.private_pem);
    if (!key.ok()) {
      log::Error("domains.key_unusable",
                 {{"domain", d.domain}, {"selector", k.selector}, {"error", key.error().detail}});
      continue;
    }
    l.signing.push_back(std::make_shared<const dkim::SigningKey>(std::move(key.value())));
  }
  domains_[{d.tenant, d.domain}] = std::move(l);
}

Status DomainService::Store(const DomainRecord& d) {
  WriteBatch b;
  b.Put(Column::kState, RecordKey(d.tenant, d.domain), Encode(d));
  Status s = kv_.CommitAndWait(std::move(b));
  if (!s.ok()) return s;
  std::unique_lock lock(mu_);
  Index(d);
  return Status::Ok();
}

const DomainService::Loaded* DomainService::Find(const std::string& tenant,
                                                 const std::string& domain) const {
  auto it = domains_.find({tenant, domain});
  return it == domains_.end() ? nullptr : &it->second;
}

Result<DomainRecord> DomainService::Add(const std::string& tenant, const std::string& domain_in) {
  std::string domain = AsciiLower(domain_in);
  Status c = CheckDomain(domain);
  if (!c.ok()) return c.error();
  std::lock_guard write(write_mu_);
  if (Get(tenant, domain)) {
    return MakeError(Code::kConflict, "domain " + domain + " is registered already");
  }
  if (List(tenant).size() >= kMaxDomainsPerTenant) {
    return MakeError(Code::kConflict, "a tenant may register at most " +
                                          std::to_string(kMaxDomainsPerTenant) +
                                          " sending domains; delete one first");
  }
  DomainRecord d;
  d.tenant = tenant;
  d.domain = domain;
  d.created_ms = clock_.NowMs();
  auto keys = NewKeys(d.created_ms, "active");
  if (!keys.ok()) return keys.error();
  d.keys = std::move(keys.value());
  d.last_error = "not checked yet";
  Status s = Store(d);
  if (!s.ok()) return s.error();
  log::Info("domains.added", {{"tenant", tenant}, {"domain", domain}});
  return d;
}

Result<DomainRecord> DomainService::Rotate(const std::string& tenant, const std::string& domain) {
  std::lock_guard write(write_mu_);
  auto current = Get(tenant, domain);
  if (!current) return MakeError(Code::kNotFound, "no such domain");
  DomainRecord d = *current;
  // A rotation already pending is replaced (its records were never used for signing).
  d.keys.erase(std::remove_if(d.keys.begin(), d.keys.end(),
                              [](const DomainKey& k) { return k.state == "pending"; }),
               d.keys.end());
  auto keys = NewKeys(clock_.NowMs(), "pending");
  if (!keys.ok()) return keys.error();
  for (DomainKey& k : keys.value()) d.keys.push_back(std::move(k));
  Status s = Store(d);
  if (!s.ok()) return s.error();
  log::Info("domains.rotation_started", {{"tenant", tenant}, {"domain", domain}});
  return d;
}

Status DomainService::Delete(const std::string& tenant, const std::string& domain) {
  std::lock_guard write(write_mu_);
  if (!Get(tenant, domain)) return MakeError(Code::kNotFound, "no such domain");
  WriteBatch b;
  b.Delete(Column::kState, RecordKey(tenant, domain));
  Status s = kv_.CommitAndWait(std::move(b));
  if (!s.ok()) return s;
  std::unique_lock lock(mu_);
  domains_.erase({tenant, domain});
  return Status::Ok();
}

std::optional<DomainRecord> DomainService::Get(const std::string& tenant,
                                               const std::string& domain) const {
  std::shared_lock lock(mu_);
  const Loaded* l = Find(tenant, domain);
  if (!l) return std::nullopt;
  return l->record;
}

std::vector<DomainRecord> DomainService::List(const std::string& tenant) const {
  std::shared_lock lock(mu_);
  std::vector<DomainRecord> out;
  for (auto it = domains_.lower_bound({tenant, ""});
       it != domains_.end() && it->first.first == tenant; ++it) {
    out.push_back(it->second.record);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> DomainService::All() const {
  std::shared_lock lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [k, v] : domains_) out.push_back(k);
  return out;
}

void DomainService::Verify(const std::string& tenant, const std::string& domain,
                           const TxtLookup& lookup,
                           std::function<void(Result<DomainRecord>)> done) {
  auto d = Get(tenant, domain);
  if (!d) {
    done(MakeError(Code::kNotFound, "no such domain"));
    return;
  }
  struct Pending {
    std::mutex mu;
    int left = 0;
    std::vector<std::pair<std::string, bool>> found;  // selector -> published as generated
    std::string error;
    bool spf = false, dmarc = false;
    std::function<void(Result<DomainRecord>)> done;
  };
  auto p = std::make_shared<Pending>();
  p->done = std::move(done);
  std::vector<std::pair<std::string, std::string>> keys;  // selector, expected p=
  for (const DomainKey& k : d->keys) {
    if (k.state != "retired") keys.emplace_back(k.selector, k.public_b64);
  }
  p->left = static_cast<int>(keys.size()) + 2;
  auto finish = [this, p, tenant, domain] {
    std::unique_lock lock(p->mu);
    if (--p->left > 0) return;
    auto found = std::move(p->found);
    std::string error = p->error;
    bool spf = p->spf, dmarc = p->dmarc;
    auto cb = std::move(p->done);
    lock.unlock();
    Checked(tenant, domain, std::move(found), std::move(error), spf, dmarc, std::move(cb));
  };
  for (const auto& [selector, expected] : keys) {
    std::string name = selector + "._domainkey." + domain;
    lookup(name, [p, finish, selector, expected, name](bool ok, std::vector<std::string> records,
                                                       std::string error) {
      {
        std::lock_guard lock(p->mu);
        bool match = false;
        for (const std::string& r : records) match = match || PublicKeyOf(r) == expected;
        p->found.emplace_back(selector, match);
        if (!ok) {
          p->error = "DNS lookup of " + name + " failed: " + error;
        } else if (!match && p->error.empty()) {
          p->error = records.empty()
                         ? "no TXT record at " + name
                         : "the TXT record at " + name + " does not hold the generated public key";
        }
      }
      finish();
    });
  }
  lookup(domain, [p, finish](bool, std::vector<std::string> records, std::string) {
    {
      std::lock_guard lock(p->mu);
      for (const std::string& r : records) p->spf = p->spf || r.rfind("v=spf1", 0) == 0;
    }
    finish();
  });
  lookup("_dmarc." + domain, [p, finish](bool, std::vector<std::string> records, std::string) {
    {
      std::lock_guard lock(p->mu);
      for (const std::string& r : records) p->dmarc = p->dmarc || r.rfind("v=DMARC1", 0) == 0;
    }
    finish();
  });
}

void DomainService::Checked(const std::string& tenant, const std::string& domain,
                            std::vector<std::pair<std::string, bool>> found, std::string error,
                            bool spf, bool dmarc, std::function<void(Result<DomainRecord>)> done) {
  Result<DomainRecord> out = MakeError(Code::kNotFound, "no such domain");
  {
    std::lock_guard write(write_mu_);
    auto current = Get(tenant, domain);
    if (current) {
      DomainRecord d = *current;
      bool temporary = error.rfind("DNS lookup", 0) == 0;
      for (DomainKey& k : d.keys) {
        for (const auto& [selector, ok] : found) {
          if (k.selector == selector && !temporary) k.published = ok;
        }
      }
      bool active_ok = true, pending_ok = true, any_pending = false;
      for (const DomainKey& k : d.keys) {
        if (k.state == "active") active_ok = active_ok && k.published;
        if (k.state == "pending") {
          any_pending = true;
          pending_ok = pending_ok && k.published;
        }
      }
      if (any_pending && pending_ok) {
        // Rotation: the new records are live; sign with them from now on.
        for (DomainKey& k : d.keys) {
          if (k.state == "active") k.state = "retired";
          if (k.state == "pending") k.state = "active";
        }
        active_ok = true;
        log::Info("domains.rotated", {{"tenant", tenant}, {"domain", domain}});
      }
      // A temporary DNS failure changes nothing but the note.
      if (!temporary) d.verified = active_ok;
      d.checked_ms = clock_.NowMs();
      d.last_error = d.verified && (!any_pending || pending_ok) ? "" : error;
      d.spf_ok = spf;
      d.dmarc_ok = dmarc;
      Status s = Store(d);
      out = s.ok() ? Result<DomainRecord>(d) : Result<DomainRecord>(s.error());
    }
  }
  done(std::move(out));
}

std::vector<DomainService::DnsRecord> DomainService::Records(
    const DomainRecord& d, const std::vector<std::string>& egress_addresses) const {
  std::vector<DnsRecord> out;
  for (const DomainKey& k : d.keys) {
    if (k.state == "retired") continue;
    out.push_back(DnsRecord{"TXT", k.selector + "._domainkey." + d.domain,
                            dkim::DnsTxtRecord(k.algorithm, k.public_b64),
                            std::string("DKIM (") + std::string(dkim::AlgorithmName(k.algorithm)) +
                                (k.state == "pending" ? ", pending rotation)" : ")"),
                            k.published ? "published" : "missing"});
  }
  std::string spf = "v=spf1";
  for (const std::string& a : egress_addresses) {
    spf += (a.find(':') != std::string::npos ? " ip6:" : " ip4:") + a;
  }
  spf += egress_addresses.empty() ? " a mx ~all" : " ~all";
  out.push_back(DnsRecord{"TXT", d.domain, spf, "SPF (merge with an existing v=spf1 record)",
                          d.spf_ok ? "published" : "missing"});
  out.push_back(DnsRecord{"TXT", "_dmarc." + d.domain,
                          "v=DMARC1; p=none; rua=mailto:dmarc-reports@" + d.domain,
                          "DMARC (a suggestion: start with p=none, then quarantine)",
                          d.dmarc_ok ? "published" : "missing"});
  std::string host =
      config_.return_path_host.empty() ? "<this server's MX host name>" : config_.return_path_host;
  out.push_back(DnsRecord{"MX", "bounces." + d.domain, "10 " + host,
                          "return-path domain (bounces and feedback come back here)",
                          "not checked"});
  return out;
}

Status DomainService::SignPrepared(PreparedMessage& m) const {
  // The From header's domain (what receivers align with); the envelope sender's without one.
  std::string domain = FromHeaderDomain(m.body);
  if (domain.empty()) {
    const std::string& from = m.envelope.mail_from;
    domain = AsciiLower(from.substr(from.rfind('@') + 1));
  }
  auto sig = Sign(m.envelope.tenant_id, domain, m.body);
  if (!sig.ok()) return sig.error();
  if (!sig.value().empty()) {
    m.body.insert(0, sig.value());
    m.envelope.size = m.body.size();
  }
  return Status::Ok();
}

Result<std::string> DomainService::Sign(const std::string& tenant, const std::string& from_domain,
                                        std::string_view message) const {
  std::vector<std::shared_ptr<const dkim::SigningKey>> keys;
  {
    std::shared_lock lock(mu_);
    // The domain itself, or its closest registered parent (relaxed alignment).
    std::string_view name = from_domain;
    const Loaded* found = nullptr;
    while (!name.empty()) {
      found = Find(tenant, std::string(name));
      if (found) break;
      size_t dot = name.find('.');
      if (dot == std::string_view::npos) break;
      name.remove_prefix(dot + 1);
    }
    if (!found || !found->record.verified) {
      if (!config_.require_verified) return std::string();
      return MakeError(Code::kDomainNotVerified,
                       found ? "the From domain's sending domain " + found->record.domain +
                                   " is not verified yet: publish its DNS records and verify it "
                                   "(GET /v1/domains/" +
                                   found->record.domain + ")"
                             : "the From domain " + from_domain +
                                   " is not a registered sending domain of this tenant (POST "
                                   "/v1/domains)",
                       "from");
    }
    keys = found->signing;
  }
  std::string out;
  int64_t now_s = clock_.NowMs() / 1000;
  for (const auto& k : keys) {
    auto sig = dkim::Sign(*k, message, now_s);
    if (!sig.ok()) return sig.error();
    out += sig.value();
  }
  return out;
}

}  // namespace mp
