#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace carebridge::referral {

// Epoch milliseconds, UTC, by the system clock.
inline std::int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Time as the SLA timers see it: injected so tests can move it by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::int64_t NowMs() const = 0;  // epoch milliseconds, UTC
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowMs() const override { return SystemNowMs(); }
};

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::int64_t now_ms) : now_ms_(now_ms) {}
  std::int64_t NowMs() const override { return now_ms_.load(); }
  void Set(std::int64_t now_ms) { now_ms_.store(now_ms); }
  void Advance(std::int64_t ms) { now_ms_.fetch_add(ms); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace carebridge::referral
