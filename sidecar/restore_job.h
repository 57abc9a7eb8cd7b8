// restore <backup-id> --into DATABASE: checks a copy of the backup in full
// (checksum and every chunk) before anything is restored, creates the new
// database, streams the decrypted dump into pg_restore, restores the newest
// key backup (gdpr_restore_key_backup(), when the extension has it), then
// replays every erasure the live database recorded (its tombstones), so
// that nobody erased since the backup comes back. Any failure after the
// database was created drops it again.
#pragma once

#include "config.h"

namespace sidecar {

bool run_restore(const Config& config);

}  // namespace sidecar
