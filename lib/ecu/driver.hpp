#pragma once
// How an ECU is reached and programmed. Drivers: `image` (flash memory is a file), `command`
// (the bench's own tools), `uds` (ISO 14229 over ISO-TP/CAN or DoIP).
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

struct EcuIdentity {
  std::string version;                       // installed software version
  std::map<std::string, std::string> extra;  // further identification (serial, VIN, ...)
};

// What a driver gets besides its own config section.
struct DriverContext {
  std::filesystem::path base_dir;   // relative paths in the config resolve against this
  std::filesystem::path trace_file; // empty: no bus trace
  int verbosity = 0;
};

// One precondition's verdict: what was read and, when not met, why.
struct PreconditionOutcome {
  std::string name;
  PreconditionKind kind = PreconditionKind::command;
  bool met = false;
  std::string value;   // what was read: "10.9 V", "routine status 01 02", "exit status 1"
  std::string reason;  // when not met: "10.9 V is below the minimum 12.0 V"
  std::string hint;    // the config's advice for a person
};

class EcuDriver {
 public:
  virtual ~EcuDriver() = default;
  virtual Result<EcuIdentity> read_identity() = 0;
  // The vehicle's VIN as this ECU reports it (UDS: DID F190); nullopt from drivers that cannot ask.
  virtual Result<std::optional<std::string>> read_vin() { return std::optional<std::string>{}; }
  // Programs `image` and returns only when the ECU accepted it. The caller re-reads the version.
  virtual Result<void> flash(const std::filesystem::path& image, Progress& progress) = 0;
  // After flash() failed: whether it had sent anything that changes the ECU's memory (an erase,
  // a download, a vendor tool run). false means the ECU still holds what it held before, so the
  // caller must not restore it. Drivers that cannot tell answer true.
  virtual bool touched() const { return true; }
  // Runs every check of `checks` (read-only: DIDs, a precondition routine, bench commands) and
  // returns each verdict; an error only when a check could not be run at all (ECU silent).
  // The default runs command checks and refuses DID and routine checks (Errc::unsupported).
  virtual Result<std::vector<PreconditionOutcome>> check_preconditions(const std::vector<Precondition>& checks,
                                                                       Progress& progress);
  // Recovery mode (a restore, or re-reading an ECU to learn how an interrupted flash ended): keep
  // trying through refused or dropped connections, silence and NRCs 0x21/0x22/0x37/0x78 for the
  // driver's recovery window (uds: timeouts.recovery_window_ms) instead of failing at the first.
  virtual void set_recovery(bool on) { (void)on; }
  // Whether flash() in recovery mode itself starts over until the recovery window is spent (the
  // caller then must not repeat it: that would multiply the window).
  virtual bool retries_in_recovery() const { return false; }
  // The version the next flash() programs (a task's target, a backup's version), for drivers
  // that hand it on to a tool (the command driver's {version}).
  virtual void set_image_version(const std::string& version) { (void)version; }
  // Reads the installed software out into `dest` (`backup --read`).
  // What a flash of `image` would send, one line per step (boot loader, erase ranges, segments with
  // their data format), for --dry-run; empty when the driver cannot say.
  virtual Result<std::vector<std::string>> describe_flash(const std::filesystem::path& image) {
    (void)image;
    return std::vector<std::string>{};
  }
  virtual bool can_read_out() const { return false; }
  virtual Result<void> read_out(const std::filesystem::path& dest, Progress& progress);
  // How the last read_out() laid its file out ("raw@0x00010000", "srec"), for a restore to program
  // it back where it came from whatever the config says by then; empty when it does not matter.
  virtual std::string read_out_layout() const { return {}; }
  // The next flash() reads its file as `layout` (from read_out_layout()) instead of the config's
  // image settings; empty = the config's.
  virtual Result<void> set_image_layout(const std::string& layout) { (void)layout; return success(); }
};

// Builds the driver named by `ecu.driver`; Errc::config (with file:line:col) on bad settings.
Result<std::unique_ptr<EcuDriver>> make_driver(const EcuConfig& ecu, const DriverContext& context);

}  // namespace ecuup
