// status: what is due and what is overdue (retention rules, ended legal
// holds, verified erasure requests, requests past their 30 days), the last
// run of each job, the backups, and the master key versions in use in every
// database of the cluster that has pg_gdpr (so that an old version is
// removed from the key file only when no database uses it). Plain text, or
// one JSON document with --log-format json.
#pragma once

#include "config.h"

namespace sidecar {

// false when a database could not be inspected.
bool run_status(const Config& config);

}  // namespace sidecar
