#pragma once
// One simulated ECU as a UDS (ISO 14229-1) server: request bytes in, a Reply out. Pure logic plus
// the persisted FlashStore; the transports (DoIP, ISO-TP) and the 0x78 pacing live in sim_server.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>

#include "sim/fault.hpp"
#include "sim/flash_store.hpp"
#include "sim/sim_config.hpp"
#include "util/bytes.hpp"
#include "util/compress.hpp"
#include "util/result.hpp"

namespace ecuup::sim {

using Clock = std::chrono::steady_clock;

enum class ReplyKind {
  respond,          // send `response` (after `work_time`, with 0x78 while busy when `pending`)
  silent,           // say nothing (suppressed positive response, silence fault, rebooting)
  drop_connection,  // DoIP: close the TCP connection; CAN: nothing (the node is off the bus)
};

struct Reply {
  ReplyKind kind = ReplyKind::respond;
  Bytes response;
  std::chrono::milliseconds work_time{0};  // modelled erase/write time before the final response
  bool pending = false;                    // send 7F SID 78 at once and then periodically meanwhile
  std::uint64_t power_epoch = 0;           // EcuModel::power_epoch() when the reply was made
};

// Where an ECU's supply and boot stand (`ecuup-sim power-cut`'s status).
enum class PowerState { on, off, booting };
const char* power_state_name(PowerState state);

enum class Session : std::uint8_t { default_session = 0x01, programming = 0x02, extended = 0x03 };

class EcuModel {
 public:
  static Result<std::unique_ptr<EcuModel>> open(const EcuConfig& config, const std::filesystem::path& state_dir,
                                               std::vector<FaultSpec> extra_faults);

  // Thread-safe: DoIP and CAN may reach the same ECU.
  Reply handle(ByteView request, Clock::time_point now);

  // Cuts the supply now for `off_time`: work in progress is lost (a block being written is left
  // half-written), nothing answers meanwhile, and then the ECU boots as after a reset.
  void power_cut(Clock::time_point now, std::chrono::milliseconds off_time);
  PowerState power_state(Clock::time_point now);
  // False while the ECU is off or booting: its DoIP entity refuses connections and its CAN node
  // is off the bus.
  bool on_network(Clock::time_point now);
  // Changes whenever the ECU loses power or restarts: a reply made before is never sent.
  std::uint64_t power_epoch();
  // Waits until `deadline`; false (at once) if the ECU restarted since `epoch`.
  bool wait_powered(Clock::time_point deadline, std::uint64_t epoch);

  const EcuConfig& config() const { return m_config; }
  Session session() const { return m_session; }

 private:
  EcuModel(const EcuConfig& config, std::unique_ptr<FlashStore> flash, std::vector<FaultSpec> faults);

  enum class Transfer { none, download, upload };

  Reply dispatch(ByteView req, Clock::time_point now);
  Reply session_control(ByteView req);
  Reply ecu_reset(ByteView req, Clock::time_point now);
  Reply security_access(ByteView req, Clock::time_point now);
  Reply communication_control(ByteView req);
  Reply control_dtc_setting(ByteView req);
  Reply tester_present(ByteView req);
  Reply read_did(ByteView req);
  Reply write_did(ByteView req);
  Reply routine_control(ByteView req);
  Reply erase_routine(ByteView req);
  Reply check_routine(ByteView req);
  Reply sbl_routine(ByteView req);
  // Writes a download's bytes at `address`: flash, or the boot loader's RAM.
  Result<void> write_download(std::uint32_t address, ByteView data);
  bool in_sbl_ram(std::uint32_t address, std::uint64_t size) const;
  // Refuses programming flash while a required boot loader does not run.
  bool needs_sbl() const { return m_config.sbl && m_config.sbl->required && !m_sbl_running; }
  Reply request_transfer(ByteView req, Transfer kind);
  Reply transfer_data(ByteView req, Clock::time_point now);
  Reply transfer_exit(ByteView req);
  Reply clear_dtc(ByteView req);
  Reply read_dtc(ByteView req);

  void enter_session(Session session);
  void reboot(Clock::time_point at);
  void arm_security_delay(Clock::time_point up);
  void abort_transfer();
  bool unlocked_for_programming() const;
  std::string current_version() const;
  Reply write_failure(const Error& error, std::uint8_t sid);

  EcuConfig m_config;
  std::unique_ptr<FlashStore> m_flash;
  FaultSet m_faults;
  std::mutex m_mutex;
  std::condition_variable m_restarted;  // notified when m_power_epoch changes
  std::mt19937 m_rng{std::random_device{}()};

  Session m_session = Session::default_session;
  Clock::time_point m_last_request{};
  Clock::time_point m_silent_until{};    // up but answering nothing (rebooting, silence fault)
  Clock::time_point m_power_off_until{};  // no supply (power-cut)
  Clock::time_point m_offline_until{};   // off the network: no supply, or booting (boot_time_ms)
  Clock::time_point m_booted_at{};       // when the last boot ends and the ECU answers again
  Clock::time_point m_busy_until{};
  std::uint64_t m_power_epoch = 0;
  // A TransferData block still being written until m_busy_until: a power cut leaves it half-written.
  std::uint32_t m_writing_address = 0;
  std::uint32_t m_writing_size = 0;

  std::uint8_t m_unlocked_level = 0;  // 0 = locked
  std::uint8_t m_seed_level = 0;      // level whose seed was handed out and awaits its key
  Bytes m_seed;
  std::uint32_t m_failed_keys = 0;
  Clock::time_point m_security_delay_until{};

  // Erased ranges since the last reset: flash must be erased before it is programmed.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> m_erased;  // [begin, end)

  Transfer m_transfer = Transfer::none;
  std::uint32_t m_transfer_address = 0;
  std::uint32_t m_transfer_size = 0;
  std::uint32_t m_transfer_done = 0;
  std::uint8_t m_last_counter = 0;
  std::uint32_t m_blocks = 0;  // blocks accepted in this transfer (repeats not counted)
  Bytes m_last_upload_block;
  std::uint32_t m_last_block_size = 0;
  bool m_transfer_to_ram = false;                // into the boot loader's RAM (config.sbl)
  std::unique_ptr<StreamInflater> m_inflater;    // a compressed download (method 1, zlib)

  // The secondary boot loader's RAM (config.sbl): what was downloaded, and whether it runs.
  Bytes m_sbl_ram;
  std::uint64_t m_sbl_loaded_end = 0;  // RAM offset past the last byte downloaded since reset
  bool m_sbl_running = false;

  std::optional<bool> m_last_check_ok;
};

}  // namespace ecuup::sim
