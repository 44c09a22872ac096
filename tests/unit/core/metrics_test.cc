#include "core/metrics.h"

#include <gtest/gtest.h>

namespace mp {
namespace {

TEST(Metrics, RendersCountersHistogramsAndGaugesInPrometheusFormat) {
  Metrics m;
  m.GetCounter("t_requests_total", "Requests", {{"route", "/a"}, {"status", "200"}}).Inc(3);
  m.GetCounter("t_requests_total", "Requests", {{"route", "/a"}, {"status", "200"}}).Inc();
  Histogram& h = m.GetHistogram("t_latency_seconds", "Latency", {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  m.AddGauge("t_size_bytes", "Size", [] { return 42.0; });
  std::string out = m.Render();
  EXPECT_NE(out.find("# TYPE t_requests_total counter\n"), std::string::npos);
  EXPECT_NE(out.find("t_requests_total{route=\"/a\",status=\"200\"} 4\n"), std::string::npos);
  EXPECT_NE(out.find("t_latency_seconds_bucket{le=\"0.1\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("t_latency_seconds_bucket{le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("t_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("t_latency_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(out.find("t_size_bytes 42\n"), std::string::npos);
}

TEST(Metrics, EscapesLabelValues) {
  Metrics m;
  m.GetCounter("t_total", "x", {{"tenant", "a\"b\\c"}}).Inc();
  EXPECT_NE(m.Render().find("t_total{tenant=\"a\\\"b\\\\c\"} 1"), std::string::npos);
}

}  // namespace
}  // namespace mp
