/* The pod sandbox process of a node's containerd (its sandbox_image, built by
 * scripts/images.sh as localhost/orderguard/pause:3.10): holds the pod's
 * namespaces open and does nothing else. Sleeps until SIGTERM or SIGINT, then
 * exits 0; as PID 1 of the pod's PID namespace it reaps every child that
 * exits. Built with `cc -static -O2`, the image holds only this binary. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
  (void)sig;
  _exit(0);
}

static void on_child(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

static int handle(int sig, void (*fn)(int), int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  return sigaction(sig, &sa, NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
    puts("orderguard pause 3.10");
    return 0;
  }
  if (handle(SIGINT, on_stop, 0) != 0 || handle(SIGTERM, on_stop, 0) != 0 ||
      handle(SIGCHLD, on_child, SA_NOCLDSTOP | SA_RESTART) != 0) {
    perror("pause: sigaction");
    return 1;
  }
  if (getpid() != 1) {
    fputs("pause: warning: not PID 1, so orphaned processes are not reaped here\n", stderr);
  }
  for (;;) {
    pause();
  }
}
