#include "agent/procfs.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "agent/test/test_util.h"

namespace orderguard::agent {
namespace {

using testing::testdata;

TEST(ParseProcStat, CommWithSpacesAndParens) {
  Result<ProcStat> st = parse_proc_stat(
      "42 (evil) (x y)) R 7 42 42 0 -1 4194560 1 0 0 0 30 12 0 0 20 5 3 0 999 100 10 0");
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->pid, 42);
  EXPECT_EQ(st->comm, "evil) (x y)");
  EXPECT_EQ(st->state, 'R');
  EXPECT_EQ(st->ppid, 7);
  EXPECT_EQ(st->utime, 30u);
  EXPECT_EQ(st->stime, 12u);
  EXPECT_EQ(st->cpu_ticks(), 42u);
  EXPECT_EQ(st->nice, 5);
  EXPECT_EQ(st->num_threads, 3);
  EXPECT_EQ(st->starttime, 999u);
  EXPECT_FALSE(st->kernel_thread());
}

TEST(ParseProcStat, KernelThreadFlag) {
  Result<ProcStat> st =
      parse_proc_stat("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0");
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->kernel_thread());
}

TEST(ParseProcStat, MalformedIsInvalidNotCrash) {
  for (const char* text : {"", "601 (trunc) S 1", "x (a) S 1 2 3", "7 (a S 1 2",
                           "7 (a) S x 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0",
                           "7 (a) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0"}) {
    Result<ProcStat> st = parse_proc_stat(text);
    ASSERT_FALSE(st.ok()) << text;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalid);
  }
}

TEST(ParseSystemStat, TotalsAndCpuCount) {
  Result<SystemCpu> s = parse_system_stat(
      "cpu  10 2 3 100 5 1 1 1 7 0\ncpu0 5 1 1 50 2 0 0 0 0 0\ncpu1 5 1 2 50 3 1 1 1 0 0\n"
      "intr 1\n");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->busy, 18u);  // guest (7) is inside user already
  EXPECT_EQ(s->total, 123u);
  EXPECT_EQ(s->cpus, 2);
  EXPECT_FALSE(parse_system_stat("intr 1\n").ok());
  EXPECT_FALSE(parse_system_stat("cpu 1 2\n").ok());
}

// Found by agent/fuzz: sums that wrap made busy exceed total, and ticks wrap to a small count.
TEST(ParseSystemStat, CountersThatWouldWrapAreInvalid) {
  EXPECT_FALSE(parse_system_stat("cpu 18446744073709551615 1 0 0 0 0 0 0\n").ok());
  EXPECT_FALSE(parse_system_stat("cpu 1 0 0 18446744073709551615 0 0 0 0\n").ok());
  EXPECT_FALSE(
      parse_proc_stat("7 (a) S 1 1 1 0 -1 0 0 0 0 0 18446744073709551615 1 0 0 20 0 1 0 5").ok());
}

TEST(ParseProcStatus, Fields) {
  Result<ProcStatus> s =
      parse_proc_status("Name:\tmy proc\nTgid:\t12\nPid:\t13\nPPid:\t1\nHugetlbPages:\t 2048 kB\n");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "my proc");
  EXPECT_EQ(s->tgid, 12);
  EXPECT_EQ(s->ppid, 1);
  EXPECT_EQ(s->hugetlb_kb, 2048);
  EXPECT_FALSE(parse_proc_status("Name:\tx\n").ok());
}

TEST(SplitCmdline, NulSeparated) {
  using V = std::vector<std::string>;
  EXPECT_EQ(split_cmdline(std::string("a\0b c\0\0d\0", 9)), (V{"a", "b c", "", "d"}));
  EXPECT_EQ(split_cmdline(std::string("no-nul")), (V{"no-nul"}));
  EXPECT_TRUE(split_cmdline("").empty());
}

TEST(ReadProcess, FixtureMiner) {
  HostView view({testdata("proc"), testdata("host")});
  Result<ProcessSnapshot> p = read_process(view, 100);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->comm, "xmrig");
  EXPECT_EQ(p->exe, "/usr/local/bin/xmrig");
  EXPECT_TRUE(p->exe_readable);
  ASSERT_EQ(p->cmdline.size(), 4u);
  EXPECT_EQ(p->cmdline[2], "stratum+tcp://pool.supportxmr.com:3333");
  EXPECT_EQ(p->hugetlb_kb, 2392064);
  EXPECT_NE(p->cgroup.find("cri-containerd-"), std::string::npos);
}

TEST(ReadProcess, VanishedAndTruncated) {
  HostView view({testdata("proc"), testdata("host")});
  Result<ProcessSnapshot> gone = read_process(view, 600);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  Result<ProcessSnapshot> never = read_process(view, 99999);
  ASSERT_FALSE(never.ok());
  EXPECT_EQ(never.error().code, ErrorCode::kNotFound);
  Result<ProcessSnapshot> trunc = read_process(view, 601);
  ASSERT_FALSE(trunc.ok());
  EXPECT_EQ(trunc.error().code, ErrorCode::kInvalid);
}

TEST(HostView, ListsOnlyNumericEntries) {
  HostView view({testdata("proc"), testdata("host")});
  Result<std::vector<int>> pids = view.list_pids();
  ASSERT_TRUE(pids.ok());
  EXPECT_EQ(*pids, (std::vector<int>{1, 2, 10, 100, 200, 300, 400, 401, 500, 501, 600, 601}));
  Result<std::vector<int>> tasks = view.list_tasks(100);
  ASSERT_TRUE(tasks.ok());
  EXPECT_EQ(*tasks, (std::vector<int>{100, 101}));
  EXPECT_EQ(view.host_path("/etc/crontab"), testdata("host") + "/etc/crontab");
  HostView root({"/proc", "/"});
  EXPECT_EQ(root.host_path("/etc/crontab"), "/etc/crontab");
  EXPECT_EQ(root.pid_path(5, "stat"), "/proc/5/stat");
}

// A file of its own under the temporary directory, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/orderguard-lines-XXXXXX";
    int fd = ::mkstemp(tmpl);
    path_ = tmpl;
    ::close(fd);
    std::ofstream(path_, std::ios::binary) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<std::string> lines_of(const std::string& path, const LineLimits& limits,
                                  LinesRead* read = nullptr) {
  std::vector<std::string> out;
  Result<LinesRead> r =
      HostView::read_lines(path, limits, [&](std::string_view l) { out.emplace_back(l); });
  EXPECT_TRUE(r.ok());
  if (r.ok() && read != nullptr) *read = *r;
  return out;
}

TEST(ReadLines, SplitsOnNewlinesWhateverTheChunkSize) {
  TempFile file("a\n\nbb\nccc");
  for (size_t chunk = 1; chunk <= 6; ++chunk) {
    LinesRead read;
    EXPECT_EQ(lines_of(file.path(), {.chunk_bytes = chunk}, &read),
              (std::vector<std::string>{"a", "", "bb", "ccc"}))
        << chunk;
    EXPECT_EQ(read.lines, 4u);
    EXPECT_EQ(read.bytes, 9u);
    EXPECT_FALSE(read.over_limit);
  }
  EXPECT_TRUE(lines_of(TempFile("").path(), {}).empty());
  EXPECT_EQ(lines_of(TempFile("x\n").path(), {}), std::vector<std::string>{"x"});
  EXPECT_EQ(lines_of(TempFile(std::string("n\0l\n", 4)).path(), {}),
            std::vector<std::string>{std::string("n\0l", 3)});
  EXPECT_FALSE(HostView::read_lines("/nonexistent/file", {}, [](std::string_view) {}).ok());
}

TEST(ReadLines, ALongLineIsCutAndAFilePastTheBoundStopsThere) {
  TempFile file("aaaa\nbbbbbbbbbb\ncc\n");
  LinesRead read;
  EXPECT_EQ(lines_of(file.path(), {.max_line_bytes = 4, .chunk_bytes = 3}, &read),
            (std::vector<std::string>{"aaaa", "bbbb", "cc"}));
  EXPECT_TRUE(read.over_limit);
  EXPECT_EQ(lines_of(file.path(), {.max_file_bytes = 7, .chunk_bytes = 2}, &read),
            (std::vector<std::string>{"aaaa", "bb"}));
  EXPECT_TRUE(read.over_limit);
  EXPECT_EQ(read.bytes, 7u);
  // Exactly at the bound is within it.
  EXPECT_EQ(lines_of(file.path(), {.max_file_bytes = 19}, &read).size(), 3u);
  EXPECT_FALSE(read.over_limit);
}

}  // namespace
}  // namespace orderguard::agent
