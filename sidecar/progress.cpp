#include "progress.h"

#include <unistd.h>

#include <cstdio>

#include "clock.h"

namespace sidecar {

bool Progress::enabled_ = false;
Progress* Progress::active_ = nullptr;

void Progress::configure(const std::string& mode) {
  enabled_ = mode == "always" || (mode == "auto" && isatty(STDERR_FILENO));
}

Progress::Progress(std::string label, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), started_ms_(monotonic_ms()) {
  if (enabled_) active_ = this;
}

Progress::~Progress() {
  if (active_ == this) {
    clear_line();
    active_ = nullptr;
  }
}

void Progress::update(double done, double estimate) {
  done_ = done;
  estimate_ = estimate;
  draw(false);
}

void Progress::clear_line() {
  if (active_ != nullptr) std::fputs("\r\033[K", stderr);
}

void Progress::redraw() {
  if (active_ != nullptr) active_->draw(true);
}

void Progress::draw(bool force) {
  if (active_ != this) return;
  double now = monotonic_ms();
  if (!force && now - last_draw_ms_ < 200) return;
  last_draw_ms_ = now;
  double seconds = (now - started_ms_) / 1000.0;
  double rate = seconds > 0 ? done_ / seconds : 0;
  char line[256];
  if (estimate_ > 0) {
    double left = rate > 0 && estimate_ > done_ ? (estimate_ - done_) / rate : 0;
    std::snprintf(line, sizeof line, "\r\033[K%s: %.0f of ~%.0f %s, %.0f %s/s, %.0f s left", label_.c_str(), done_,
                  estimate_, unit_.c_str(), rate, unit_.c_str(), left);
  } else {
    std::snprintf(line, sizeof line, "\r\033[K%s: %.0f %s, %.0f %s/s", label_.c_str(), done_, unit_.c_str(), rate,
                  unit_.c_str());
  }
  std::fputs(line, stderr);
  std::fflush(stderr);
}

}  // namespace sidecar
