#include "core/metrics.h"

#include <cmath>
#include <cstdio>

namespace mp {
namespace {

void AppendLabels(std::string& out, const Labels& labels, const std::string* le = nullptr) {
  if (labels.empty() && !le) return;
  out.push_back('{');
  bool first = true;
  auto add = [&](const std::string& k, const std::string& v) {
    if (!first) out.push_back(',');
    first = false;
    out.append(k).append("=\"");
    for (char c : v) {
      if (c == '\\' || c == '"') {
        out.push_back('\\');
        out.push_back(c);
      } else if (c == '\n') {
        out.append("\\n");
      } else {
        out.push_back(c);
      }
    }
    out.push_back('"');
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (le) add("le", *le);
  out.push_back('}');
}

std::string FormatDouble(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micro_.fetch_add(static_cast<uint64_t>(v * 1e6), std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::Counts() const {
  std::vector<uint64_t> out(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    out[i] = acc;
  }
  return out;
}

double Histogram::Sum() const { return static_cast<double>(sum_micro_.load()) / 1e6; }

Metrics& Metrics::Global() {
  static Metrics m;
  return m;
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "counter";
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Histogram& Metrics::GetHistogram(const std::string& name, const std::string& help,
                                 const std::vector<double>& bounds, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "histogram";
  auto& slot = f.histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(bounds);
  return *slot;
}

void Metrics::AddGauge(const std::string& name, const std::string& help,
                       std::function<double()> read) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "gauge";
  f.gauge = std::move(read);
}

void Metrics::AddGaugeFamily(const std::string& name, const std::string& help,
                             std::function<LabeledValues()> read) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "gauge";
  f.gauge_family = std::move(read);
}

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out.append("# HELP ").append(name).append(" ").append(f.help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(f.type).append("\n");
    for (const auto& [labels, c] : f.counters) {
      out.append(name);
      AppendLabels(out, labels);
      out.append(" ").append(std::to_string(c->Value())).append("\n");
    }
    for (const auto& [labels, h] : f.histograms) {
      std::vector<uint64_t> counts = h->Counts();
      for (size_t i = 0; i <= h->Bounds().size(); ++i) {
        std::string le = i < h->Bounds().size() ? FormatDouble(h->Bounds()[i]) : "+Inf";
        out.append(name).append("_bucket");
        AppendLabels(out, labels, &le);
        out.append(" ").append(std::to_string(counts[i])).append("\n");
      }
      out.append(name).append("_sum");
      AppendLabels(out, labels);
      out.append(" ").append(FormatDouble(h->Sum())).append("\n");
      out.append(name).append("_count");
      AppendLabels(out, labels);
      out.append(" ").append(std::to_string(counts.back())).append("\n");
    }
    if (f.gauge) {
      out.append(name).append(" ").append(FormatDouble(f.gauge())).append("\n");
    }
    if (f.gauge_family) {
      for (const auto& [labels, v] : f.gauge_family()) {
        out.append(name);
        AppendLabels(out, labels);
        out.append(" ").append(FormatDouble(v)).append("\n");
      }
    }
  }
  return out;
}

}  // namespace mp
