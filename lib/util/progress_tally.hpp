#pragma once
// Where one phase of long work stands, for whatever renders a Progress (the CLI's bar and lines,
// the live log): the ECU, phase and stage, the bytes done, and the rate and time left, counted the
// same way everywhere.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ecuup {

class ProgressTally {
 public:
  using Clock = std::chrono::steady_clock;

  void begin(const std::string& ecu, const std::string& phase, std::uint64_t total) {
    m_ecu = ecu;
    m_phase = phase;
    m_stage.clear();
    m_total = total;
    m_done = m_rate_base = 0;
    m_begun = m_rate_from = Clock::now();
  }
  // Bytes done never go back: one bar, one count.
  void advance(std::uint64_t done) { m_done = std::max(m_done, done); }
  // False when `name` is the stage already running. The rate counts from the stage that moves
  // bytes, not from the erase before it.
  bool stage(const std::string& name) {
    if (name == m_stage) return false;
    m_stage = name;
    m_rate_from = Clock::now();
    m_rate_base = m_done;
    return true;
  }

  const std::string& ecu() const { return m_ecu; }
  const std::string& phase() const { return m_phase; }
  const std::string& stage_name() const { return m_stage; }
  std::uint64_t total() const { return m_total; }  // 0: unknown
  std::uint64_t done() const { return m_done; }
  // Since begin().
  double seconds() const { return std::chrono::duration<double>(Clock::now() - m_begun).count(); }
  // Acknowledged bytes per second since the current stage began; 0 before any.
  double rate() const {
    const double s = std::chrono::duration<double>(Clock::now() - m_rate_from).count();
    return s > 0 && m_done > m_rate_base ? static_cast<double>(m_done - m_rate_base) / s : 0;
  }
  // Seconds left at the current rate; nullopt without a total or a rate, or when done.
  std::optional<double> eta_seconds() const {
    const double r = rate();
    if (!m_total || m_done >= m_total || r <= 0) return std::nullopt;
    return static_cast<double>(m_total - m_done) / r;
  }

 private:
  std::string m_ecu, m_phase, m_stage;
  std::uint64_t m_total = 0, m_done = 0, m_rate_base = 0;
  Clock::time_point m_begun, m_rate_from;
};

}  // namespace ecuup
