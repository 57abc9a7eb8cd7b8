// purge: every retention rule until its pass is complete, then the legal
// holds that ended (gdpr_release_holds), then every verified erasure
// request. Each batch is one call of the extension's SQL (its own short
// transaction); the batch size adapts so that a batch takes about
// --batch-target ms. SIGTERM stops after the current batch.
#pragma once

#include "config.h"

namespace sidecar {

// true when everything ran; false when a part failed or was stopped (the
// others still ran). Throws SidecarError for connection and lock errors.
bool run_purge(const Config& config);

}  // namespace sidecar
