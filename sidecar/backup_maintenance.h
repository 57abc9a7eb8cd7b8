// verify-backups: every copy's checksum against its manifest and every
// chunk's authentication tag. expire-backups: every copy, in every target,
// of each backup whose age reached --backup-max-age (key backups:
// --key-backup-max-age), and nothing younger; a copy already missing is
// reported, not fatal; gdpr.backup records the expiry.
#pragma once

#include <string>

#include "backup_cipher.h"
#include "backup_store.h"
#include "config.h"

namespace sidecar {

bool run_verify_backups(const Config& config);
bool run_expire_backups(const Config& config);

// Checks one copy: file present, size and sha256 as in the manifest, every
// chunk authentic under key. Empty when good, else what is wrong.
std::string check_copy(const BackupKey& key, const Copy& copy);

}  // namespace sidecar
