// backup: pg_dump -Fc of the database, without the data keys
// (gdpr.subject_key's rows), streamed through AES-256-GCM (backup_cipher)
// to every target directory at once, each copy with its manifest; then a
// key backup (gdpr_key_backup(), when the extension has it) encrypted the
// same way beside it; then a row in gdpr.backup.
#pragma once

#include "config.h"

namespace sidecar {

bool run_backup(const Config& config);

}  // namespace sidecar
