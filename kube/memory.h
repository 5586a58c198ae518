// Giving free heap memory back to the OS, whichever malloc the process runs on.
//
// A server's heap grows with a burst of connections and does not shrink on its own once
// they close: glibc keeps freed memory in its arenas until malloc_trim, and mimalloc
// decommits freed pages only when the thread that owns them allocates or frees again,
// which an idle I/O thread does not. The HTTP server calls this on each of its threads
// when a burst has closed (kube/http_server.h).
#pragma once

namespace orderguard::kube {

// Returns free memory to the OS: the calling thread's heap with mimalloc (mi_collect),
// every arena with jemalloc ("arena.<all>.purge") or glibc (malloc_trim). The allocator
// is found at run time (only orderguard-webhook links another malloc). Costs a walk of
// the heap: call it after bursts, not per request.
void release_free_memory();

}  // namespace orderguard::kube
