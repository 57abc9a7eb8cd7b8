// Signals: the handlers only set flags. SIGTERM and SIGINT ask the current
// job to stop after its batch; SIGHUP asks the daemon to reload its
// configuration. Writing to a child that died gives EPIPE, not SIGPIPE.
#pragma once

namespace sidecar {

void install_signal_handlers();
bool stop_requested();
bool reload_requested();   // and clears the request
// Sleeps up to seconds, returning early when a signal arrives.
void sleep_interruptible(double seconds);

}  // namespace sidecar
