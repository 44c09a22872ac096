// Metrics registry rendered in the Prometheus text format (version 0.0.4).
//
// Counters and histograms are created once (by name and label values) and then updated lock-free
// with atomics; lookups take a mutex, so hot paths keep the returned reference. Gauges are sampled
// through callbacks at scrape time. Thread-safety: everything here is safe from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mp {

class Counter {
 public:
  void Inc(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& Bounds() const { return bounds_; }
  // Cumulative counts per bound, then +Inf; and the sum.
  std::vector<uint64_t> Counts() const;
  double Sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<uint64_t> sum_micro_{0};               // sum in millionths
};

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  static Metrics& Global();

  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& bounds, const Labels& labels = {});
  // A gauge read at scrape time.
  void AddGauge(const std::string& name, const std::string& help, std::function<double()> read);
  // A gauge family read at scrape time: one sample per label set the callback returns.
  using LabeledValues = std::vector<std::pair<Labels, double>>;
  void AddGaugeFamily(const std::string& name, const std::string& help,
                      std::function<LabeledValues()> read);

  std::string Render() const;

 private:
  struct Family {
    std::string help;
    std::string type;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
    std::function<double()> gauge;
    std::function<LabeledValues()> gauge_family;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace mp
