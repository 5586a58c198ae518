// A tiny process that campaigns for a Lease, used by the leader election e2e
// test to run real competing processes. Prints "leading <identity>" when it
// becomes leader and "stopped <identity>" when it stops leading.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <thread>

#include "base/clock.h"
#include "base/log.h"
#include "kube/client.h"
#include "kube/config.h"
#include "kube/leader_election.h"
#include "kube/signals.h"

int main(int argc, char** argv) {
  using namespace orderguard;
  kube::init_openssl_for_process();
  kube::block_shutdown_signals();
  CLI::App app{"campaign for a Lease"};
  std::string kubeconfig, ns = "default", name, identity;
  int lease_ms = 4000, renew_ms = 3000, retry_ms = 1000;
  app.add_option("--kubeconfig", kubeconfig)->required();
  app.add_option("--namespace", ns);
  app.add_option("--lease", name)->required();
  app.add_option("--identity", identity)->required();
  app.add_option("--lease-ms", lease_ms);
  app.add_option("--renew-ms", renew_ms);
  app.add_option("--retry-ms", retry_ms);
  CLI11_PARSE(app, argc, argv);

  auto config = kube::load_kubeconfig(kubeconfig);
  if (!config.ok()) {
    log::error("bad kubeconfig", {{"error", config.error().describe()}});
    return 2;
  }
  auto client = kube::make_client(*config);
  if (!client.ok()) {
    log::error("no client", {{"error", client.error().describe()}});
    return 2;
  }
  RealClock clock;
  kube::LeaderElectionConfig le{ns,
                                name,
                                identity,
                                std::chrono::milliseconds(lease_ms),
                                std::chrono::milliseconds(renew_ms),
                                std::chrono::milliseconds(retry_ms),
                                true};
  if (auto st = kube::LeaderElector::validate(le); !st.ok()) {
    log::error("bad leader election settings", {{"error", st.error().describe()}});
    return 2;
  }
  kube::LeaderElector elector(
      **client, le,
      {.on_started_leading =
           [&] { std::printf("leading %s\n", identity.c_str()), std::fflush(stdout); },
       .on_stopped_leading =
           [&] { std::printf("stopped %s\n", identity.c_str()), std::fflush(stdout); },
       .on_new_leader = nullptr},
      clock);
  std::thread waiter([&] {
    kube::wait_for_shutdown_signal();
    elector.stop();
  });
  elector.run();
  // run() returns on stop or on lost leadership; either way this process is done.
  waiter.detach();
  std::fflush(stdout);
  std::_Exit(0);
}
