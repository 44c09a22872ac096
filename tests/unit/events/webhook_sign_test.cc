#include "events/webhook_sign.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace mp::events {
namespace {

// The signing example of the specification's JavaScript library (its tests, "sign function
// works"), which the npm package `standardwebhooks` 1.1.1 reproduces.
constexpr char kLibSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kLibId[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kLibTimestamp = 1614265330;
constexpr char kLibBody[] = "{\"test\": 2432232314}";
constexpr char kLibSignature[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

// Computed with npm `standardwebhooks` 1.1.1: new Webhook(kOwnSecret).sign(kOwnId,
// new Date(1674087231 * 1000), kOwnBody). The key is the 32 bytes 0x00..0x1f; the body is a batch
// with non-ASCII UTF-8 and a line break.
constexpr char kOwnSecret[] = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
constexpr char kOwnId[] = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
constexpr int64_t kOwnTimestamp = 1674087231;
constexpr char kOwnBody[] =
    "[{\"type\":\"message.delivered\",\"timestamp\":\"2023-01-19T00:13:51Z\",\"data\":{\"subject\":"
    "\"Gr\xc3\xbc\xc3\x9f"
    "e \xe2\x9c\x89\"}},\n{\"type\":\"message.bounced\"}]";
constexpr char kOwnSignature[] = "v1,ABKtTOWx1ua6spKgEaSJpEagt1+GOK3/22BoiAoeaRQ=";

TEST(WebhookSign, MatchesTheSpecificationLibrarysVector) {
  auto signed_headers = SignWebhook(kLibSecret, kLibId, kLibTimestamp, kLibBody);
  ASSERT_TRUE(signed_headers.ok()) << signed_headers.error().detail;
  EXPECT_EQ(signed_headers->id, kLibId);
  EXPECT_EQ(signed_headers->timestamp, "1614265330");
  EXPECT_EQ(signed_headers->signature, kLibSignature);
}

TEST(WebhookSign, MatchesAVectorComputedWithTheNpmPackage) {
  auto signed_headers = SignWebhook(kOwnSecret, kOwnId, kOwnTimestamp, kOwnBody);
  ASSERT_TRUE(signed_headers.ok()) << signed_headers.error().detail;
  EXPECT_EQ(signed_headers->signature, kOwnSignature);
}

TEST(WebhookSign, SecretWithoutPrefixSignsTheSame) {
  std::string bare = std::string(kLibSecret).substr(6);
  auto signed_headers = SignWebhook(bare, kLibId, kLibTimestamp, kLibBody);
  ASSERT_TRUE(signed_headers.ok());
  EXPECT_EQ(signed_headers->signature, kLibSignature);
}

TEST(WebhookSign, EveryPartIsSigned) {
  auto base = SignWebhook(kOwnSecret, kOwnId, kOwnTimestamp, kOwnBody);
  ASSERT_TRUE(base.ok());
  std::set<std::string> signatures{base->signature};
  signatures.insert(SignWebhook(kLibSecret, kOwnId, kOwnTimestamp, kOwnBody)->signature);
  signatures.insert(SignWebhook(kOwnSecret, "msg_other", kOwnTimestamp, kOwnBody)->signature);
  signatures.insert(SignWebhook(kOwnSecret, kOwnId, kOwnTimestamp + 1, kOwnBody)->signature);
  signatures.insert(SignWebhook(kOwnSecret, kOwnId, kOwnTimestamp, "[]")->signature);
  EXPECT_EQ(signatures.size(), 5u);
}

TEST(WebhookSign, MultipleSecretsGiveSpaceSeparatedSignaturesInOrder) {
  std::vector<std::string> secrets{kOwnSecret, kLibSecret};
  auto both = SignWebhook(secrets, kLibId, kLibTimestamp, kLibBody);
  ASSERT_TRUE(both.ok()) << both.error().detail;
  auto own = SignWebhook(kOwnSecret, kLibId, kLibTimestamp, kLibBody);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(both->signature, own->signature + " " + kLibSignature);
  // A receiver that knows only one of the secrets accepts the request.
  const int64_t now = kLibTimestamp + 10;
  EXPECT_TRUE(VerifyWebhook(kOwnSecret, kLibId, "1614265330", both->signature, kLibBody, now));
  EXPECT_TRUE(VerifyWebhook(kLibSecret, kLibId, "1614265330", both->signature, kLibBody, now));
  EXPECT_FALSE(
      VerifyWebhook(NewWebhookSecret(), kLibId, "1614265330", both->signature, kLibBody, now));
}

TEST(WebhookSign, MultipleSecretsNameTheBadOne) {
  std::vector<std::string> secrets{kOwnSecret, "whsec_c2hvcnQ="};
  auto r = SignWebhook(secrets, kLibId, kLibTimestamp, kLibBody);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Code::kInvalidValue);
  EXPECT_EQ(r.error().field, "secret[1]");
  EXPECT_NE(r.error().detail.find("decodes to 5 bytes"), std::string::npos) << r.error().detail;
  auto none = SignWebhook(std::vector<std::string>{}, kLibId, kLibTimestamp, kLibBody);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().detail, "no webhook secret");
}

TEST(WebhookSign, NewSecretsHaveTheSpecificationsFormAndDiffer) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    std::string secret = NewWebhookSecret();
    ASSERT_EQ(secret.rfind("whsec_", 0), 0u) << secret;
    EXPECT_EQ(secret.size(), 6u + 32u) << secret;  // base64 of 24 bytes, no padding needed
    auto key = DecodeWebhookSecret(secret);
    ASSERT_TRUE(key.ok()) << secret;
    EXPECT_EQ(key->size(), 24u);
    seen.insert(secret);
  }
  EXPECT_EQ(seen.size(), 20u);
}

TEST(WebhookSign, DecodeGivesTheRawKey) {
  auto key = DecodeWebhookSecret(kOwnSecret);
  ASSERT_TRUE(key.ok());
  ASSERT_EQ(key->size(), 32u);
  for (size_t i = 0; i < key->size(); ++i) EXPECT_EQ(static_cast<unsigned char>(key.value()[i]), i);
  // 64 bytes, the largest key, with and without the prefix.
  std::string b64_64(86, 'A');
  b64_64 += "==";
  EXPECT_TRUE(DecodeWebhookSecret(b64_64).ok());
  EXPECT_TRUE(DecodeWebhookSecret("whsec_" + b64_64).ok());
}

TEST(WebhookSign, BadSecretsAreRefusedWithAReason) {
  struct Case {
    std::string secret;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", "is empty"},
      {"whsec_", "is empty"},
      {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "not standard base64"},     // 31 characters
      {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!", "not standard base64"},    // bad character
      {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La LaSw", "not standard base64"},   // blank inside
      {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n", "not standard base64"},  // trailing LF
      {"whsec_MfKQ9r8G-YqrTwjUPD8ILPZIo2LaLaSw", "not standard base64"},    // URL-safe alphabet
      {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La=aSw", "not standard base64"},    // '=' inside
      {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaL===", "not standard base64"},    // three '='
      {"whsec_c2VjcmV0", "decodes to 6 bytes; it must be 24 to 64"},
      {"whsec_" + std::string(88, 'A'), "decodes to 66 bytes; it must be 24 to 64"},
      {"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "not standard base64"},  // prefix is lower case
  };
  for (const auto& c : cases) {
    auto key = DecodeWebhookSecret(c.secret);
    ASSERT_FALSE(key.ok()) << c.secret;
    EXPECT_EQ(key.error().code, Code::kInvalidValue);
    EXPECT_EQ(key.error().field, "secret");
    EXPECT_NE(key.error().detail.find(c.says), std::string::npos)
        << c.secret << ": " << key.error().detail;
    auto signed_headers = SignWebhook(c.secret, kLibId, kLibTimestamp, kLibBody);
    EXPECT_FALSE(signed_headers.ok()) << c.secret;
  }
}

TEST(WebhookSign, BadMessageIdsAndTimestampsAreRefused) {
  for (const std::string& id :
       std::vector<std::string>{"", "msg.1", "msg 1", "msg\r\n1", std::string("msg\0", 4),
                                "msg\x80", std::string(kMaxWebhookIdBytes + 1, 'a')}) {
    auto r = SignWebhook(kLibSecret, id, kLibTimestamp, kLibBody);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.error().field, "id");
  }
  EXPECT_TRUE(SignWebhook(kLibSecret, std::string(kMaxWebhookIdBytes, 'a'), 0, "").ok());
  auto negative = SignWebhook(kLibSecret, kLibId, -1, kLibBody);
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.error().field, "timestamp");
}

TEST(WebhookVerify, AcceptsOwnSignaturesAndRejectsTampering) {
  const std::string secret = NewWebhookSecret();
  const std::string body = "{\"type\":\"message.delivered\",\"data\":{\"id\":\"01J\"}}";
  const int64_t ts = 1700000000;
  auto s = SignWebhook(secret, "msg_1", ts, body);
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(VerifyWebhook(secret, "msg_1", s->timestamp, s->signature, body, ts));
  // The bare key form of the same secret verifies too.
  EXPECT_TRUE(VerifyWebhook(secret.substr(6), "msg_1", s->timestamp, s->signature, body, ts));
  std::string tampered = body;
  tampered[10] ^= 1;
  EXPECT_FALSE(VerifyWebhook(secret, "msg_1", s->timestamp, s->signature, tampered, ts));
  EXPECT_FALSE(VerifyWebhook(secret, "msg_2", s->timestamp, s->signature, body, ts));
  EXPECT_FALSE(VerifyWebhook(secret, "msg_1", "1700000001", s->signature, body, ts));
  EXPECT_FALSE(VerifyWebhook(NewWebhookSecret(), "msg_1", s->timestamp, s->signature, body, ts));
  // Malformed signature headers.
  const std::string b64 = s->signature.substr(3);
  for (const std::string& header :
       std::vector<std::string>{std::string(), "v1," + b64.substr(0, 20), "v2," + b64, b64,
                                "v1a," + b64, "v1, " + b64, "v1,", "v1," + b64 + "x"}) {
    EXPECT_FALSE(VerifyWebhook(secret, "msg_1", s->timestamp, header, body, ts)) << header;
  }
  // Among other entries, in any position, as the specification's multi-signature header allows.
  EXPECT_TRUE(VerifyWebhook(secret, "msg_1", s->timestamp, "v1a,abc v2," + b64 + " " + s->signature,
                            body, ts));
  EXPECT_TRUE(VerifyWebhook(secret, "msg_1", s->timestamp,
                            s->signature + " v1,Ceo5qEr07ixe2NLpvHk3F", body, ts));
}

TEST(WebhookVerify, TimestampToleranceStopsReplays) {
  const int64_t ts = 1700000000;
  auto s = SignWebhook(kOwnSecret, kOwnId, ts, kOwnBody);
  ASSERT_TRUE(s.ok());
  auto verify_at = [&](int64_t now, int64_t tolerance = kWebhookToleranceSeconds) {
    return VerifyWebhook(kOwnSecret, kOwnId, s->timestamp, s->signature, kOwnBody, now, tolerance);
  };
  EXPECT_TRUE(verify_at(ts + 300));
  EXPECT_FALSE(verify_at(ts + 301));
  EXPECT_TRUE(verify_at(ts - 300));
  EXPECT_FALSE(verify_at(ts - 301));
  EXPECT_TRUE(verify_at(ts + 3600, 3600));
  for (const std::string& bad : std::vector<std::string>{
           "", "+1700000000", " 1700000000", "1700000000.0", "1e9", "99999999999999999999"}) {
    EXPECT_FALSE(VerifyWebhook(kOwnSecret, kOwnId, bad, s->signature, kOwnBody, ts)) << bad;
  }
}

// Independent verification with the specification's own npm package (tests/tools/
// webhook_verify.mjs), which checks the timestamp against its clock: sign with the current time.
using test::RunCommand;
using test::RunResult;
using test::ShellQuote;
using test::ToolsDir;

int ExitCode(const RunResult& r) {
  return r.status != -1 && WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

TEST(WebhookVerifiers, NpmStandardWebhooksAcceptsOurSignaturesAndRejectsTampering) {
  const std::filesystem::path tool = ToolsDir() / "webhook_verify.mjs";
  ASSERT_TRUE(std::filesystem::exists(tool)) << tool;
  test::TempDir dir;
  auto write = [&](const std::string& name, const std::string& content) {
    std::string path = dir.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  };
  const std::string body = kOwnBody;
  const std::string good = write("good.json", body);
  std::string tampered_body = body;
  tampered_body.back() = ' ';
  const std::string tampered = write("tampered.json", tampered_body);

  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string secret = NewWebhookSecret();
  const std::string old_secret = NewWebhookSecret();
  auto one = SignWebhook(secret, "msg_01J9ZK3QW8", now, body);
  auto rotating =
      SignWebhook(std::vector<std::string>{old_secret, secret}, "msg_01J9ZK3QW8", now, body);
  ASSERT_TRUE(one.ok() && rotating.ok());
  auto verify = [&](const std::string& key, const SignedHeaders& h, const std::string& path) {
    return RunCommand("node " + ShellQuote(tool.string()) + " " + ShellQuote(key) + " " +
                      ShellQuote(h.id) + " " + ShellQuote(h.timestamp) + " " +
                      ShellQuote(h.signature) + " " + ShellQuote(path));
  };

  RunResult ok = verify(secret, one.value(), good);
  ASSERT_EQ(ExitCode(ok), 0) << "standardwebhooks did not accept (install: scripts/deps.sh):\n"
                             << ok.output;
  EXPECT_EQ(ok.output, "pass\n");
  // The bare key form, and each side of a rotation.
  EXPECT_EQ(ExitCode(verify(secret.substr(6), one.value(), good)), 0);
  RunResult new_side = verify(secret, rotating.value(), good);
  EXPECT_EQ(ExitCode(new_side), 0) << new_side.output;
  RunResult old_side = verify(old_secret, rotating.value(), good);
  EXPECT_EQ(ExitCode(old_side), 0) << old_side.output;

  RunResult bad = verify(secret, one.value(), tampered);
  EXPECT_EQ(ExitCode(bad), 1) << bad.output;
  EXPECT_EQ(bad.output.rfind("fail No matching signature found", 0), 0u) << bad.output;
  EXPECT_EQ(ExitCode(verify(NewWebhookSecret(), rotating.value(), good)), 1);
  SignedHeaders other_id = one.value();
  other_id.id = "msg_01J9ZK3QW9";
  EXPECT_EQ(ExitCode(verify(secret, other_id, good)), 1);
  // A replay an hour later is refused by the receiver's clock.
  auto stale = SignWebhook(secret, "msg_01J9ZK3QW8", now - 3600, body);
  ASSERT_TRUE(stale.ok());
  RunResult old = verify(secret, stale.value(), good);
  EXPECT_EQ(ExitCode(old), 1) << old.output;
  EXPECT_NE(old.output.find("too old"), std::string::npos) << old.output;
}

}  // namespace
}  // namespace mp::events
