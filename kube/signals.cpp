#include "kube/signals.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>

namespace orderguard::kube {
namespace {

sigset_t shutdown_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void block_shutdown_signals() {
  sigset_t set = shutdown_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer closing a connection mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);
}

int wait_for_shutdown_signal() {
  sigset_t set = shutdown_set();
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

void init_openssl_for_process() {
  OPENSSL_init_ssl(OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_LOAD_SSL_STRINGS, nullptr);
}

}  // namespace orderguard::kube
