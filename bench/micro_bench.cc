// CPU cost of the per-message work on the submission path, without I/O.
#include <benchmark/benchmark.h>

#include <boost/json.hpp>

#include "core/clock.h"
#include "core/id.h"
#include "ingest/submission.h"

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

}  // namespace

BENCHMARK_MAIN();
