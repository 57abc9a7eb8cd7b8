extern "C" {
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
}

#include "shared_state.h"

namespace gdpr {
namespace shared {
namespace {

struct SharedState {
  pg_atomic_uint64 key_epoch;
  pg_atomic_uint64 ring_epoch;
};

SharedState* state = nullptr;
shmem_request_hook_type prev_request_hook = nullptr;
shmem_startup_hook_type prev_startup_hook = nullptr;

void on_shmem_request() {
  if (prev_request_hook) prev_request_hook();
  RequestAddinShmemSpace(MAXALIGN(sizeof(SharedState)));
}

void on_shmem_startup() {
  if (prev_startup_hook) prev_startup_hook();
  bool found = false;
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  state = static_cast<SharedState*>(ShmemInitStruct("pg_gdpr", sizeof(SharedState), &found));
  if (!found) {
    pg_atomic_init_u64(&state->key_epoch, 1);
    pg_atomic_init_u64(&state->ring_epoch, 1);
  }
  LWLockRelease(AddinShmemInitLock);
}

}  // namespace

void request_at_preload() {
  prev_request_hook = shmem_request_hook;
  shmem_request_hook = on_shmem_request;
  prev_startup_hook = shmem_startup_hook;
  shmem_startup_hook = on_shmem_startup;
}

bool available() { return state != nullptr; }

std::uint64_t key_epoch() { return pg_atomic_read_u64(&state->key_epoch); }
std::uint64_t ring_epoch() { return pg_atomic_read_u64(&state->ring_epoch); }
void bump_key_epoch() { pg_atomic_fetch_add_u64(&state->key_epoch, 1); }
void bump_ring_epoch() { pg_atomic_fetch_add_u64(&state->ring_epoch, 1); }

}  // namespace shared
}  // namespace gdpr
