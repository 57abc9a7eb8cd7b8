// The backup key, read from a file (mode 0600 or stricter) or printed by a
// command, never taken from the command line or the environment.
#pragma once

#include "backup_cipher.h"
#include "config.h"

namespace sidecar {

// Throws SidecarError(kUsage) with one line naming the file or command.
BackupKey load_backup_key(const Config& config);

}  // namespace sidecar
