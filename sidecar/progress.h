// A progress line on stderr for long work, when stderr is a terminal (or
// when asked): what is done of the estimate, the rate and the time left.
#pragma once

#include <string>

namespace sidecar {

class Progress {
 public:
  // mode: "auto" (only on a terminal), "always", "never"
  static void configure(const std::string& mode);
  Progress(std::string label, std::string unit);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // done so far; estimate of the total (<= 0: unknown)
  void update(double done, double estimate);

  static void clear_line();
  static void redraw();

 private:
  void draw(bool force);

  static bool enabled_;
  static Progress* active_;
  std::string label_;
  std::string unit_;
  double started_ms_;
  double last_draw_ms_ = 0;
  double done_ = 0;
  double estimate_ = 0;
};

}  // namespace sidecar
