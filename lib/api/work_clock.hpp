#pragma once
// The time a process spends in ECU work: driver calls, downloads, server round trips, backup
// copies, summed over the threads that do it. A step's `work_seconds` (--json) is its share, so
// what remains of its wall time is ecuup's own overhead (scripts/bench scale prints it per ECU).
#include <atomic>
#include <chrono>
#include <memory>

#include "ecu/driver.hpp"

namespace ecuup::api {

// work_clock_now() (declared in api.hpp, which StepReport needs it in) reads the process's total.

// Counts the time from its construction to its destruction as work.
class WorkTimer {
 public:
  WorkTimer() : m_start(std::chrono::steady_clock::now()) {}
  ~WorkTimer();
  WorkTimer(const WorkTimer&) = delete;
  WorkTimer& operator=(const WorkTimer&) = delete;

 private:
  std::chrono::steady_clock::time_point m_start;
};

// `driver`, with the time of each of its calls counted as work.
std::unique_ptr<EcuDriver> timed_driver(std::unique_ptr<EcuDriver> driver);

}  // namespace ecuup::api
