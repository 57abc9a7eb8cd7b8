// Server-wide state in shared memory: two counters that every backend checks
// before using its cached keys. A transaction that shredded keys bumps the
// key epoch when it commits, so every other session drops its cached keys
// before its next decrypt; a master key rotation bumps the ring epoch, so
// sessions re-read the master key source.
#pragma once

#include <cstdint>

namespace gdpr {
namespace shared {

void request_at_preload();  // from _PG_init, while preloading
bool available();

std::uint64_t key_epoch();
std::uint64_t ring_epoch();
void bump_key_epoch();
void bump_ring_epoch();

}  // namespace shared
}  // namespace gdpr
