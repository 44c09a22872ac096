// Bounce classification: every category from real-looking provider replies and from our own local
// replies, the basic code deciding permanence, rule precedence (first match, operator file before
// the shipped one), specific errors for bad rules files, and hostile input.
#include "feedback/classify.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace mp::feedback {
namespace {

struct Reply {
  int code;
  const char* enhanced;
  const char* text;
  BounceCategory want;
};

const BounceClassifier& Shipped() {
  static const BounceClassifier* c = [] {
    auto r = BounceClassifier::Load("");
    if (!r.ok()) {
      ADD_FAILURE() << r.error().detail;
      return new BounceClassifier();
    }
    return new BounceClassifier(std::move(r).value());
  }();
  return *c;
}

std::string Describe(const Reply& r) {
  return std::to_string(r.code) + " " + r.enhanced + " " + r.text;
}

TEST(BounceCategory, NamesAreStableAndParse) {
  const std::vector<std::string> names = {"invalid_recipient",
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
                                          "other"};
  ASSERT_EQ(names.size(), static_cast<size_t>(kLastBounceCategory) + 1);
  for (size_t i = 0; i < names.size(); ++i) {
    auto c = static_cast<BounceCategory>(i);
    EXPECT_EQ(BounceCategoryName(c), names[i]);
    EXPECT_EQ(ParseBounceCategory(names[i]), c);
  }
  EXPECT_FALSE(ParseBounceCategory("Invalid_Recipient"));
  EXPECT_FALSE(ParseBounceCategory("auth_failure"));
  EXPECT_FALSE(ParseBounceCategory(""));
}

TEST(BounceClassifier, ShippedRulesLoad) {
  auto r = BounceClassifier::Load("");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_GE(r.value().size(), 60u);
}

// Provider replies (shortened, as receivers send them), one or more per category.
const std::vector<Reply> kProviderReplies = {
    // Gmail
    {550, "5.1.1",
     "The email account that you tried to reach does not exist. Please try\r\n"
     "double-checking the recipient's email address for typos or unnecessary spaces. "
     "https://support.google.com/mail/?p=NoSuchUser - gsmtp",
     BounceCategory::kInvalidRecipient},
    {550, "5.2.1", "The email account that you tried to reach is disabled. - gsmtp",
     BounceCategory::kInactiveMailbox},
    {552, "5.2.2", "The recipient's inbox is out of storage space and inactive. - gsmtp",
     BounceCategory::kInactiveMailbox},
    {452, "4.2.2", "The recipient's inbox is out of storage space. Please direct the recipient",
     BounceCategory::kMailboxFull},
    {452, "4.2.2", "The email account that you tried to reach is over quota.",
     BounceCategory::kMailboxFull},
    {421, "4.7.28",
     "Gmail has detected an unusual rate of unsolicited mail originating from your DKIM domain "
     "[example.com]. To protect our users from spam, mail sent from your domain has been "
     "temporarily rate limited.",
     BounceCategory::kThrottled},
    {421, "4.7.0",
     "Our system has detected an unusual rate of unsolicited mail originating from your IP "
     "address. To protect our users from spam, mail sent from your IP address has been "
     "temporarily blocked.",
     BounceCategory::kThrottled},
    {421, "4.7.0", "Try again later, closing connection. (EHLO) - gsmtp",
     BounceCategory::kThrottled},
    {450, "4.2.1",
     "The user you are trying to contact is receiving mail too quickly. Please resend your "
     "message at a later time.",
     BounceCategory::kThrottled},
    {550, "5.7.26",
     "This mail has been blocked because the sender is unauthenticated. Gmail requires all "
     "senders to authenticate with either SPF or DKIM.",
     BounceCategory::kAuthFailure},
    {421, "4.7.27", "Your email has been rate limited because SPF authentication didn't pass",
     BounceCategory::kAuthFailure},
    {421, "5.7.32",
     "Your email has been rate limited because the From: header (RFC5322) in this message isn't "
     "aligned with either the authenticated SPF or DKIM organizational domain.",
     BounceCategory::kAuthFailure},
    {550, "5.7.25",
     "The IP address sending this message does not have a PTR record setup, or the "
     "corresponding forward DNS entry does not point to the sending IP.",
     BounceCategory::kAuthFailure},
    {421, "4.7.0", "TLS required for RCPT domain, closing connection.",
     BounceCategory::kConnectionFailure},
    {550, "5.7.1",
     "Our system has detected that this message is likely unsolicited mail. To reduce the "
     "amount of spam sent to Gmail, this message has been blocked.",
     BounceCategory::kSpamBlock},
    {552, "5.7.0",
     "This message was blocked because its content presents a potential security issue.",
     BounceCategory::kContentRejected},
    {552, "5.3.4", "Your message exceeded Google's message size limits.",
     BounceCategory::kMessageTooLarge},
    {421, "4.7.0", "IP not in whitelist for RCPT domain, closing connection.",
     BounceCategory::kPolicy},
    // Microsoft
    {550, "5.5.0", "Requested action not taken: mailbox unavailable (S2017062302)",
     BounceCategory::kInvalidRecipient},
    {550, "5.4.1",
     "Recipient address rejected: Access denied. AS(201806281) "
     "[BN1NAM02FT022.eop-nam02.prod.protection.outlook.com]",
     BounceCategory::kInvalidRecipient},
    {550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
     BounceCategory::kInvalidRecipient},
    {550, "5.7.1",
     "Unfortunately, messages from [192.0.2.7] weren't sent. Please contact your Internet "
     "service provider since part of their network is on our block list (S3150).",
     BounceCategory::kSpamBlock},
    {550, "5.7.1",
     "Service unavailable, Client host [192.0.2.7] blocked using Spamhaus. To request removal "
     "from this list see https://www.spamhaus.org/query/ip/192.0.2.7 (AS3130)",
     BounceCategory::kSpamBlock},
    {550, "5.7.708", "Service unavailable. Access denied, traffic not accepted from this IP.",
     BounceCategory::kSpamBlock},
    {451, "4.7.650",
     "The mail server [192.0.2.7] has been temporarily rate limited due to IP reputation. (S775)",
     BounceCategory::kThrottled},
    {550, "5.7.515",
     "Access denied, sending domain example.com does not meet the required authentication "
     "level.",
     BounceCategory::kAuthFailure},
    {552, "", "Requested mail action aborted: exceeded storage allocation",
     BounceCategory::kMailboxFull},
    // Yahoo and AOL
    {421, "4.7.0",
     "[TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user "
     "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
     BounceCategory::kThrottled},
    {554, "5.7.9", "Message not accepted for policy reasons.  See https://postmaster.yahooinc.com",
     BounceCategory::kPolicy},
    {553, "5.7.1",
     "[BL21] Connections will not be accepted from 192.0.2.7, because the ip is in Spamhaus's "
     "list; see https://postmaster.yahooinc.com/error-codes",
     BounceCategory::kSpamBlock},
    {552, "", "1 Requested mail action aborted, mailbox full", BounceCategory::kMailboxFull},
    {552, "", "2 Requested mail action aborted, mailbox is over quota",
     BounceCategory::kMailboxFull},
    {554, "", "delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]",
     BounceCategory::kInvalidRecipient},
    {554, "",
     "delivery error: dd Sorry your message to x@yahoo.com cannot be delivered. This mailbox is "
     "disabled (554.30).",
     BounceCategory::kInactiveMailbox},
    // Apple iCloud
    {550, "5.1.1", "<x@icloud.com>: user does not exist", BounceCategory::kInvalidRecipient},
    {550, "5.7.1", "Your message was rejected due to example.com's DMARC policy.",
     BounceCategory::kAuthFailure},
    {550, "5.7.1",
     "[CS01] Message rejected due to local policy. Please visit "
     "https://support.apple.com/en-us/HT204137",
     BounceCategory::kPolicy},
    {421, "4.7.1", "Messages to x@icloud.com deferred due to excessive volume. Try again later",
     BounceCategory::kThrottled},
    // Open-source MTAs, appliances and block lists
    {550, "5.1.1",
     "<x@example.org>: Recipient address rejected: User unknown in virtual mailbox "
     "table",
     BounceCategory::kInvalidRecipient},
    {550, "", "No such user (x@example.org)", BounceCategory::kInvalidRecipient},
    {550, "5.2.1", "<x@example.org>: account has been disabled", BounceCategory::kInactiveMailbox},
    {452, "4.2.2", "Mailbox full", BounceCategory::kMailboxFull},
    {552, "5.3.4", "Message size exceeds fixed limit", BounceCategory::kMessageTooLarge},
    {554, "5.7.1", "Message rejected: virus found (Eicar-Test-Signature)",
     BounceCategory::kContentRejected},
    {554, "5.6.0", "Content rejected", BounceCategory::kContentRejected},
    {550, "5.7.1", "Reject due to SPF policy. The originating IP is not permitted",
     BounceCategory::kAuthFailure},
    {550, "5.7.1", "DKIM signature did not verify", BounceCategory::kAuthFailure},
    {451, "4.7.1", "Greylisting in action, please come back later", BounceCategory::kThrottled},
    {450, "4.2.0", "<x@example.org>: Recipient address rejected: Greylisted",
     BounceCategory::kThrottled},
    {554, "5.7.1", "<x@example.org>: Relay access denied", BounceCategory::kPolicy},
    {554, "", "Service unavailable; Client host [192.0.2.7] blocked using Barracuda Reputation",
     BounceCategory::kSpamBlock},
    {550, "5.7.1", "Blocked - listed in dnsbl.sorbs.net", BounceCategory::kSpamBlock},
    {554, "5.7.1", "Your IP address is on our blacklist", BounceCategory::kSpamBlock},
    {550, "5.1.2", "<x@nowhere.example>: Recipient address rejected: Domain not found",
     BounceCategory::kBadDomain},
    {550, "5.4.4", "Host or domain name not found. Name service error for name=nowhere.example",
     BounceCategory::kBadDomain},
    {450, "4.4.3",
     "Host or domain name not found. Name service error for name=example.org type=MX: Host not "
     "found, try again",
     BounceCategory::kDnsFailure},
    {421, "4.4.2", "mx.example.org Error: timeout exceeded", BounceCategory::kConnectionFailure},
    {554, "5.4.7",
     "[internal] message timeout (exceeded max time, last transfail: 421 4.7.0 [TSS04] "
     "Messages from 192.0.2.7 temporarily deferred)",
     BounceCategory::kExpired},
    {550, "5.1.8", "<bounce@example.com>: Sender address rejected: Domain not found",
     BounceCategory::kPolicy},
    {535, "5.7.8", "Authentication credentials invalid", BounceCategory::kAuthFailure},
    {550, "5.1.1", "User not listed in public Name & Address Book",
     BounceCategory::kInvalidRecipient},
    {421, "", "Max message per connection reached, closing transmission channel",
     BounceCategory::kThrottled},
    {451, "", "Internal resource temporarily unavailable", BounceCategory::kThrottled},
    {450, "4.7.1", "<mta.example.com>: Helo command rejected: Host not found",
     BounceCategory::kAuthFailure},
    {554, "",
     "gmx.net (mxgmx104) Nemesis ESMTP Service not available No SMTP service IP address "
     "is block listed.",
     BounceCategory::kSpamBlock},
    {421, "4.4.2", "Timeout - closing connection", BounceCategory::kConnectionFailure},
    {554, "5.3.0", "Transaction failed", BounceCategory::kOther},
};

TEST(BounceClassifier, ProviderRepliesGetTheirCategory) {
  std::set<BounceCategory> seen;
  for (const Reply& r : kProviderReplies) {
    Classification c = Shipped().Classify(r.code, r.enhanced, r.text);
    EXPECT_EQ(BounceCategoryName(c.category), BounceCategoryName(r.want))
        << Describe(r) << " (rule " << c.rule << ")";
    EXPECT_EQ(c.permanent, r.code >= 500) << Describe(r);
    seen.insert(r.want);
  }
  // Every category is exercised by a real-looking reply.
  EXPECT_EQ(seen.size(), static_cast<size_t>(kLastBounceCategory) + 1);
}

TEST(BounceClassifier, ProviderRepliesAreMatchedByShippedRules) {
  for (const Reply& r : kProviderReplies) {
    if (r.want == BounceCategory::kOther) continue;
    Classification c = Shipped().Classify(r.code, r.enhanced, r.text);
    EXPECT_EQ(c.rule.rfind(std::string(kShippedBounceRulesName) + ":", 0), 0u)
        << Describe(r) << " matched " << c.rule;
  }
}

// Our own replies, with the texts the delivery engine and the SMTP client produce.
const std::vector<Reply> kLocalReplies = {
    {451, "4.4.1", "no MX host could be reached", BounceCategory::kConnectionFailure},
    {451, "4.4.1", "cannot bind to source address 192.0.2.7: Cannot assign requested address",
     BounceCategory::kConnectionFailure},
    {451, "4.4.2", "connection lost: timeout", BounceCategory::kConnectionFailure},
    {451, "4.4.3", "DNS lookup of example.org failed temporarily: SERVFAIL",
     BounceCategory::kDnsFailure},
    {451, "4.4.3", "cannot resolve MX host mx.example.org: timeout", BounceCategory::kDnsFailure},
    {550, "5.1.2",
     "recipient domain nowhere.example does not exist or has no mail server (NXDOMAIN)",
     BounceCategory::kBadDomain},
    {550, "5.1.10", "recipient domain nomail.example accepts no mail (null MX)",
     BounceCategory::kBadDomain},
    {451, "4.4.5", "every pool of egress rule gmail is quarantined or pinned out for google.com",
     BounceCategory::kPolicy},
    {451, "4.7.5", "STARTTLS refused: 454 4.7.0 TLS not available due to local problem",
     BounceCategory::kConnectionFailure},
    {451, "4.7.5", "TLS is required on this route and the server does not offer STARTTLS",
     BounceCategory::kConnectionFailure},
    {451, "4.7.5", "connection lost: TLS handshake failed: certificate verify failed",
     BounceCategory::kConnectionFailure},
    {451, "4.7.8", "relay refused AUTH: 535 5.7.8 Authentication credentials invalid",
     BounceCategory::kAuthFailure},
    {451, "4.7.0",
     "not sending AUTH credentials without TLS (the relay did not offer STARTTLS; set tls = "
     "\"disabled\" to allow it)",
     BounceCategory::kAuthFailure},
    {451, "4.7.0", "the relay offers neither AUTH PLAIN nor AUTH LOGIN (before TLS)",
     BounceCategory::kAuthFailure},
    {451, "4.4.1", "connect to mx.example.org[192.0.2.9]:25 failed: Connection refused",
     BounceCategory::kConnectionFailure},
    {451, "4.3.0", "spool read failed: IO error", BounceCategory::kOther},
    {550, "5.3.0", "message body missing from the spool", BounceCategory::kOther},
    {550, "5.6.7", "the address needs SMTPUTF8 and the server does not offer it",
     BounceCategory::kContentRejected},
};

TEST(BounceClassifier, LocalRepliesGetTheirCategory) {
  for (const Reply& r : kLocalReplies) {
    Classification c = Shipped().Classify(r.code, r.enhanced, r.text);
    EXPECT_EQ(BounceCategoryName(c.category), BounceCategoryName(r.want))
        << Describe(r) << " (rule " << c.rule << ")";
    EXPECT_EQ(c.permanent, r.code >= 500) << Describe(r);
  }
}

TEST(BounceClassifier, FallbackUsesEnhancedThenBasicCode) {
  BounceClassifier none;  // no rules at all
  struct Case {
    int code;
    const char* enhanced;
    BounceCategory want;
  };
  const std::vector<Case> cases = {
      {550, "5.1.1", BounceCategory::kInvalidRecipient},
      {550, "5.1.2", BounceCategory::kBadDomain},
      {556, "5.1.10", BounceCategory::kBadDomain},
      {452, "4.2.2", BounceCategory::kMailboxFull},
      {550, "5.2.1", BounceCategory::kInactiveMailbox},
      {450, "4.2.1", BounceCategory::kThrottled},
      {552, "5.3.4", BounceCategory::kMessageTooLarge},
      {550, "5.7.1", BounceCategory::kPolicy},
      {550, "5.7.26", BounceCategory::kAuthFailure},
      {451, "4.4.1", BounceCategory::kConnectionFailure},
      {451, "4.4.2", BounceCategory::kConnectionFailure},
      {451, "4.4.3", BounceCategory::kDnsFailure},
      {451, "4.7.5", BounceCategory::kConnectionFailure},
      {451, "4.7.8", BounceCategory::kAuthFailure},
      {554, "5.4.7", BounceCategory::kExpired},
      {554, "5.6.0", BounceCategory::kContentRejected},
      {421, "", BounceCategory::kThrottled},
      {553, "", BounceCategory::kInvalidRecipient},
      {550, "", BounceCategory::kOther},
      {550, "5.9.9", BounceCategory::kOther},
      {550, "garbage", BounceCategory::kOther},
  };
  for (const Case& k : cases) {
    Classification c = none.Classify(k.code, k.enhanced, "whatever");
    EXPECT_EQ(BounceCategoryName(c.category), BounceCategoryName(k.want))
        << k.code << " " << k.enhanced;
    EXPECT_EQ(c.rule, "default");
  }
}

TEST(BounceClassifier, BasicCodeAloneDecidesPermanence) {
  // Gmail prints a 4xx basic code with a 5.x enhanced code: still a retry.
  Classification c = Shipped().Classify(421, "5.7.32", "isn't aligned with SPF or DKIM");
  EXPECT_FALSE(c.permanent);
  // A 5xx with a 4.x enhanced code: still a failure.
  c = Shipped().Classify(550, "4.2.2", "mailbox full");
  EXPECT_TRUE(c.permanent);
  EXPECT_EQ(c.category, BounceCategory::kMailboxFull);
  // Mailbox full is temporary or permanent by code, the same category either way.
  EXPECT_FALSE(Shipped().Classify(452, "4.2.2", "Mailbox full").permanent);
  EXPECT_TRUE(Shipped().Classify(552, "5.2.2", "Mailbox full").permanent);
  // No reply at all (code 0) is never permanent.
  EXPECT_FALSE(Shipped().Classify(0, "", "").permanent);
}

TEST(BounceClassifier, ExpiredHelper) {
  Classification c = BounceClassifier::Expired();
  EXPECT_TRUE(c.permanent);
  EXPECT_EQ(c.category, BounceCategory::kExpired);
  EXPECT_EQ(c.rule, "expired");
}

TEST(BounceClassifier, FirstMatchingRuleWins) {
  BounceClassifier c;
  Status s = c.Add(R"(
[[rule]]
category = "mailbox_full"
code = "55x"
text = 'quota'

[[rule]]
category = "inactive_mailbox"
text = 'quota'

[[rule]]
category = "spam_block"
code = ["550", "554"]
enhanced = '^5\.7\.1$'
text = 'listed'
)",
                   "ops.toml");
  ASSERT_TRUE(s.ok()) << s.error().detail;
  EXPECT_EQ(c.size(), 3u);
  Classification r = c.Classify(552, "5.2.2", "over quota");
  EXPECT_EQ(r.category, BounceCategory::kMailboxFull);
  EXPECT_EQ(r.rule, "ops.toml:0");
  // The first rule's code does not match a 452: the second rule answers.
  r = c.Classify(452, "4.2.2", "over QUOTA");
  EXPECT_EQ(r.category, BounceCategory::kInactiveMailbox);
  EXPECT_EQ(r.rule, "ops.toml:1");
  // Every part of a rule must match.
  EXPECT_EQ(c.Classify(554, "5.7.1", "IP listed at example").rule, "ops.toml:2");
  EXPECT_EQ(c.Classify(553, "5.7.1", "IP listed at example").rule, "default");
  EXPECT_EQ(c.Classify(554, "5.7.10", "IP listed at example").rule, "default");
  EXPECT_EQ(c.Classify(554, "5.7.1", "IP blocked").rule, "default");
}

TEST(BounceClassifier, AnEmptyEnhancedPatternMeansNoEnhancedCode) {
  BounceClassifier c;
  ASSERT_TRUE(c.Add("[[rule]]\ncategory = 'message_too_large'\nenhanced = '^$'\ntext = 'size'\n",
                    "ops.toml")
                  .ok());
  EXPECT_EQ(c.Classify(552, "", "Message size exceeds fixed limit").rule, "ops.toml:0");
  EXPECT_EQ(c.Classify(552, "5.2.2", "mailbox size exceeded").rule, "default");
}

TEST(BounceClassifier, OperatorFileWinsOverShippedRules) {
  test::TempDir dir;
  const std::string path = dir.path() + "/bounce_rules.toml";
  std::ofstream(path) << R"(
# Our outsourced gateway says "does not exist" for recipients it has not synced yet.
[[rule]]
category = "other"
code = "5xx"
text = 'does not exist'
)";
  auto c = BounceClassifier::Load(path);
  ASSERT_TRUE(c.ok()) << c.error().detail;
  Classification r =
      c.value().Classify(550, "5.1.1", "The email account that you tried to reach does not exist.");
  EXPECT_EQ(r.category, BounceCategory::kOther);
  EXPECT_EQ(r.rule, path + ":0");
  EXPECT_TRUE(r.permanent);
  // Replies the operator's file does not match still get the shipped rules.
  r = c.value().Classify(452, "4.2.2", "The email account that you tried to reach is over quota.");
  EXPECT_EQ(r.category, BounceCategory::kMailboxFull);
  EXPECT_EQ(r.rule.rfind(std::string(kShippedBounceRulesName) + ":", 0), 0u) << r.rule;
}

TEST(BounceClassifier, LoadNamesAnUnreadableOperatorFile) {
  auto c = BounceClassifier::Load("/nonexistent/bounce_rules.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("/nonexistent/bounce_rules.toml"), std::string::npos);
}

TEST(BounceClassifier, BadRulesFilesGetSpecificErrors) {
  struct Case {
    const char* toml;
    Code code;
    const char* detail;  // a fragment of Error::detail
    const char* field;
  };
  const std::vector<Case> cases = {
      {"[[rule]]\ncategory = 'policy'\ntext = 'ok'\n[[rule]]\ncategory = 'policy'\ntext = '(abc'\n",
       Code::kInvalidValue, "ops.toml:1 (line 4): text is not a valid expression", "rule[1].text"},
      {"[[rule]]\ncategory = 'policy'\nenhanced = '^5\\.7\\.[1'\n", Code::kInvalidValue,
       "ops.toml:0 (line 1): enhanced is not a valid expression", "rule[0].enhanced"},
      {"[[rule]]\ncategory = 'hard_bounce'\ntext = 'x'\n", Code::kInvalidValue,
       "ops.toml:0 (line 1): category 'hard_bounce' is not a category", "rule[0].category"},
      {"[[rule]]\ntext = 'x'\n", Code::kMissingField, "ops.toml:0 (line 1): category is required",
       "rule[0].category"},
      {"[[rule]]\ncategory = 'other'\n", Code::kMissingField,
       "ops.toml:0 (line 1): matches every reply", "rule[0]"},
      {"[[rule]]\ncategory = 'other'\ncode = '6xx'\n", Code::kInvalidValue,
       "ops.toml:0 (line 1): code '6xx' is not a reply code pattern", "rule[0].code"},
      {"[[rule]]\ncategory = 'other'\ncode = ['550', 55]\n", Code::kInvalidType,
       "ops.toml:0 (line 1): code must be a string or a list of strings", "rule[0].code"},
      {"[[rule]]\ncategory = 'other'\ncode = []\n", Code::kInvalidType,
       "ops.toml:0 (line 1): code must be a string or a list of strings", "rule[0].code"},
      {"[[rule]]\ncategory = 'other'\ntext = 5\n", Code::kInvalidType,
       "ops.toml:0 (line 1): text must be a string", "rule[0].text"},
      {"[[rule]]\ncategory = 'other'\ntext = ''\n", Code::kInvalidValue,
       "ops.toml:0 (line 1): text must be a regular expression", "rule[0].text"},
      {"[[rule]]\ncategory = 'other'\ntext = 'x'\ncolour = 'red'\n", Code::kUnknownField,
       "ops.toml:0 (line 1): colour is not a rule key", "rule[0].colour"},
      {"[[rules]]\ncategory = 'other'\ntext = 'x'\n", Code::kUnknownField,
       "ops.toml: unknown key 'rules'", "rules"},
      {"rule = 'x'\n", Code::kInvalidType, "ops.toml: 'rule' must be [[rule]] tables", "rule"},
      {"[[rule]]\ncategory = \n", Code::kInvalidValue, "ops.toml: line 2: ", ""},
  };
  for (const Case& k : cases) {
    BounceClassifier c;
    ASSERT_TRUE(c.Add("[[rule]]\ncategory = 'policy'\ntext = 'first file'\n", "first.toml").ok());
    Status s = c.Add(k.toml, "ops.toml");
    ASSERT_FALSE(s.ok()) << k.toml;
    EXPECT_EQ(s.error().code, k.code) << k.toml << " -> " << s.error().detail;
    EXPECT_NE(s.error().detail.find(k.detail), std::string::npos)
        << k.toml << " -> " << s.error().detail;
    EXPECT_EQ(s.error().field, k.field) << k.toml;
    // A file with an error adds nothing, and what was there still works.
    EXPECT_EQ(c.size(), 1u) << k.toml;
    EXPECT_EQ(c.Classify(550, "", "the first file").rule, "first.toml:0");
  }
}

TEST(BounceClassifier, AnOperatorFileErrorFailsLoad) {
  test::TempDir dir;
  const std::string path = dir.path() + "/bad.toml";
  std::ofstream(path) << "[[rule]]\ncategory = 'policy'\ntext = '(unclosed'\n";
  auto c = BounceClassifier::Load(path);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find(path + ":0 (line 1): text"), std::string::npos)
      << c.error().detail;
  EXPECT_EQ(c.error().field, "rule[0].text");
}

TEST(BounceClassifier, LineBreaksAndCaseInTheTextDoNotMatter) {
  // A multi-line Gmail reply, joined with CRLF and extra blanks where the lines broke.
  Classification c = Shipped().Classify(
      550, "5.1.1", "The email account that you tried to reach\r\n   does   not\texist.");
  EXPECT_EQ(c.category, BounceCategory::kInvalidRecipient);
  EXPECT_EQ(Shipped().Classify(550, "", "USER UNKNOWN").category,
            BounceCategory::kInvalidRecipient);
}

TEST(BounceClassifier, OnlyTheFirstKilobytesOfTextAreRead) {
  std::string text(BounceClassifier::kMaxTextBytes, 'a');
  text += " user unknown";
  Classification c = Shipped().Classify(550, "", text);
  EXPECT_EQ(c.category, BounceCategory::kOther);
  EXPECT_EQ(c.rule, "default");
}

TEST(BounceClassifier, HostileInputNeverBreaksIt) {
  std::mt19937 rng(42);
  std::vector<std::string> texts = {
      std::string(1 << 20, 'a'),                                            // long
      std::string(100000, '\0'),                                            // NULs
      std::string("\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc"),  // invalid UTF-8
      std::string(50000, '\n') + "user unknown",  // whitespace only, then a match
      std::string(5000, '(') + std::string(5000, '*'),
  };
  std::string random(1 << 16, '\0');
  for (char& ch : random) ch = static_cast<char>(rng());
  texts.push_back(random);
  const std::vector<std::string> enhanced = {"",
                                             "5.1.1",
                                             "5.1.1.1.1",
                                             "999999999999.1.1",
                                             std::string(10000, '5'),
                                             "5.",
                                             "\xff.\x00.1",
                                             std::string("5.1\0.1", 6)};
  const std::vector<int> codes = {-1, 0, 99, 250, 421, 550, 599, 600, 1000000};
  for (const std::string& t : texts) {
    for (const std::string& e : enhanced) {
      for (int code : codes) {
        Classification c = Shipped().Classify(code, e, t);
        EXPECT_LE(static_cast<int>(c.category), static_cast<int>(kLastBounceCategory));
        EXPECT_EQ(c.permanent, code >= 500 && code <= 599);
        EXPECT_FALSE(c.rule.empty());
      }
    }
  }
  // The limit applies to the raw text: a match after 4 KiB of blanks is not seen.
  EXPECT_EQ(Shipped().Classify(550, "", texts[3]).rule, "default");
}

TEST(BounceClassifier, BacktrackingHostileExpressionsAreAnswered) {
  // (a+)+$ takes exponential time in a backtracking engine on "aaaa...b"; RE2 is linear.
  BounceClassifier c;
  ASSERT_TRUE(c.Add("[[rule]]\ncategory = 'other'\ntext = '(a+)+$'\n"
                    "[[rule]]\ncategory = 'policy'\ntext = '^(a|aa)*c'\n",
                    "evil.toml")
                  .ok());
  std::string text(BounceClassifier::kMaxTextBytes - 1, 'a');
  text += "b";
  Classification r = c.Classify(550, "", text);
  EXPECT_EQ(r.rule, "default");
  EXPECT_EQ(c.Classify(550, "", std::string(100, 'a')).rule, "evil.toml:0");
}

TEST(BounceClassifier, ClassifiesFromManyThreadsAtOnce) {
  std::vector<Classification> want;
  for (const Reply& r : kProviderReplies)
    want.push_back(Shipped().Classify(r.code, r.enhanced, r.text));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        for (size_t i = 0; i < kProviderReplies.size(); ++i) {
          const Reply& r = kProviderReplies[(i + t) % kProviderReplies.size()];
          Classification c = Shipped().Classify(r.code, r.enhanced, r.text);
          const Classification& w = want[(i + t) % kProviderReplies.size()];
          if (c.category != w.category || c.rule != w.rule) ++mismatches[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace
}  // namespace mp::feedback
