#pragma once
// Long work (downloads, flashing) reports progress through this seam; the CLI renders it as a
// bar, plain lines or JSON lines. Library code never writes to the terminal itself.
#include <cstdint>
#include <memory>
#include <string>

#include "util/bytes.hpp"

namespace ecuup {

class Progress {
 public:
  virtual ~Progress() = default;
  // A phase starts: `ecu` may be empty; total_bytes 0 = unknown.
  virtual void begin(const std::string& ecu, const std::string& phase, std::uint64_t total_bytes) = 0;
  // Bytes done in this phase, counted when the ECU (or the driver's tool) acknowledged them; never
  // fewer than a previous call said.
  virtual void advance(std::uint64_t done_bytes) = 0;
  // The phase's current stage, named for people and scripts: "security", "erase", "transfer",
  // "check", "reset", "verify" (see ecuup-progress(5)).
  virtual void stage(const std::string& /*name*/) {}
  virtual void end(bool ok) = 0;
  // A one-line remark shown at -v ("ECU answered responsePending").
  virtual void note(const std::string& message) = 0;
  // Bytes a download just wrote at `offset` of its file, for observers that hash while receiving.
  // Called in file order from the download's writer thread, concurrently with the other members:
  // an override must not share unsynchronised state with them.
  virtual void on_bytes(std::uint64_t /*offset*/, ByteView /*data*/) {}
  // A Progress of its own for one of several jobs running at the same time (one per thread, e.g.
  // ECUs flashed in parallel): what it shows names the ECU its begin() named. Renderers override
  // it; the default passes on the lane's notes only (serialised), not its phases.
  virtual std::unique_ptr<Progress> concurrent_lane();
};

// Discards everything; the default where no one listens.
class NullProgress final : public Progress {
 public:
  void begin(const std::string&, const std::string&, std::uint64_t) override {}
  void advance(std::uint64_t) override {}
  void end(bool) override {}
  void note(const std::string&) override {}
};

Progress& null_progress();

// Passes everything on to `inner`; decorators derive from it and override what they change.
class ForwardingProgress : public Progress {
 public:
  explicit ForwardingProgress(Progress& inner) : m_inner(inner) {}
  void begin(const std::string& ecu, const std::string& phase, std::uint64_t total) override {
    m_inner.begin(ecu, phase, total);
  }
  void advance(std::uint64_t done) override { m_inner.advance(done); }
  void stage(const std::string& name) override { m_inner.stage(name); }
  void end(bool ok) override { m_inner.end(ok); }
  void note(const std::string& message) override { m_inner.note(message); }
  void on_bytes(std::uint64_t offset, ByteView data) override { m_inner.on_bytes(offset, data); }

 protected:
  Progress& inner() { return m_inner; }

 private:
  Progress& m_inner;
};

// Shows the inner work under another phase name: a restore programs like a flash but is not one.
class PhaseProgress final : public ForwardingProgress {
 public:
  PhaseProgress(Progress& inner, std::string phase) : ForwardingProgress(inner), m_phase(std::move(phase)) {}
  void begin(const std::string& ecu, const std::string&, std::uint64_t total) override {
    inner().begin(ecu, m_phase, total);
  }

 private:
  std::string m_phase;
};

}  // namespace ecuup
