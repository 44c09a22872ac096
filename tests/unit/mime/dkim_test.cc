#include "mime/dkim.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "mime/encoding.h"
#include "test_util.h"

namespace mp::dkim {
namespace {

std::string Crlf(std::string_view lf_text) {
  std::string out;
  for (char c : lf_text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

// The field's text with folds removed, for looking at tags.
std::string Unfold(std::string_view field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field.compare(i, 2, "\r\n") == 0) {
      ++i;
      continue;
    }
    out.push_back(field[i]);
  }
  return out;
}

// The value of tag `tag` in an unfolded DKIM-Signature field, whitespace removed.
std::string Tag(std::string_view field, std::string_view tag) {
  std::string flat = Unfold(field);
  std::string needle = " " + std::string(tag) + "=";
  size_t at = flat.find(needle);
  if (at == std::string::npos) return "<none>";
  size_t end = flat.find(';', at);
  std::string value =
      flat.substr(at + needle.size(), end == std::string::npos ? end : end - at - needle.size());
  std::erase_if(value, [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
  return value;
}

SigningKey LoadGenerated(Algorithm algorithm, std::string domain = "example.com",
                         std::string selector = "sel") {
  auto generated = GenerateKey(algorithm);
  EXPECT_TRUE(generated.ok()) << generated.error().detail;
  auto key = SigningKey::Load(std::move(domain), std::move(selector), algorithm,
                              generated.value().private_pem);
  EXPECT_TRUE(key.ok()) << key.error().detail;
  return std::move(key).value();
}

const char kPlain[] =
    "From: Alice <alice@example.com>\n"
    "To: Bob <bob@example.org>\n"
    "Subject: Lunch\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
    "Message-ID: <plain.1@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Shall we meet at noon?\n";

// RFC 8463 appendix A: the Ed25519 key (A.1), the example message (A.2) and its signature (A.3).
constexpr char kRfcSeedB64[] = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr char kRfcPublicB64[] = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
constexpr char kRfcMessage[] =
    "From: Joe SixPack <joe@football.example.com>\n"
    "To: Suzie Q <suzie@shopping.example.net>\n"
    "Subject: Is dinner ready?\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\n"
    "\n"
    "Hi.\n"
    "\n"
    "We lost the game.  Are you hungry yet?\n"
    "\n"
    "Joe.\n";
constexpr char kRfcUnsignedField[] =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\n"
    " d=football.example.com; i=@football.example.com;\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\n"
    " subject : date : message-id : from : subject : date;\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\n"
    " b=";
constexpr char kRfcBodyHash[] = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";
constexpr char kRfcSignature[] =
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";

std::string Ed25519PemFromSeed(std::string_view seed_b64) {
  // PKCS#8 PrivateKeyInfo for Ed25519 (RFC 8410 section 7): a fixed prefix, then the 32-byte seed.
  static const unsigned char kPrefix[] = {0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06,
                                          0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20};
  std::string der(reinterpret_cast<const char*>(kPrefix), sizeof kPrefix);
  der += Base64Decode(seed_b64).value();
  return "-----BEGIN PRIVATE KEY-----\n" + Base64Encode(der) + "\n-----END PRIVATE KEY-----\n";
}

TEST(DkimRfc8463, Ed25519ExampleSignatureAndBodyHashByteForByte) {
  auto key = SigningKey::Load("football.example.com", "brisbane", Algorithm::kEd25519Sha256,
                              Ed25519PemFromSeed(kRfcSeedB64));
  ASSERT_TRUE(key.ok()) << key.error().detail;
  EXPECT_EQ(key.value().public_b64(), kRfcPublicB64);

  std::string message = Crlf(kRfcMessage);
  EXPECT_EQ(BodyHash(message.substr(message.find("\r\n\r\n") + 4)), kRfcBodyHash);
  const std::string_view names[] = {"from",       "to",   "subject", "date",
                                    "message-id", "from", "subject", "date"};
  auto b = SignatureFor(key.value(), message, names, Crlf(kRfcUnsignedField));
  ASSERT_TRUE(b.ok()) << b.error().detail;
  EXPECT_EQ(b.value(), kRfcSignature);

  // Sign itself computes the same body hash for the example.
  auto field = Sign(key.value(), message, 1528637909);
  ASSERT_TRUE(field.ok()) << field.error().detail;
  EXPECT_EQ(Tag(field.value(), "bh"), kRfcBodyHash);
}

TEST(DkimCanonicalization, RelaxedBodyHash) {
  const std::string empty = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";  // SHA-256 of ""
  EXPECT_EQ(BodyHash(""), empty);
  EXPECT_EQ(BodyHash("\r\n"), empty);
  EXPECT_EQ(BodyHash("\r\n \t\r\n\n"), empty);
  // Runs of spaces and tabs, whitespace at line ends, trailing empty lines.
  EXPECT_EQ(BodyHash("a \t b  \r\n\tc\r\n\r\n \r\n"), BodyHash("a b\r\n c\r\n"));
  // Bare LF and bare CR are line breaks, as on the wire; a last line gets its line break.
  EXPECT_EQ(BodyHash("x\ny\rz"), BodyHash("x\r\ny\r\nz\r\n"));
  // Empty lines inside the body stay; a space is not the same as none.
  EXPECT_NE(BodyHash("a\r\n\r\nb\r\n"), BodyHash("a\r\nb\r\n"));
  EXPECT_NE(BodyHash("a b\r\n"), BodyHash("ab\r\n"));
  // A body of more than one internal buffer hashes as the same text built another way.
  std::string big;
  std::string big_canon;
  for (int i = 0; i < 5000; ++i) {
    big += "line  " + std::to_string(i) + " \t\n";
    big_canon += "line " + std::to_string(i) + "\r\n";
  }
  EXPECT_EQ(BodyHash(big + "\n\n\n"), BodyHash(big_canon));
}

// RFC 6376 section 3.4.4 step by step, on the whole text, as a reference.
std::string ReferenceRelaxedBody(std::string_view body) {
  std::vector<std::string> lines(1);
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] == '\r' || body[i] == '\n') {
      if (body[i] == '\r' && i + 1 < body.size() && body[i + 1] == '\n') ++i;
      lines.emplace_back();
    } else {
      lines.back().push_back(body[i]);
    }
  }
  if (lines.back().empty()) lines.pop_back();  // the text ended with a line break
  for (std::string& line : lines) {
    std::string reduced;
    for (char c : line) {
      bool wsp = c == ' ' || c == '\t';
      if (wsp && !reduced.empty() && reduced.back() == ' ') continue;
      reduced.push_back(wsp ? ' ' : c);
    }
    while (!reduced.empty() && reduced.back() == ' ') reduced.pop_back();
    line = reduced;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  std::string out;
  for (const std::string& line : lines) out += line + "\r\n";
  return out;
}

std::string Sha256Base64(std::string_view data) {
  unsigned char digest[32];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr);
  return Base64Encode(std::string_view(reinterpret_cast<char*>(digest), n));
}

TEST(DkimCanonicalization, RelaxedBodyMatchesTheRfcStepsOnRandomText) {
  const char alphabet[] = {'a', 'b', ' ', ' ', '\t', '\r', '\n', '\n'};
  uint32_t state = 7;
  for (int round = 0; round < 3000; ++round) {
    std::string body;
    size_t n = round % 40;
    for (size_t i = 0; i < n; ++i) {
      state = state * 1103515245 + 12345;
      body.push_back(alphabet[(state >> 16) % sizeof alphabet]);
    }
    ASSERT_EQ(BodyHash(body), Sha256Base64(ReferenceRelaxedBody(body)))
        << "body: " << ::testing::PrintToString(body);
  }
}

TEST(DkimSign, FieldIsFoldedAndListsSignedHeadersBottomUpWithFromOnceMore) {
  SigningKey key = LoadGenerated(Algorithm::kEd25519Sha256);
  std::string message = Crlf(
      "Received: from a by b\n"
      "FROM: Alice <alice@example.com>\n"
      "to: bob@example.org\n"
      "X-Mailer: unsigned\n"
      "Subject: Hi\n"
      "To: carol@example.org\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
      "\n"
      "Body\n");
  auto field = Sign(key, message, 1700000000);
  ASSERT_TRUE(field.ok()) << field.error().detail;
  const std::string& f = field.value();
  EXPECT_EQ(f.rfind("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com;", 0),
            0u)
      << f;
  ASSERT_GE(f.size(), 2u);
  EXPECT_EQ(f.substr(f.size() - 2), "\r\n");
  EXPECT_EQ(Tag(f, "s"), "sel");
  EXPECT_EQ(Tag(f, "t"), "1700000000");
  EXPECT_EQ(Tag(f, "h"), "from:to:to:subject:date:from");
  EXPECT_EQ(Tag(f, "bh"), BodyHash("Body\r\n"));
  EXPECT_EQ(Base64Decode(Tag(f, "b")).value_or("").size(), 64u);
  // Lines of at most 78 octets; every line after the first is a continuation.
  std::istringstream lines(f);
  std::string line;
  bool first = true;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), 79u) << line;  // + the CR
    if (!first) {
      EXPECT_EQ(line[0], ' ') << line;
    }
    first = false;
  }
}

TEST(DkimSign, BareLfMessageSignsAsItsCrlfForm) {
  SigningKey key = LoadGenerated(Algorithm::kEd25519Sha256);
  auto lf = Sign(key, kPlain, 1700000000);
  auto crlf = Sign(key, Crlf(kPlain), 1700000000);
  ASSERT_TRUE(lf.ok() && crlf.ok());
  EXPECT_EQ(lf.value(), crlf.value());
}

TEST(DkimSign, RefusesMalformedMessages) {
  SigningKey key = LoadGenerated(Algorithm::kEd25519Sha256);
  auto refused = [&](const std::string& message) {
    auto r = Sign(key, message, 1700000000);
    if (r.ok()) return false;
    EXPECT_EQ(r.error().code, Code::kInvalidValue) << r.error().detail;
    return true;
  };
  EXPECT_TRUE(refused(Crlf("To: bob@example.org\nSubject: x\n\nbody\n")));  // no From
  EXPECT_TRUE(refused(Crlf("From: a@example.com\nSubject: x\n")));          // no empty line
  EXPECT_TRUE(refused("From: a@example.com"));
  EXPECT_TRUE(refused(""));
  EXPECT_TRUE(refused(Crlf(" folded: first\nFrom: a@example.com\n\nbody\n")));
  EXPECT_TRUE(refused(Crlf("From: a@example.com\nnot a field\n\nbody\n")));
  EXPECT_TRUE(refused(Crlf("From: a@example.com\nSubject : obsolete\n\nbody\n")));
  EXPECT_TRUE(refused(Crlf("From: a@example.com\n: no name\n\nbody\n")));
  std::string many = "From: a@example.com\r\n";
  for (size_t i = 0; i <= kMaxFieldsPerName; ++i) many += "To: b@example.org\r\n";
  EXPECT_TRUE(refused(many + "\r\nbody\r\n"));
  EXPECT_FALSE(Sign(key, Crlf(kPlain), -1).ok());
  // An empty body and a header that ends right at the empty line are fine.
  EXPECT_FALSE(refused(Crlf("From: a@example.com\n\n")));
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(DkimSign, NeverCrashesOnArbitraryBytes) {
  SigningKey key = LoadGenerated(Algorithm::kEd25519Sha256);
  static const char kAlphabet[] = "From:Subject: \t\r\n\0a\xff";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  uint32_t state = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string m = "From: a@example.com\r\n";
    size_t n = round % 64;
    for (size_t i = 0; i < n; ++i) {
      state = state * 1103515245 + 12345;
      m.push_back(alphabet[(state >> 16) % alphabet.size()]);
    }
    auto r = Sign(key, m, 1700000000);
    if (r.ok()) {
      EXPECT_EQ(r.value().rfind("DKIM-Signature: ", 0), 0u);
    }
  }
}

TEST(DkimSign, ManyThreadsSignWithOneKeyAlike) {
  for (Algorithm algorithm : {Algorithm::kEd25519Sha256, Algorithm::kRsaSha256}) {
    SigningKey key = LoadGenerated(algorithm);
    // Both signature schemes are deterministic: every thread must get the same field.
    auto expected = Sign(key, kPlain, 1700000000);
    ASSERT_TRUE(expected.ok());
    std::vector<std::thread> threads;
    std::array<int, 4> mismatches{};
    for (size_t t = 0; t < mismatches.size(); ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i) {
          auto r = Sign(key, kPlain, 1700000000);
          if (!r.ok() || r.value() != expected.value()) ++mismatches[t];
        }
      });
    }
    for (auto& th : threads) th.join();
    for (int m : mismatches) EXPECT_EQ(m, 0) << AlgorithmName(algorithm);
  }
}

TEST(DkimKeys, GeneratedKeysLoadAndPublish) {
  auto ed = GenerateKey(Algorithm::kEd25519Sha256);
  ASSERT_TRUE(ed.ok()) << ed.error().detail;
  EXPECT_EQ(Base64Decode(ed.value().public_b64).value_or("").size(), 32u);
  EXPECT_EQ(DnsTxtRecord(Algorithm::kEd25519Sha256, ed.value().public_b64),
            "v=DKIM1; k=ed25519; p=" + ed.value().public_b64);
  auto rsa = GenerateKey(Algorithm::kRsaSha256);
  ASSERT_TRUE(rsa.ok()) << rsa.error().detail;
  // DER SubjectPublicKeyInfo of a 2048-bit RSA key.
  EXPECT_EQ(Base64Decode(rsa.value().public_b64).value_or("").size(), 294u);
  EXPECT_EQ(DnsTxtRecord(Algorithm::kRsaSha256, rsa.value().public_b64),
            "v=DKIM1; k=rsa; p=" + rsa.value().public_b64);
  EXPECT_EQ(AlgorithmName(Algorithm::kRsaSha256), "rsa-sha256");
  EXPECT_EQ(AlgorithmName(Algorithm::kEd25519Sha256), "ed25519-sha256");

  auto key =
      SigningKey::Load("mail.example.com", "s2024", Algorithm::kRsaSha256, rsa.value().private_pem);
  ASSERT_TRUE(key.ok()) << key.error().detail;
  EXPECT_EQ(key.value().public_b64(), rsa.value().public_b64);
  EXPECT_EQ(key.value().domain(), "mail.example.com");
  EXPECT_EQ(key.value().selector(), "s2024");
}

std::string PemOf(EVP_PKEY* pkey, const EVP_CIPHER* cipher = nullptr) {
  BIO* bio = BIO_new(BIO_s_mem());
  char password[] = "secret";
  if (cipher) {
    PEM_write_bio_PKCS8PrivateKey(bio, pkey, cipher, password, 6, nullptr, nullptr);
  } else {
    PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

TEST(DkimKeys, LoadRefusesWrongKeysAndNames) {
  auto ed = GenerateKey(Algorithm::kEd25519Sha256).value();
  auto rsa = GenerateKey(Algorithm::kRsaSha256).value();
  auto refused = [](std::string domain, std::string selector, Algorithm algorithm,
                    std::string_view pem) {
    auto r = SigningKey::Load(std::move(domain), std::move(selector), algorithm, pem);
    if (r.ok()) return false;
    EXPECT_EQ(r.error().code, Code::kInvalidValue) << r.error().detail;
    return true;
  };
  EXPECT_FALSE(refused("example.com", "sel", Algorithm::kEd25519Sha256, ed.private_pem));
  EXPECT_TRUE(refused("example.com", "sel", Algorithm::kRsaSha256, ed.private_pem));
  EXPECT_TRUE(refused("example.com", "sel", Algorithm::kEd25519Sha256, rsa.private_pem));
  EXPECT_TRUE(refused("example.com", "sel", Algorithm::kEd25519Sha256, "not a key"));
  EXPECT_TRUE(refused("example.com", "sel", Algorithm::kEd25519Sha256, ""));
  EXPECT_TRUE(refused("example.com; h=x", "sel", Algorithm::kEd25519Sha256, ed.private_pem));
  EXPECT_TRUE(refused("example.com\r\nBcc: x", "sel", Algorithm::kEd25519Sha256, ed.private_pem));
  EXPECT_TRUE(refused("example.com", "", Algorithm::kEd25519Sha256, ed.private_pem));
  EXPECT_TRUE(refused("example.com", "a b", Algorithm::kEd25519Sha256, ed.private_pem));
  EXPECT_TRUE(refused("-bad.example", "sel", Algorithm::kEd25519Sha256, ed.private_pem));

  // An encrypted key is an error, not a passphrase prompt.
  BIO* bio = BIO_new_mem_buf(rsa.private_pem.data(), static_cast<int>(rsa.private_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(pkey, nullptr);
  std::string encrypted = PemOf(pkey, EVP_aes_256_cbc());
  EVP_PKEY_free(pkey);
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);
  EXPECT_TRUE(refused("example.com", "sel", Algorithm::kRsaSha256, encrypted));

  // RSA keys under 1024 bits are refused (RFC 8301).
  EVP_PKEY* small = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{512});
  ASSERT_NE(small, nullptr);
  EXPECT_TRUE(refused("example.com", "sel", Algorithm::kRsaSha256, PemOf(small)));
  EVP_PKEY_free(small);
  // No failure leaves entries in this thread's OpenSSL error queue for the TLS code to trip on.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// Independent verification: dkimpy (tests/tools/dkim_verify.py) and mailauth
// (tests/tools/dkim_verify.mjs) check the signatures, with DNS answered from the records we give.

using test::RunCommand;
using test::RunResult;
using test::ShellQuote;
using test::ToolsDir;

// path -> "pass" or "fail ..." as the verifier printed it.
std::map<std::string, std::string> Verdicts(const std::string& output) {
  std::map<std::string, std::string> verdicts;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    size_t space = line.find(' ');
    if (space != std::string::npos) verdicts[line.substr(0, space)] = line.substr(space + 1);
  }
  return verdicts;
}

std::string Python() {
  // Debian's python3-dkim lives in the system interpreter's dist-packages.
  return std::filesystem::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

TEST(DkimVerifiers, DkimpyAndMailauthPassSignedMessagesAndFailTamperedOnes) {
  std::filesystem::path tools = ToolsDir();
  ASSERT_TRUE(std::filesystem::exists(tools / "dkim_verify.py")) << tools;
  SigningKey ed = LoadGenerated(Algorithm::kEd25519Sha256, "example.com", "ed");
  SigningKey rsa = LoadGenerated(Algorithm::kRsaSha256, "example.com", "rsa");

  const std::map<std::string, std::string> messages = {
      {"plain", Crlf(kPlain)},
      {"folded", Crlf("From: \"Alice\n Example\" <alice@example.com>\n"
                      "To: bob@example.org,\n\tcarol@example.org,\n   dave@example.org\n"
                      "Subject: A subject that goes on\n  and on\t\tacross\n\tthree lines  \n"
                      "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
                      "Message-ID: <folded.1@example.com>\n"
                      "\n"
                      "Folded header fields.\n")},
      {"repeated", Crlf("Received: from a by b; Tue, 14 Nov 2023 22:13:21 +0000\n"
                        "Received: from c by d; Tue, 14 Nov 2023 22:13:20 +0000\n"
                        "From: alice@example.com\n"
                        "To: bob@example.org\n"
                        "Cc: first@example.org\n"
                        "Subject: Repeats\n"
                        "To: second-to@example.org\n"
                        "cc: second@example.org\n"
                        "COMMENTS: unsigned\n"
                        "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
                        "\n"
                        "Repeated fields.\n")},
      {"whitespace", Crlf("From: alice@example.com\n"
                          "Subject:   spaced\t out   \n"
                          "\n"
                          "  leading, \t inner   and trailing \t \n"
                          "\n"
                          "middle empty line above; trailing empty lines below\n"
                          "\n"
                          "   \n"
                          "\t\n"
                          "\n")},
      {"utf8", Crlf("From: =?UTF-8?B?SsO8cmdlbg==?= <juergen@example.com>\n"
                    "To: bob@example.org\n"
                    "Subject: =?UTF-8?B?R3LDvMOfZQ==?=\n"
                    "MIME-Version: 1.0\n"
                    "Content-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: 8bit\n"
                    "\n"
                    "Grüße aus Köln — 東京 ☃\n"
                    "Ünïcödé  with  spaces \n")},
      {"unsubscribe", Crlf("From: news@example.com\n"
                           "To: bob@example.org\n"
                           "Subject: Newsletter\n"
                           "List-Unsubscribe: <https://example.com/u/abc123>,\n"
                           " <mailto:unsub-abc123@example.com>\n"
                           "List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
                           "Reply-To: news-reply@example.com\n"
                           "In-Reply-To: <parent@example.com>\n"
                           "References: <root@example.com>\n <parent@example.com>\n"
                           "\n"
                           "News.\n")},
      {"empty_body", Crlf("From: alice@example.com\nSubject: nothing\n\n")},
  };

  test::TempDir dir;
  std::vector<std::string> good;
  std::vector<std::string> bad;
  auto write = [&](const std::string& name, const std::string& text) {
    std::string path = dir.path() + "/" + name + ".eml";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  };
  for (const auto& [name, text] : messages) {
    for (const SigningKey* key : {&ed, &rsa}) {
      std::string label = name + "_" + key->selector();
      auto field = Sign(*key, text, 1700000000);
      ASSERT_TRUE(field.ok()) << label << ": " << field.error().detail;
      std::string signed_message = field.value() + text;
      good.push_back(write(label, signed_message));

      // Tampering that each verifier must catch.
      std::string subject = signed_message;
      size_t at = subject.find("\r\nSubject:");
      ASSERT_NE(at, std::string::npos) << label;
      subject.insert(at + 10, " Re:");
      bad.push_back(write(label + "_subject", subject));
      std::string body = signed_message;
      size_t sep = body.find("\r\n\r\n") + 4;
      if (sep < body.size()) {
        body[sep] = body[sep] == 'X' ? 'Y' : 'X';
      } else {
        body += "X\r\n";
      }
      bad.push_back(write(label + "_body", body));
      std::string from = field.value() + "From: mallory@example.net\r\n" + text;
      bad.push_back(write(label + "_added_from", from));
    }
    // Two keys: two signatures, both prepended, both verify.
    auto first = Sign(ed, text, 1700000000);
    auto second = Sign(rsa, text, 1700000000);
    ASSERT_TRUE(first.ok() && second.ok());
    good.push_back(write(name + "_both", second.value() + first.value() + text));
  }

  // A message with bare LF line ends verifies as its CRLF form, which is what goes on the wire.
  for (const SigningKey* key : {&ed, &rsa}) {
    auto field = Sign(*key, kPlain, 1700000000);
    ASSERT_TRUE(field.ok());
    good.push_back(write("bare_lf_" + key->selector(), field.value() + Crlf(kPlain)));
  }

  std::string args;
  for (const SigningKey* key : {&ed, &rsa}) {
    args += " --record " + ShellQuote(key->selector() + "._domainkey." + key->domain()) + " " +
            ShellQuote(DnsTxtRecord(key->algorithm(), key->public_b64()));
  }
  for (const auto& p : good) args += " " + ShellQuote(p);
  for (const auto& p : bad) args += " " + ShellQuote(p);

  const std::pair<std::string, std::string> verifiers[] = {
      {"dkimpy", Python() + " " + ShellQuote((tools / "dkim_verify.py").string())},
      {"mailauth", "node " + ShellQuote((tools / "dkim_verify.mjs").string())},
  };
  for (const auto& [verifier, command] : verifiers) {
    RunResult run = RunCommand(command + args);
    // Exit 1: some message failed, as the tampered ones must; anything else is a broken verifier.
    ASSERT_NE(run.status, -1) << verifier;
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 1)
        << verifier << " did not run (install: scripts/deps.sh):\n"
        << run.output;
    auto verdicts = Verdicts(run.output);
    for (const auto& p : good) EXPECT_EQ(verdicts[p], "pass") << verifier << " " << p;
    for (const auto& p : bad) {
      EXPECT_NE(verdicts[p], "pass") << verifier << " " << p;
      EXPECT_EQ(verdicts[p].rfind("fail", 0), 0u) << verifier << " " << p << ": " << verdicts[p];
    }
  }
}

}  // namespace
}  // namespace mp::dkim
