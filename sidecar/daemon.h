// run: the daemon. Holds the "run" lock (a second daemon on the same
// database exits 4), runs each job when its interval (schedule.*) has
// passed since its last recorded run (gdpr.job_run, so a restart does not
// run everything again), reloads the configuration on SIGHUP (keeping the
// old one if the new one is invalid), and on SIGTERM stops after the
// current batch and exits 0.
#pragma once

#include "config.h"

namespace sidecar {

int run_daemon(int argc, char** argv, Config config);

}  // namespace sidecar
