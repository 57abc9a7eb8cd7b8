#!/usr/bin/env bash
# A short run of the application load test (bench/load_test.sh): writers,
# readers, a DPO erasing and exporting, a session shredding keys, at once;
# fails if an invariant breaks or an unexpected error occurs. Longer runs:
# USERS=5000 DURATION=180 bench/load_test.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
USERS=${LOAD_USERS:-300} DURATION=${LOAD_DURATION:-15} bench/load_test.sh
