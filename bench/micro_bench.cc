// CPU cost of the per-message work on the submission path, without I/O.
#include <benchmark/benchmark.h>

#include <boost/json.hpp>

#include "core/clock.h"
#include "core/id.h"
#include "feedback/classify.h"
#include "ingest/submission.h"
#include "mime/dkim.h"

namespace {

std::string TwoKbMessage() {
  std::string text;
  while (text.size() < 1800) text += "The quick brown fox jumps over the lazy dog. ";
  return R"({"from":"Sender <sender@example.com>","to":["rcpt@example.org"],"subject":"Bench",)"
         R"("text":")" +
         text + "\"}";
}

void BM_NewId(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(mp::NewId(mp::Clock::System()));
}
BENCHMARK(BM_NewId);

void BM_PrepareTwoKbMessage(benchmark::State& state) {
  std::string body = TwoKbMessage();
  mp::LimitsConfig limits;
  for (auto _ : state) {
    boost::json::value v = boost::json::parse(body);
    auto r = mp::PrepareMessage(v, "tn_bench", limits, mp::Clock::System(), "");
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PrepareTwoKbMessage);

// DKIM signing of a composed message: the body hash (streamed over the whole message) plus one
// private-key operation. Args: algorithm (0 RSA-2048, 1 Ed25519), message size in bytes.
void BM_DkimSign(benchmark::State& state) {
  auto algorithm =
      state.range(0) == 0 ? mp::dkim::Algorithm::kRsaSha256 : mp::dkim::Algorithm::kEd25519Sha256;
  auto generated = mp::dkim::GenerateKey(algorithm);
  auto key =
      mp::dkim::SigningKey::Load("example.com", "bench", algorithm, generated.value().private_pem);
  std::string message =
      "From: Sender <sender@example.com>\r\nTo: rcpt@example.org\r\nSubject: Bench\r\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMessage-ID: <bench@example.com>\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
  const auto size = static_cast<size_t>(state.range(1));
  while (message.size() < size) message += "The quick brown fox jumps over the lazy dog.\r\n";
  for (auto _ : state) {
    auto field = mp::dkim::Sign(key.value(), message, 1700000000);
    benchmark::DoNotOptimize(field);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(message.size()));
}
BENCHMARK(BM_DkimSign)
    ->ArgNames({"ed25519", "bytes"})
    ->Args({0, 2048})
    ->Args({0, 102400})
    ->Args({1, 2048})
    ->Args({1, 102400});

// Bounce classification of a mix of provider and local replies against the shipped rules (runs for
// every deferral and bounce). One iteration classifies the whole mix.
void BM_ClassifyBounceMix(benchmark::State& state) {
  auto classifier = mp::feedback::BounceClassifier::Load("");
  struct Reply {
    int code;
    const char* enhanced;
    const char* text;
  };
  const Reply mix[] = {
      {550, "5.1.1",
       "The email account that you tried to reach does not exist. Please try double-checking the "
       "recipient's email address for typos or unnecessary spaces. - gsmtp"},
      {452, "4.2.2", "The recipient's inbox is out of storage space. - gsmtp"},
      {421, "4.7.28",
       "Gmail has detected an unusual rate of unsolicited mail originating from your IP address. "
       "To protect our users from spam, mail sent from your IP address has been temporarily rate "
       "limited."},
      {550, "5.7.26", "This mail has been blocked because the sender is unauthenticated."},
      {550, "5.7.1",
       "Unfortunately, messages from [192.0.2.7] weren't sent. Please contact your Internet "
       "service provider since part of their network is on our block list (S3150)."},
      {550, "5.5.0", "Requested action not taken: mailbox unavailable (S2017062302)"},
      {421, "4.7.0",
       "[TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume or user "
       "complaints - 4.16.55.1"},
      {552, "", "1 Requested mail action aborted, mailbox full"},
      {451, "4.4.1", "no MX host could be reached"},
      {554, "5.3.0", "Transaction failed"},  // no rule matches: the whole list is tried
  };
  for (auto _ : state) {
    for (const Reply& r : mix) {
      auto c = classifier.value().Classify(r.code, r.enhanced, r.text);
      benchmark::DoNotOptimize(c);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(std::size(mix)));
}
BENCHMARK(BM_ClassifyBounceMix);

}  // namespace

BENCHMARK_MAIN();
