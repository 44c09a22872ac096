#include "feedback/classify.h"

#include <re2/re2.h>
#include <re2/set.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <vector>

namespace mp::feedback {
namespace {

constexpr std::array<std::string_view, static_cast<size_t>(kLastBounceCategory) + 1> kNames = {
    "invalid_recipient",
    "bad_domain",
    "mailbox_full",
    "inactive_mailbox",
    "message_too_large",
    "spam_block",
    "content_rejected",
    "policy",
    "authentication_failure",
    "throttled",
    "dns_failure",
    "connection_failure",
    "expired",
    "other",
};

constexpr std::string_view kDefaultRule = "default";

// A basic-code pattern: three characters, each a digit or 'x' (any digit).
using CodePattern = std::array<char, 3>;

bool CodeMatches(const CodePattern& p, int code) {
  if (code < 100 || code > 999) return false;
  const char digits[3] = {static_cast<char>('0' + code / 100),
                          static_cast<char>('0' + code / 10 % 10),
                          static_cast<char>('0' + code % 10)};
  for (int i = 0; i < 3; ++i) {
    if (p[i] != 'x' && p[i] != digits[i]) return false;
  }
  return true;
}

std::optional<CodePattern> ParseCodePattern(std::string_view s) {
  if (s.size() != 3 || (s[0] != '4' && s[0] != '5')) return std::nullopt;
  CodePattern p;
  for (int i = 0; i < 3; ++i) {
    char c = s[i] == 'X' ? 'x' : s[i];
    if (c != 'x' && (c < '0' || c > '9')) return std::nullopt;
    p[i] = c;
  }
  return p;
}

RE2::Options EnhancedOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  return o;
}

RE2::Options TextOptions() {
  RE2::Options o;
  o.set_log_errors(false);
  o.set_case_sensitive(false);
  return o;
}

// The text as rules see it: at most kMaxTextBytes, whitespace runs (CR, LF, tabs: the line breaks
// of a multi-line reply) made one space, none at either end.
void NormalizeText(std::string_view in, std::string& out) {
  in = in.substr(0, BounceClassifier::kMaxTextBytes);
  out.clear();
  bool space = false;
  for (char c : in) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
}

struct Enhanced {
  int klass = 0, subject = -1, detail = -1;
};

// "c.s.d" (RFC 3463: class 2, 4 or 5; subject and detail 1 to 3 digits), or nullopt.
std::optional<Enhanced> ParseEnhanced(std::string_view s) {
  Enhanced e;
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') return {};
  e.klass = s[0] - '0';
  size_t i = 2;
  for (int* part : {&e.subject, &e.detail}) {
    int n = 0, digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 3) {
      n = n * 10 + (s[i++] - '0');
      ++digits;
    }
    if (digits == 0) return {};
    *part = n;
    if (part == &e.subject) {
      if (i >= s.size() || s[i] != '.') return {};
      ++i;
    }
  }
  if (i != s.size()) return {};
  return e;
}

// The built-in fallback when no rule matched: the enhanced code's subject and detail (RFC 3463,
// IANA registry), then a few basic codes.
BounceCategory Fallback(int code, std::string_view enhanced_text) {
  using C = BounceCategory;
  const bool temporary = code < 500;
  if (std::optional<Enhanced> e = ParseEnhanced(enhanced_text); e && e->klass != 2) {
    const int d = e->detail;
    switch (e->subject) {
      case 1:  // addressing
        if (d == 1 || d == 3 || d == 4) return C::kInvalidRecipient;
        if (d == 2 || d == 10) return C::kBadDomain;
        if (d == 6) return C::kInactiveMailbox;   // mailbox has moved
        if (d == 7 || d == 8) return C::kPolicy;  // our sender address refused
        return C::kOther;
      case 2:                                                                // mailbox
        if (d == 1) return temporary ? C::kThrottled : C::kInactiveMailbox;  // Gmail 450 4.2.1
        if (d == 2) return C::kMailboxFull;
        if (d == 3) return C::kMessageTooLarge;  // per-mailbox message length limit
        return C::kOther;
      case 3:  // mail system
        if (d == 4) return C::kMessageTooLarge;
        return C::kOther;
      case 4:  // network and routing
        if (d == 1 || d == 2) return C::kConnectionFailure;
        if (d == 3) return C::kDnsFailure;
        if (d == 4) return temporary ? C::kDnsFailure : C::kBadDomain;  // unable to route
        if (d == 5) return C::kThrottled;                               // congestion
        if (d == 7) return C::kExpired;
        return C::kOther;
      case 5:  // protocol
        if (d == 3)
          return C::kThrottled;  // too many recipients: the rest go in another transaction
        return C::kOther;
      case 6:  // content and media
        return C::kContentRejected;
      case 7:                                      // security and policy
        if (d == 5) return C::kConnectionFailure;  // cryptographic failure (our TLS)
        if (d == 8 || (d >= 20 && d <= 26) || d == 29) return C::kAuthFailure;
        if (d == 13) return C::kInactiveMailbox;                        // user account disabled
        if (d == 17) return C::kInvalidRecipient;                       // mailbox owner has changed
        if (d == 18) return C::kBadDomain;                              // domain owner has changed
        if (d == 28) return temporary ? C::kThrottled : C::kSpamBlock;  // mail flood
        return C::kPolicy;
      default:
        break;
    }
  }
  if (code == 421) return C::kThrottled;  // service closing: almost always "slow down"
  if (code == 551 || code == 553) return C::kInvalidRecipient;
  return C::kOther;
}

}  // namespace

std::string_view BounceCategoryName(BounceCategory category) {
  auto i = static_cast<size_t>(category);
  return i < kNames.size() ? kNames[i] : kNames.back();
}

std::optional<BounceCategory> ParseBounceCategory(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<BounceCategory>(i);
  }
  return std::nullopt;
}

struct BounceClassifier::Impl {
  struct Rule {
    BounceCategory category = BounceCategory::kOther;
    std::vector<CodePattern> codes;  // empty: any code
    std::unique_ptr<RE2> enhanced, text;
    int enhanced_slot = -1, text_slot = -1;  // index in the sets
    std::string name;
  };

  // Every rule's expressions in one RE2::Set per field: one pass over the text finds every rule
  // whose expression matches, however many rules there are. Null when a field has no expressions
  // or the set could not be built; then each rule's own RE2 is used.
  void Rebuild() {
    enhanced_set.reset();
    text_set.reset();
    auto enhanced_new = std::make_unique<RE2::Set>(EnhancedOptions(), RE2::UNANCHORED);
    RE2::Options text_options = TextOptions();
    text_options.set_max_mem(int64_t{64} << 20);  // one DFA for every rule
    auto text_new = std::make_unique<RE2::Set>(text_options, RE2::UNANCHORED);
    bool ok = true;
    int enhanced_count = 0, text_count = 0;
    for (Rule& r : rules) {
      r.enhanced_slot = r.text_slot = -1;
      if (r.enhanced) {
        r.enhanced_slot = enhanced_new->Add(r.enhanced->pattern(), nullptr);
        ok = ok && r.enhanced_slot >= 0;
        ++enhanced_count;
      }
      if (r.text) {
        r.text_slot = text_new->Add(r.text->pattern(), nullptr);
        ok = ok && r.text_slot >= 0;
        ++text_count;
      }
    }
    if (!ok) return;
    if (enhanced_count > 0 && enhanced_new->Compile()) enhanced_set = std::move(enhanced_new);
    if (text_count > 0 && text_new->Compile()) text_set = std::move(text_new);
  }

  std::vector<Rule> rules;
  std::unique_ptr<RE2::Set> enhanced_set, text_set;
};

BounceClassifier::BounceClassifier() : impl_(std::make_unique<Impl>()) {}
BounceClassifier::~BounceClassifier() = default;
BounceClassifier::BounceClassifier(BounceClassifier&&) noexcept = default;
BounceClassifier& BounceClassifier::operator=(BounceClassifier&&) noexcept = default;

size_t BounceClassifier::size() const { return impl_->rules.size(); }

Status BounceClassifier::Add(std::string_view text, const std::string& source_name) {
  toml::table table;
  try {
    table = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ": line " << e.source().begin.line << ": " << e.description();
    return MakeError(Code::kInvalidValue, os.str());
  }
  for (const auto& [k, v] : table) {
    if (k.str() != "rule") {
      return MakeError(
          Code::kUnknownField,
          source_name + ": unknown key '" + std::string(k.str()) + "' (rules are [[rule]] tables)",
          std::string(k.str()));
    }
  }
  const toml::node* list = table.get("rule");
  if (!list) return Status::Ok();
  if (!list->is_array_of_tables()) {
    return MakeError(Code::kInvalidType, source_name + ": 'rule' must be [[rule]] tables", "rule");
  }
  const toml::array& array = *list->as_array();
  if (impl_->rules.size() + array.size() > kMaxRules) {
    return MakeError(Code::kInvalidValue,
                     source_name + ": more than " + std::to_string(kMaxRules) + " rules in all");
  }
  std::vector<Impl::Rule> added;
  for (size_t i = 0; i < array.size(); ++i) {
    const toml::table& t = *array[i].as_table();
    const std::string name = source_name + ":" + std::to_string(i);
    const std::string path = "rule[" + std::to_string(i) + "]";
    const std::string where = name + " (line " + std::to_string(t.source().begin.line) + "): ";
    auto fail = [&](Code c, const std::string& key, const std::string& what) {
      return key.empty() ? MakeError(c, where + what, path)
                         : MakeError(c, where + key + " " + what, path + "." + key);
    };
    Impl::Rule r;
    r.name = name;
    bool has_category = false;
    for (const auto& [k, v] : t) {
      const std::string key(k.str());
      if (key == "category") {
        auto s = v.value<std::string>();
        if (!v.is_string()) return fail(Code::kInvalidType, key, "must be a string");
        auto c = ParseBounceCategory(*s);
        if (!c) return fail(Code::kInvalidValue, key, "'" + *s + "' is not a category");
        r.category = *c;
        has_category = true;
      } else if (key == "code") {
        std::vector<std::string> items;
        if (v.is_string()) {
          items.push_back(*v.value<std::string>());
        } else if (v.is_array() && !v.as_array()->empty()) {
          for (const toml::node& item : *v.as_array()) {
            if (!item.is_string()) {
              return fail(Code::kInvalidType, key, "must be a string or a list of strings");
            }
            items.push_back(*item.value<std::string>());
          }
        } else {
          return fail(Code::kInvalidType, key, "must be a string or a list of strings");
        }
        for (const std::string& s : items) {
          auto p = ParseCodePattern(s);
          if (!p) {
            return fail(Code::kInvalidValue, key,
                        "'" + s + "' is not a reply code pattern (like 550, 55x, 5xx or 4xx)");
          }
          r.codes.push_back(*p);
        }
      } else if (key == "enhanced" || key == "text") {
        if (!v.is_string()) return fail(Code::kInvalidType, key, "must be a string");
        const std::string pattern = *v.value<std::string>();
        if (pattern.empty() || pattern.size() > kMaxPatternBytes) {
          return fail(Code::kInvalidValue, key,
                      "must be a regular expression of 1 to " + std::to_string(kMaxPatternBytes) +
                          " bytes");
        }
        auto re = std::make_unique<RE2>(pattern, key == "text" ? TextOptions() : EnhancedOptions());
        if (!re->ok()) {
          return fail(Code::kInvalidValue, key, "is not a valid expression: " + re->error());
        }
        (key == "text" ? r.text : r.enhanced) = std::move(re);
      } else {
        return fail(Code::kUnknownField, key, "is not a rule key (category, code, enhanced, text)");
      }
    }
    if (!has_category) return fail(Code::kMissingField, "category", "is required");
    if (r.codes.empty() && !r.enhanced && !r.text) {
      return fail(Code::kMissingField, "",
                  "matches every reply: give at least one of code, enhanced, text");
    }
    added.push_back(std::move(r));
  }
  for (Impl::Rule& r : added) impl_->rules.push_back(std::move(r));
  impl_->Rebuild();
  return Status::Ok();
}

Result<BounceClassifier> BounceClassifier::Load(const std::string& operator_file) {
  BounceClassifier c;
  if (!operator_file.empty()) {
    std::ifstream in(operator_file, std::ios::binary);
    if (!in) {
      return MakeError(Code::kInvalidValue,
                       "cannot read bounce rules file '" + operator_file + "'");
    }
    std::stringstream ss;
    ss << in.rdbuf();
    Status s = c.Add(ss.str(), operator_file);
    if (!s.ok()) return s.error();
  }
  Status s = c.Add(ShippedBounceRules(), std::string(kShippedBounceRulesName));
  if (!s.ok()) return s.error();
  return c;
}

Classification BounceClassifier::Expired() {
  return Classification{true, BounceCategory::kExpired, "expired"};
}

Classification BounceClassifier::Classify(int code, std::string_view enhanced,
                                          std::string_view text) const {
  // Scratch space per thread: Classify runs for every deferral and bounce.
  thread_local std::string normalized;
  thread_local std::vector<int> enhanced_hits, text_hits;
  Classification out;
  out.permanent = code >= 500 && code <= 599;
  enhanced = enhanced.substr(0, kMaxEnhancedBytes);
  NormalizeText(text, normalized);
  const std::string_view body = normalized;

  // One pass per field over every rule's expression; a set that cannot answer (its DFA ran out
  // of memory) leaves the rules to their own expressions.
  auto run = [](const RE2::Set* set, std::string_view s, std::vector<int>& hits) {
    hits.clear();
    if (!set) return false;
    RE2::Set::ErrorInfo info{};
    if (!set->Match(s, &hits, &info) && info.kind != RE2::Set::kNoError) return false;
    std::sort(hits.begin(), hits.end());
    return true;
  };
  const bool enhanced_by_set = run(impl_->enhanced_set.get(), enhanced, enhanced_hits);
  const bool text_by_set = run(impl_->text_set.get(), body, text_hits);
  auto matches = [](const RE2* re, int slot, bool by_set, const std::vector<int>& hits,
                    std::string_view s) {
    if (!re) return true;
    if (by_set) return std::binary_search(hits.begin(), hits.end(), slot);
    return RE2::PartialMatch(s, *re);
  };

  for (const Impl::Rule& r : impl_->rules) {
    if (!r.codes.empty() &&
        std::none_of(r.codes.begin(), r.codes.end(),
                     [code](const CodePattern& p) { return CodeMatches(p, code); })) {
      continue;
    }
    if (!matches(r.enhanced.get(), r.enhanced_slot, enhanced_by_set, enhanced_hits, enhanced)) {
      continue;
    }
    if (!matches(r.text.get(), r.text_slot, text_by_set, text_hits, body)) continue;
    out.category = r.category;
    out.rule = r.name;
    return out;
  }
  out.category = Fallback(code, enhanced);
  out.rule = kDefaultRule;
  return out;
}

}  // namespace mp::feedback
