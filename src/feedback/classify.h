// Bounce classification: what a receiving server's reply means. Input: the basic reply code, the
// enhanced status code ("5.1.1", may be empty) and the reply text, of a deferral or a bounce (our
// own local replies such as "451 4.4.1" included). Output: permanent or temporary, which the basic
// code alone decides (5xx permanent, anything else temporary; RFC 5321 section 4.2.1), and one
// category from a fixed set, which the enhanced code and the text decide.
//
// The category comes from rules: TOML files of regular expressions, the operator's file first,
// then the shipped share/bounce_rules.toml (compiled in). The first rule whose every given part
// matches wins. A reply no rule matches falls back on the class and subject of its enhanced code
// (RFC 3463: x.1.1 invalid recipient, x.2.2 mailbox full, x.7.x policy ...), then on the basic
// code, then `other`. Message expiry (delivery gives up after the maximum age) is not a reply; the
// caller reports it with Expired().
//
// Rules file format (docs/feedback.md):
//   [[rule]]
//   category = "invalid_recipient"   # required: a category name (BounceCategoryName)
//   code = "5xx"                     # optional: "550", "55x", "5xx", "4xx" or a list of them
//   enhanced = '^5\.1\.[12]$'        # optional: RE2 regex on the enhanced code
//   text = 'no such user'            # optional: RE2 regex on the text, case-insensitive
// At least one of code, enhanced and text is required. A rule is named "<file>:<index>", the
// index counting the file's [[rule]] tables from 0.
//
// SECURITY: the code, enhanced code and text come from remote servers (untrusted, any bytes). The
// expressions are RE2 (linear time in the text, no backtracking, no recursion); the text is cut
// to kMaxTextBytes and its whitespace runs collapsed to one space before matching.
// Thread-safety: a loaded BounceClassifier is immutable; Classify may run on any number of threads
// at once. Add is not thread-safe: finish loading before sharing the classifier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.h"

namespace mp::feedback {

// Names are stable (events, webhooks, rules files); new categories are appended.
enum class BounceCategory : uint8_t {
  kInvalidRecipient,   // the mailbox does not exist
  kBadDomain,          // the recipient domain does not exist or accepts no mail
  kMailboxFull,        // over quota
  kInactiveMailbox,    // the mailbox exists but is disabled, suspended or abandoned
  kMessageTooLarge,    // over a size limit
  kSpamBlock,          // refused as spam: block list, sender reputation, judged unsolicited
  kContentRejected,    // the content itself: virus, attachment type, links, content policy
  kPolicy,             // the receiver's (or our own routing) policy, relaying denied
  kAuthFailure,        // SPF, DKIM, DMARC, reverse DNS, or our relay credentials
  kThrottled,          // slow down: rate limits, greylisting, too many connections
  kDnsFailure,         // a temporary DNS failure
  kConnectionFailure,  // cannot connect, connection lost, TLS failed
  kExpired,            // delivery gave up after the maximum age
  kOther,              // none of the above
};
inline constexpr BounceCategory kLastBounceCategory = BounceCategory::kOther;

// The stable snake_case name ("invalid_recipient", "authentication_failure").
std::string_view BounceCategoryName(BounceCategory category);
// The category of a name; nullopt for an unknown name.
std::optional<BounceCategory> ParseBounceCategory(std::string_view name);

struct Classification {
  bool permanent = false;
  BounceCategory category = BounceCategory::kOther;
  // Which rule decided: "<file>:<index>", "default" (the built-in fallback) or "expired".
  std::string rule;
};

class BounceClassifier final {
 public:
  static constexpr size_t kMaxTextBytes = 4096;     // of the reply text; the rest is ignored
  static constexpr size_t kMaxEnhancedBytes = 16;   // "5.7.515" is 7
  static constexpr size_t kMaxPatternBytes = 4096;  // per expression
  static constexpr size_t kMaxRules = 10000;        // over every file

  // No rules: everything falls back on the enhanced and basic codes. A moved-from classifier may
  // only be assigned to or destroyed.
  BounceClassifier();
  ~BounceClassifier();
  BounceClassifier(BounceClassifier&&) noexcept;
  BounceClassifier& operator=(BounceClassifier&&) noexcept;

  // The operator's rules file (if not empty; an unreadable or invalid file is an error), then the
  // shipped rules.
  static Result<BounceClassifier> Load(const std::string& operator_file);

  // Appends the rules of one file (TOML text), after those already added; source_name names the
  // file in rule names and errors. A file with any invalid rule adds nothing. Errors name the rule
  // ("<file>:<index>") and the field (Error::field "rule[<index>].<key>").
  Status Add(std::string_view toml_text, const std::string& source_name);

  Classification Classify(int code, std::string_view enhanced, std::string_view text) const;

  // A message that delivery gave up on after the maximum age (final, so permanent).
  static Classification Expired();

  size_t size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The shipped rules (share/bounce_rules.toml, compiled in).
std::string_view ShippedBounceRules();
// The name the shipped rules go by in rule names ("share/bounce_rules.toml:12").
inline constexpr std::string_view kShippedBounceRulesName = "share/bounce_rules.toml";

}  // namespace mp::feedback
