#include "kube/process_metrics.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <map>

namespace orderguard::kube {
namespace {

const std::string kFixture = std::string(ORDERGUARD_SOURCE_DIR) + "/kube/test/testdata/proc";

std::map<std::string, prometheus::MetricFamily> by_name(const ProcessCollector& c) {
  std::map<std::string, prometheus::MetricFamily> out;
  for (auto& f : c.Collect()) out[f.name] = f;
  return out;
}

double value(const prometheus::MetricFamily& f) {
  EXPECT_EQ(f.metric.size(), 1u) << f.name;
  return f.type == prometheus::MetricType::Counter ? f.metric.at(0).counter.value
                                                   : f.metric.at(0).gauge.value;
}

TEST(ProcessCollector, ReadsTheFixtureTree) {
  ProcessCollector collector(kFixture + "/self", kFixture + "/stat");
  auto m = by_name(collector);
  ASSERT_EQ(m.size(), 6u);
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  EXPECT_EQ(m["process_cpu_seconds_total"].type, prometheus::MetricType::Counter);
  EXPECT_DOUBLE_EQ(value(m["process_cpu_seconds_total"]), (250 + 150) / ticks);
  EXPECT_DOUBLE_EQ(value(m["process_resident_memory_bytes"]), 2048 * page);
  EXPECT_DOUBLE_EQ(value(m["process_virtual_memory_bytes"]), 123456789);
  EXPECT_DOUBLE_EQ(value(m["process_start_time_seconds"]), 1764800000 + 360000 / ticks);
  EXPECT_DOUBLE_EQ(value(m["process_open_fds"]), 3);
  EXPECT_DOUBLE_EQ(value(m["process_max_fds"]), 1048576);
}

TEST(ProcessCollector, ThisProcess) {
  ProcessCollector collector;
  auto m = by_name(collector);
  ASSERT_EQ(m.size(), 6u);
  EXPECT_GT(value(m["process_resident_memory_bytes"]), 1e5);
  EXPECT_GE(value(m["process_virtual_memory_bytes"]), value(m["process_resident_memory_bytes"]));
  EXPECT_GE(value(m["process_open_fds"]), 3);  // stdin, stdout, stderr
  EXPECT_GE(value(m["process_max_fds"]), value(m["process_open_fds"]));
  const double now = static_cast<double>(::time(nullptr));
  EXPECT_LE(value(m["process_start_time_seconds"]), now + 1);
  EXPECT_GT(value(m["process_start_time_seconds"]), now - 24 * 3600);
}

TEST(ProcessCollector, MissingFilesLeaveTheirMetricsOut) {
  ProcessCollector collector("/nonexistent/self", "/nonexistent/stat");
  EXPECT_TRUE(collector.Collect().empty());
}

TEST(ParseSelfStat, CommWithSpacesAndParentheses) {
  auto s = parse_self_stat("7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 33 44 -5 0\n");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->utime_ticks, 11u);
  EXPECT_EQ(s->stime_ticks, 22u);
  EXPECT_EQ(s->start_ticks, 33u);
  EXPECT_EQ(s->vsize_bytes, 44u);
  EXPECT_EQ(s->rss_pages, 0u);  // negative rss reads as 0
}

TEST(ParseSelfStat, RefusesTruncatedOrGarbage) {
  for (const char* bad :
       {"", "7 (a", "7 (a) R 1 2 3", "7 (a) R 1 7 7 0 -1 0 0 0 0 0 x 22 0 0 20 0 1 0 33 44 5"}) {
    EXPECT_FALSE(parse_self_stat(bad).ok()) << bad;
  }
}

TEST(ParseLimits, UnlimitedAndMissing) {
  auto unlimited = parse_max_open_files("Max open files            unlimited   unlimited  files\n");
  ASSERT_TRUE(unlimited.ok());
  EXPECT_FALSE(unlimited->has_value());
  EXPECT_FALSE(parse_max_open_files("Max processes 10 10 processes\n").ok());
  EXPECT_FALSE(parse_max_open_files("Max open files  lots  lots files\n").ok());
}

TEST(ParseBootTime, FindsBtime) {
  EXPECT_EQ(*parse_boot_time("cpu 1 2\nbtime 42\n"), 42u);
  EXPECT_FALSE(parse_boot_time("cpu 1 2\n").ok());
  EXPECT_FALSE(parse_boot_time("btime x\n").ok());
}

}  // namespace
}  // namespace orderguard::kube
