// One real control plane per e2e test binary, as a GoogleTest environment.
//
// An e2e test binary's whole main is
//   int main(int argc, char** argv) { return orderguard::e2e::run_e2e_tests(argc, argv); }
// and its tests reach the control plane through cluster().
//
// Contracts:
// - The tools directory comes from $ORDERGUARD_TOOLS_BIN, else from running
//   <source dir>/e2e/tools/build.sh (which builds once and caches).
// - If the control plane cannot start, SetUp records one fatal failure that
//   names the component and quotes the end of its log; no test runs then.
// - TearDown stops every process and removes the work directory. SIGINT and
//   SIGTERM during the run do the same before the binary dies of the signal.
//   Should the binary be killed outright, the servers die with it (parent
//   death signal) and the next run removes the orphaned work directory.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "base/result.h"
#include "e2e/cluster.h"

namespace orderguard::e2e {

// The control plane of this test binary. Only valid while tests run; calling
// it outside aborts with a message.
ControlPlane& cluster();

// $ORDERGUARD_TOOLS_BIN, or the directory that e2e/tools/build.sh prints.
Result<std::string> resolve_tools_bin();

class ClusterEnvironment : public ::testing::Environment {
 public:
  // `options.tools_bin` empty: resolve_tools_bin().
  explicit ClusterEnvironment(ControlPlaneOptions options = {});
  ~ClusterEnvironment() override;

  void SetUp() override;
  void TearDown() override;

 private:
  class SignalWatcher;

  ControlPlaneOptions options_;
  std::unique_ptr<ControlPlane> cluster_;
  std::unique_ptr<SignalWatcher> watcher_;
};

// InitGoogleTest, register ClusterEnvironment, RUN_ALL_TESTS.
int run_e2e_tests(int argc, char** argv, ControlPlaneOptions options = {});

// The same with a real node that imports the images of node_image_archives();
// exits 1 with how to build them when they are missing.
int run_node_e2e_tests(int argc, char** argv);

}  // namespace orderguard::e2e
