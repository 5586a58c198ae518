// Fixture helpers for the agent's unit tests: the fixture trees under testdata/ and a
// temporary copy of the fake /proc that a test can advance to its second CPU sample.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <string>

namespace orderguard::agent::testing {

inline std::string testdata(const std::string& rel = "") {
  return std::string(ORDERGUARD_AGENT_TESTDATA) + (rel.empty() ? "" : "/" + rel);
}

// A private copy of testdata/<tree>, removed on destruction.
class TempTree {
 public:
  explicit TempTree(const std::string& tree) {
    char tmpl[] = "/tmp/orderguard-agent-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::filesystem::copy(
        testdata(tree), dir_,
        std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks);
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::string& path() const { return dir_; }
  // Copies testdata/<tree> over this tree (the proc_t1 overlay: the second CPU sample).
  void overlay(const std::string& tree) const {
    std::filesystem::copy(testdata(tree), dir_,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing |
                              std::filesystem::copy_options::copy_symlinks);
  }

 private:
  std::string dir_;
};

}  // namespace orderguard::agent::testing
