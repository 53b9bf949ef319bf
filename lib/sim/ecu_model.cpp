#include "sim/ecu_model.hpp"

#include <algorithm>
#include <cstdio>

#include "sim/toy_key.hpp"
#include "sim/vehicle_state.hpp"
#include "util/sw_image.hpp"

namespace ecuup::sim {

namespace {

using std::chrono::milliseconds;

// Service identifiers (ISO 14229-1).
constexpr std::uint8_t k_sid_session_control = 0x10;
constexpr std::uint8_t k_sid_ecu_reset = 0x11;
constexpr std::uint8_t k_sid_clear_dtc = 0x14;
constexpr std::uint8_t k_sid_read_dtc = 0x19;
constexpr std::uint8_t k_sid_read_did = 0x22;
constexpr std::uint8_t k_sid_security_access = 0x27;
constexpr std::uint8_t k_sid_communication_control = 0x28;
constexpr std::uint8_t k_sid_write_did = 0x2E;
constexpr std::uint8_t k_sid_routine_control = 0x31;
constexpr std::uint8_t k_sid_request_download = 0x34;
constexpr std::uint8_t k_sid_request_upload = 0x35;
constexpr std::uint8_t k_sid_transfer_data = 0x36;
constexpr std::uint8_t k_sid_transfer_exit = 0x37;
constexpr std::uint8_t k_sid_tester_present = 0x3E;
constexpr std::uint8_t k_sid_control_dtc_setting = 0x85;
constexpr std::uint8_t k_positive_offset = 0x40;
constexpr std::uint8_t k_negative_response = 0x7F;
constexpr std::uint8_t k_suppress_positive = 0x80;  // suppressPosRspMsgIndicationBit
constexpr std::uint8_t k_subfunction_mask = 0x7F;

// Negative response codes (ISO 14229-1 annex A).
constexpr std::uint8_t k_nrc_service_not_supported = 0x11;
constexpr std::uint8_t k_nrc_subfunction_not_supported = 0x12;
constexpr std::uint8_t k_nrc_incorrect_length = 0x13;
constexpr std::uint8_t k_nrc_busy_repeat = 0x21;
constexpr std::uint8_t k_nrc_conditions_not_correct = 0x22;
constexpr std::uint8_t k_nrc_request_sequence_error = 0x24;
constexpr std::uint8_t k_nrc_out_of_range = 0x31;
constexpr std::uint8_t k_nrc_security_denied = 0x33;
constexpr std::uint8_t k_nrc_invalid_key = 0x35;
constexpr std::uint8_t k_nrc_exceeded_attempts = 0x36;
constexpr std::uint8_t k_nrc_time_delay_not_expired = 0x37;
constexpr std::uint8_t k_nrc_upload_download_not_accepted = 0x70;
constexpr std::uint8_t k_nrc_transfer_suspended = 0x71;
constexpr std::uint8_t k_nrc_programming_failure = 0x72;
constexpr std::uint8_t k_nrc_wrong_block_counter = 0x73;
constexpr std::uint8_t k_nrc_service_not_in_session = 0x7F;

constexpr std::uint16_t k_did_active_session = 0xF186;
constexpr std::uint16_t k_did_software_version = 0xF189;
constexpr std::uint16_t k_routine_erase = 0xFF00;
constexpr std::uint16_t k_routine_check = 0xFF01;
constexpr std::uint16_t k_routine_check_preconditions = 0x0203;
constexpr std::uint8_t k_routine_start = 0x01;
constexpr std::uint8_t k_routine_stop = 0x02;
constexpr std::uint8_t k_routine_results = 0x03;
constexpr std::uint8_t k_routine_status_ok = 0x00;
constexpr std::uint8_t k_routine_status_failed = 0x01;
constexpr std::uint8_t k_length_format_2_bytes = 0x20;  // 0x34/0x35 response: maxNumberOfBlockLength in 2 bytes

constexpr milliseconds k_default_silence{2000};
constexpr milliseconds k_default_security_delay{1000};
constexpr milliseconds k_default_slow_boot{3000};
constexpr milliseconds k_default_late{1000};

Reply respond(Bytes bytes) { return Reply{ReplyKind::respond, std::move(bytes), {}, false}; }
Reply negative(std::uint8_t sid, std::uint8_t nrc) { return respond(Bytes{k_negative_response, sid, nrc}); }
Reply silent() { return Reply{ReplyKind::silent, {}, {}, false}; }
Reply positive_or_silent(std::uint8_t subfunction, Bytes bytes) {
  return (subfunction & k_suppress_positive) ? silent() : respond(std::move(bytes));
}

std::uint32_t be(ByteView bytes) {
  std::uint32_t v = 0;
  for (auto b : bytes) v = v << 8 | b;
  return v;
}

}  // namespace

Result<std::unique_ptr<EcuModel>> EcuModel::open(const EcuConfig& config, const std::filesystem::path& state_dir,
                                                 std::vector<FaultSpec> extra_faults) {
  auto flash = FlashStore::open(state_dir / config.name, config.memory, config.initial_image);
  if (!flash) return std::move(flash).error().context("ecu " + config.name);
  std::vector<FaultSpec> faults = config.faults;
  for (auto& f : extra_faults) faults.push_back(std::move(f));
  return std::unique_ptr<EcuModel>(new EcuModel(config, std::move(*flash), std::move(faults)));
}

// Opening the ECU is its power-on: the security delay runs from here (no boot time: "ready"
// means reachable).
EcuModel::EcuModel(const EcuConfig& config, std::unique_ptr<FlashStore> flash, std::vector<FaultSpec> faults)
    : m_config(config), m_flash(std::move(flash)), m_faults(std::move(faults)) {
  arm_security_delay(Clock::now());
}

const char* power_state_name(PowerState state) {
  switch (state) {
    case PowerState::on: return "on";
    case PowerState::off: return "off";
    case PowerState::booting: return "booting";
  }
  return "?";
}

void EcuModel::power_cut(Clock::time_point now, milliseconds off_time) {
  std::lock_guard lock(m_mutex);
  std::fprintf(stderr, "ecuup-sim: %s: power cut for %lld ms\n", m_config.name.c_str(),
               static_cast<long long>(off_time.count()));
  // A block still being programmed keeps only its first half, as with the power_loss fault.
  if (now < m_busy_until && m_writing_size > 0) {
    const std::uint32_t half = m_writing_size / 2;
    if (auto r = m_flash->erase(m_writing_address + half, m_writing_size - half); !r)
      std::fprintf(stderr, "ecuup-sim: %s: %s\n", m_config.name.c_str(), r.error().message.c_str());
  }
  m_power_off_until = std::max(m_power_off_until, now + off_time);
  m_offline_until = std::max(m_offline_until, m_power_off_until);
  reboot(m_power_off_until);
}

PowerState EcuModel::power_state(Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  if (now < m_power_off_until) return PowerState::off;
  return now < m_booted_at ? PowerState::booting : PowerState::on;
}

bool EcuModel::on_network(Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  return now >= m_offline_until;
}

std::uint64_t EcuModel::power_epoch() {
  std::lock_guard lock(m_mutex);
  return m_power_epoch;
}

bool EcuModel::wait_powered(Clock::time_point deadline, std::uint64_t epoch) {
  std::unique_lock lock(m_mutex);
  return !m_restarted.wait_until(lock, deadline, [&] { return m_power_epoch != epoch; });
}

Reply EcuModel::handle(ByteView request, Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  if (now < m_offline_until || now < m_silent_until || request.empty()) return silent();
  if (now < m_busy_until) {
    // A suppressed TesterPresent only keeps the session alive; anything else is told to come back.
    const bool quiet_keepalive = request[0] == k_sid_tester_present && request.size() == 2 &&
                                 (request[1] & k_suppress_positive);
    return quiet_keepalive ? silent() : negative(request[0], k_nrc_busy_repeat);
  }
  // S3 (ISO 14229-2): a non-default session ends when the tester stays quiet too long.
  if (m_session != Session::default_session && now - m_last_request > milliseconds(m_config.timing.s3_timeout_ms))
    enter_session(Session::default_session);
  m_last_request = now;
  const std::uint32_t blocks_before = m_blocks;
  m_writing_size = 0;
  Reply reply = dispatch(request, now);
  if (reply.work_time.count() > 0) {
    // P2server: an answer that takes longer than (about half) P2 is announced with 0x78.
    reply.pending = reply.work_time > milliseconds(m_config.timing.p2_ms / 2);
  }
  if (reply.kind == ReplyKind::respond) {
    // A late answer comes after the tester's P2 without a 0x78 to hold it off (a stalled ECU).
    const bool new_block = request[0] == k_sid_transfer_data && m_blocks == blocks_before + 1;
    if (const FaultSpec* f = m_faults.find(FaultKind::late, [&](const FaultSpec& s) {
          return s.matches(request) && (!s.block || (new_block && *s.block == m_blocks));
        })) {
      m_faults.fire(f);
      std::fprintf(stderr, "ecuup-sim: %s: fault %s: answering late\n", m_config.name.c_str(), f->text.c_str());
      reply.work_time = f->duration_ms ? milliseconds(*f->duration_ms) : k_default_late;
      reply.pending = false;
    }
  }
  if (reply.work_time.count() > 0) {
    m_busy_until = now + reply.work_time;
    m_last_request = m_busy_until;
  }
  reply.power_epoch = m_power_epoch;
  return reply;
}

Reply EcuModel::dispatch(ByteView req, Clock::time_point now) {
  const std::uint8_t sid = req[0];
  if (const FaultSpec* f = m_faults.find(FaultKind::nrc, [&](const FaultSpec& s) {
        return s.matches(req) && !(sid == k_sid_transfer_data && s.block);
      })) {
    m_faults.fire(f);
    if (sid == k_sid_transfer_data) abort_transfer();
    return negative(sid, f->nrc);
  }
  const bool non_default = m_session != Session::default_session;
  switch (sid) {
    case k_sid_session_control: return session_control(req);
    case k_sid_ecu_reset: return ecu_reset(req, now);
    case k_sid_clear_dtc: return clear_dtc(req);
    case k_sid_read_dtc: return read_dtc(req);
    case k_sid_read_did: return read_did(req);
    case k_sid_tester_present: return tester_present(req);
    case k_sid_security_access:
      return non_default ? security_access(req, now) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_communication_control:
      return non_default ? communication_control(req) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_control_dtc_setting:
      return non_default ? control_dtc_setting(req) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_write_did: return non_default ? write_did(req) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_routine_control: return non_default ? routine_control(req) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_request_download:
      return m_session == Session::programming ? request_transfer(req, Transfer::download)
                                               : negative(sid, k_nrc_service_not_in_session);
    case k_sid_request_upload:
      return non_default ? request_transfer(req, Transfer::upload) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_transfer_data: return non_default ? transfer_data(req, now) : negative(sid, k_nrc_service_not_in_session);
    case k_sid_transfer_exit: return non_default ? transfer_exit(req) : negative(sid, k_nrc_service_not_in_session);
    default: return negative(sid, k_nrc_service_not_supported);
  }
}

void EcuModel::enter_session(Session session) {
  // Every session transition relocks security access and ends a running transfer (ISO 14229-1 §9.2).
  m_session = session;
  m_unlocked_level = 0;
  m_seed_level = 0;
  abort_transfer();
  // A boot loader runs in the programming session it was started in.
  if (session == Session::default_session) {
    m_sbl_running = false;
    m_sbl_loaded_end = 0;
  }
}

void EcuModel::abort_transfer() {
  m_transfer = Transfer::none;
  m_transfer_to_ram = false;
  m_inflater.reset();
  m_transfer_done = 0;
  m_blocks = 0;
  m_last_counter = 0;
  m_last_upload_block.clear();
}

// The ECU restarts at `at` (after 0x11, a power loss, or when power returns): default session,
// security locked, nothing erased, work in progress lost. With a boot time it is off the network
// until booted; otherwise it stays reachable and silent for reset_time_ms.
void EcuModel::reboot(Clock::time_point at) {
  enter_session(Session::default_session);
  m_erased.clear();
  m_sbl_running = false;
  m_sbl_loaded_end = 0;
  m_busy_until = {};
  m_writing_size = 0;
  ++m_power_epoch;
  m_restarted.notify_all();
  milliseconds boot_time{m_config.timing.boot_time_ms};
  if (const FaultSpec* f = m_faults.find(FaultKind::slow_boot, [](const FaultSpec&) { return true; })) {
    m_faults.fire(f);
    boot_time = f->duration_ms ? milliseconds(*f->duration_ms) : k_default_slow_boot;
    std::fprintf(stderr, "ecuup-sim: %s: fault %s: booting for %lld ms\n", m_config.name.c_str(), f->text.c_str(),
                 static_cast<long long>(boot_time.count()));
  }
  Clock::time_point up;
  if (boot_time.count() > 0) {
    m_offline_until = std::max(m_offline_until, at + boot_time);
    up = m_offline_until;
  } else {
    up = std::max(m_offline_until, at + milliseconds(m_config.timing.reset_time_ms));
  }
  m_silent_until = up;
  m_booted_at = up;
  m_last_request = up;
  arm_security_delay(up);
}

// ISO 14229-1 lets a server refuse requestSeed with 0x37 for a while after power-on; counted from
// `up`, when the ECU answers again.
void EcuModel::arm_security_delay(Clock::time_point up) {
  milliseconds delay{m_config.timing.boot_security_delay_ms};
  if (const FaultSpec* f = m_faults.find(FaultKind::security_delay, [](const FaultSpec&) { return true; })) {
    m_faults.fire(f);
    delay = f->duration_ms ? milliseconds(*f->duration_ms) : k_default_security_delay;
  }
  if (delay.count() > 0) m_security_delay_until = std::max(m_security_delay_until, up + delay);
}

bool EcuModel::unlocked_for_programming() const { return m_unlocked_level == m_config.programming_level; }

std::string EcuModel::current_version() const {
  if (!m_flash->valid() || m_flash->primary().size() < k_sw_image_header_size) return m_config.boot_marker;
  auto info = parse_sw_image_header(m_flash->primary().first(k_sw_image_header_size));
  return info ? info->version : m_config.boot_marker;
}

Reply EcuModel::write_failure(const Error& error, std::uint8_t sid) {
  std::fprintf(stderr, "ecuup-sim: %s: %s\n", m_config.name.c_str(), error.message.c_str());
  abort_transfer();
  return negative(sid, k_nrc_programming_failure);
}

Reply EcuModel::session_control(ByteView req) {
  if (req.size() != 2) return negative(req[0], k_nrc_incorrect_length);
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  if (sf != static_cast<std::uint8_t>(Session::default_session) && sf != static_cast<std::uint8_t>(Session::programming) &&
      sf != static_cast<std::uint8_t>(Session::extended))
    return negative(req[0], k_nrc_subfunction_not_supported);
  const auto target = static_cast<Session>(sf);
  // The application only enters programming from extended; a bootloader (no valid software) from anywhere.
  if (target == Session::programming && m_session == Session::default_session && m_flash->valid() &&
      !m_config.programming_from_default)
    return negative(req[0], k_nrc_conditions_not_correct);
  enter_session(target);
  const std::uint32_t p2 = m_config.timing.p2_ms;
  const std::uint32_t p2_star = m_config.timing.p2_star_ms / 10;  // P2*server in 10 ms units on the wire
  return positive_or_silent(req[1], Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset), sf,
                                          static_cast<std::uint8_t>(p2 >> 8), static_cast<std::uint8_t>(p2),
                                          static_cast<std::uint8_t>(p2_star >> 8), static_cast<std::uint8_t>(p2_star)});
}

Reply EcuModel::ecu_reset(ByteView req, Clock::time_point now) {
  if (req.size() != 2) return negative(req[0], k_nrc_incorrect_length);
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  constexpr std::uint8_t k_hard_reset = 0x01, k_soft_reset = 0x03;
  if (sf < k_hard_reset || sf > k_soft_reset) return negative(req[0], k_nrc_subfunction_not_supported);
  // The response goes out first; then the ECU is silent while it "reboots".
  reboot(now);
  return positive_or_silent(req[1], Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset), sf});
}

Reply EcuModel::security_access(ByteView req, Clock::time_point now) {
  const std::uint8_t sid = req[0];
  if (req.size() < 2) return negative(sid, k_nrc_incorrect_length);
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  const bool request_seed = sf % 2 == 1;
  const std::uint8_t level = request_seed ? sf : static_cast<std::uint8_t>(sf - 1);
  const auto& levels = m_config.security_levels;
  if (sf == 0 || std::find(levels.begin(), levels.end(), level) == levels.end())
    return negative(sid, k_nrc_subfunction_not_supported);
  const Bytes positive_prefix{static_cast<std::uint8_t>(sid + k_positive_offset), sf};
  if (request_seed) {
    if (req.size() != 2) return negative(sid, k_nrc_incorrect_length);
    if (now < m_security_delay_until) return negative(sid, k_nrc_time_delay_not_expired);
    Bytes out = positive_prefix;
    if (m_unlocked_level == level) {
      out.insert(out.end(), k_seed_size, 0x00);  // already unlocked: the seed is all zeros (ISO 14229-1)
      return respond(std::move(out));
    }
    m_seed.resize(k_seed_size);
    do {
      for (auto& b : m_seed) b = static_cast<std::uint8_t>(m_rng());
    } while (std::all_of(m_seed.begin(), m_seed.end(), [](std::uint8_t b) { return b == 0; }));
    m_seed_level = level;
    out.insert(out.end(), m_seed.begin(), m_seed.end());
    return respond(std::move(out));
  }
  if (m_seed_level != level) return negative(sid, k_nrc_request_sequence_error);
  if (req.size() != 2 + k_seed_size) return negative(sid, k_nrc_incorrect_length);
  m_seed_level = 0;  // a seed answers one key attempt
  Bytes expected = toy_key(level, m_seed);
  if (!std::equal(expected.begin(), expected.end(), req.begin() + 2)) {
    if (++m_failed_keys >= m_config.security_attempts) {
      m_failed_keys = 0;
      m_security_delay_until = now + milliseconds(m_config.timing.security_delay_ms);
      return negative(sid, k_nrc_exceeded_attempts);
    }
    return negative(sid, k_nrc_invalid_key);
  }
  m_failed_keys = 0;
  m_unlocked_level = level;
  return respond(positive_prefix);
}

Reply EcuModel::communication_control(ByteView req) {
  if (req.size() != 3) return negative(req[0], k_nrc_incorrect_length);
  constexpr std::uint8_t k_max_control_type = 0x03;  // enableRxAndTx .. disableRxAndTx
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  if (sf > k_max_control_type) return negative(req[0], k_nrc_subfunction_not_supported);
  return positive_or_silent(req[1], Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset), sf});
}

Reply EcuModel::control_dtc_setting(ByteView req) {
  if (req.size() < 2) return negative(req[0], k_nrc_incorrect_length);
  constexpr std::uint8_t k_dtc_on = 0x01, k_dtc_off = 0x02;
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  if (sf != k_dtc_on && sf != k_dtc_off) return negative(req[0], k_nrc_subfunction_not_supported);
  return positive_or_silent(req[1], Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset), sf});
}

Reply EcuModel::tester_present(ByteView req) {
  if (req.size() != 2) return negative(req[0], k_nrc_incorrect_length);
  if ((req[1] & k_subfunction_mask) != 0) return negative(req[0], k_nrc_subfunction_not_supported);
  return positive_or_silent(req[1], Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset), 0x00});
}

Reply EcuModel::read_did(ByteView req) {
  if (req.size() < 3 || req.size() % 2 == 0) return negative(req[0], k_nrc_incorrect_length);
  Bytes out{static_cast<std::uint8_t>(req[0] + k_positive_offset)};
  for (std::size_t i = 1; i < req.size(); i += 2) {
    const auto did = static_cast<std::uint16_t>(req[i] << 8 | req[i + 1]);
    out.push_back(req[i]);
    out.push_back(req[i + 1]);
    if (did == k_did_software_version) {
      auto version = current_version();
      out.insert(out.end(), version.begin(), version.end());
    } else if (did == k_did_active_session) {
      out.push_back(static_cast<std::uint8_t>(m_session));
    } else {
      auto it = std::find_if(m_config.dids.begin(), m_config.dids.end(), [&](const DidConfig& d) { return d.id == did; });
      auto vehicle = it == m_config.dids.end() ? vehicle_did(vehicle_state(m_faults), did) : std::nullopt;
      if (it == m_config.dids.end() && !vehicle) return negative(req[0], k_nrc_out_of_range);
      const Bytes& value = vehicle ? *vehicle : it->value;
      out.insert(out.end(), value.begin(), value.end());
    }
  }
  return respond(std::move(out));
}

Reply EcuModel::write_did(ByteView req) {
  if (req.size() < 4) return negative(req[0], k_nrc_incorrect_length);
  const auto did = static_cast<std::uint16_t>(req[1] << 8 | req[2]);
  auto it = std::find_if(m_config.dids.begin(), m_config.dids.end(), [&](const DidConfig& d) { return d.id == did; });
  if (it == m_config.dids.end() || !it->writable) return negative(req[0], k_nrc_out_of_range);
  if (!m_flash->valid()) return negative(req[0], k_nrc_conditions_not_correct);
  if (!unlocked_for_programming()) return negative(req[0], k_nrc_security_denied);
  it->value.assign(req.begin() + 3, req.end());
  return respond(Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset), req[1], req[2]});
}

Reply EcuModel::routine_control(ByteView req) {
  if (req.size() < 4) return negative(req[0], k_nrc_incorrect_length);
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  if (sf < k_routine_start || sf > k_routine_results) return negative(req[0], k_nrc_subfunction_not_supported);
  const auto routine = static_cast<std::uint16_t>(req[2] << 8 | req[3]);
  const Bytes prefix{static_cast<std::uint8_t>(req[0] + k_positive_offset), sf, req[2], req[3]};
  if (routine == k_routine_check_preconditions) {
    // ISO 14229-1: the status record lists the conditions not met; empty when all are.
    Bytes out = prefix;
    const Bytes not_met = programming_preconditions_status(vehicle_state(m_faults));
    out.insert(out.end(), not_met.begin(), not_met.end());
    return respond(std::move(out));
  }
  if (m_config.sbl && routine == m_config.sbl->routine) return sbl_routine(req);
  if (routine != k_routine_erase && routine != k_routine_check) return negative(req[0], k_nrc_out_of_range);
  if (sf == k_routine_stop) return negative(req[0], k_nrc_subfunction_not_supported);
  if (sf == k_routine_results) {
    if (routine != k_routine_check || !m_last_check_ok) return negative(req[0], k_nrc_request_sequence_error);
    Bytes out = prefix;
    out.push_back(*m_last_check_ok ? k_routine_status_ok : k_routine_status_failed);
    return respond(std::move(out));
  }
  if (m_session != Session::programming) return negative(req[0], k_nrc_conditions_not_correct);
  if (!unlocked_for_programming()) return negative(req[0], k_nrc_security_denied);
  return routine == k_routine_erase ? erase_routine(req) : check_routine(req);
}

// 31 01 FF00 [ALFID address size]: without the option record every region is erased.
Reply EcuModel::erase_routine(ByteView req) {
  const std::uint8_t sid = req[0];
  if (m_transfer != Transfer::none) return negative(sid, k_nrc_conditions_not_correct);
  if (needs_sbl()) return negative(sid, k_nrc_conditions_not_correct);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  if (req.size() == 4) {
    for (const auto& region : m_config.memory) ranges.emplace_back(region.address, region.size);
  } else {
    const std::uint8_t alfid = req[4];
    const std::size_t address_len = alfid & 0x0F, size_len = alfid >> 4;
    if (address_len < 1 || address_len > 4 || size_len < 1 || size_len > 4) return negative(sid, k_nrc_out_of_range);
    if (req.size() != 5 + address_len + size_len) return negative(sid, k_nrc_incorrect_length);
    const std::uint32_t address = be(req.subspan(5, address_len));
    const std::uint32_t size = be(req.subspan(5 + address_len, size_len));
    if (size == 0 || !m_flash->region_of(address, size)) return negative(sid, k_nrc_out_of_range);
    ranges.emplace_back(address, size);
  }
  // The software is marked invalid before the first byte goes, so that a simulator killed during
  // the erase restarts in boot mode rather than "valid" over erased flash.
  if (auto r = m_flash->set_valid(false); !r) return write_failure(r.error(), sid);
  for (auto [address, size] : ranges) {
    if (auto r = m_flash->erase(address, size); !r) return write_failure(r.error(), sid);
    m_erased.emplace_back(address, std::uint64_t{address} + size);
  }
  // Keep the erased list merged so a download range can be checked against one interval.
  std::sort(m_erased.begin(), m_erased.end());
  std::vector<std::pair<std::uint32_t, std::uint64_t>> merged;
  for (const auto& e : m_erased) {
    if (!merged.empty() && e.first <= merged.back().second)
      merged.back().second = std::max(merged.back().second, e.second);
    else
      merged.push_back(e);
  }
  m_erased = std::move(merged);
  m_last_check_ok.reset();

  milliseconds work{m_config.timing.erase_time_ms};
  if (const FaultSpec* f = m_faults.find(FaultKind::slow_erase, [](const FaultSpec&) { return true; })) {
    m_faults.fire(f);
    work = milliseconds(f->duration_ms.value_or(m_config.timing.erase_time_ms * 10 + 1000));
  }
  Reply reply = respond(Bytes{static_cast<std::uint8_t>(sid + k_positive_offset), req[1], req[2], req[3], k_routine_status_ok});
  reply.work_time = work;
  return reply;
}

// 31 01 <sbl routine> <call address, 4 bytes>: starts the boot loader downloaded to RAM, when the
// call address lies in what was downloaded since the last reset.
Reply EcuModel::sbl_routine(ByteView req) {
  const std::uint8_t sid = req[0];
  if ((req[1] & k_subfunction_mask) != k_routine_start) return negative(sid, k_nrc_subfunction_not_supported);
  if (!unlocked_for_programming()) return negative(sid, k_nrc_security_denied);
  if (req.size() != 8) return negative(sid, k_nrc_incorrect_length);
  if (m_transfer != Transfer::none) return negative(sid, k_nrc_request_sequence_error);
  const std::uint32_t call = be(req.subspan(4, 4));
  const SblConfig& sbl = *m_config.sbl;
  if (!in_sbl_ram(call, 1) || call - sbl.address >= m_sbl_loaded_end) {
    std::fprintf(stderr, "ecuup-sim: %s: boot loader call address 0x%08X: nothing downloaded there\n", m_config.name.c_str(),
                 static_cast<unsigned>(call));
    return negative(sid, k_nrc_request_sequence_error);
  }
  m_sbl_running = true;
  std::fprintf(stderr, "ecuup-sim: %s: boot loader started at 0x%08X\n", m_config.name.c_str(), static_cast<unsigned>(call));
  return respond(Bytes{static_cast<std::uint8_t>(sid + k_positive_offset), req[1], req[2], req[3], k_routine_status_ok});
}

bool EcuModel::in_sbl_ram(std::uint32_t address, std::uint64_t size) const {
  return m_config.sbl && address >= m_config.sbl->address &&
         std::uint64_t{address} + size <= std::uint64_t{m_config.sbl->address} + m_config.sbl->size;
}

Result<void> EcuModel::write_download(std::uint32_t address, ByteView data) {
  if (!m_transfer_to_ram) return m_flash->write(address, data);
  const std::uint32_t offset = address - m_config.sbl->address;
  if (m_sbl_ram.size() < m_config.sbl->size) m_sbl_ram.resize(m_config.sbl->size);
  std::copy(data.begin(), data.end(), m_sbl_ram.begin() + offset);
  m_sbl_loaded_end = std::max<std::uint64_t>(m_sbl_loaded_end, offset + data.size());
  return success();
}

namespace {

// What is wrong with the image at the start of `memory` (header magic and version, payload CRC-32);
// empty when it is sound.
std::string image_problem(ByteView memory) {
  if (memory.size() < k_sw_image_header_size) return "the memory region is smaller than an image header";
  auto info = parse_sw_image_header(memory.first(k_sw_image_header_size));
  if (!info) return info.error().message;
  if (std::uint64_t{info->payload_size} + k_sw_image_header_size > memory.size())
    return "payload length exceeds the memory region";
  if (crc32(memory.subspan(k_sw_image_header_size, info->payload_size)) != info->crc32)
    return "payload CRC-32 mismatch";
  return {};
}

bool starts_with_image_magic(ByteView memory) {
  return memory.size() >= k_sw_image_magic.size() &&
         std::equal(k_sw_image_magic.begin(), k_sw_image_magic.end(), memory.begin());
}

}  // namespace

// 31 01 FF01: the image at the start of the first region must carry the magic and a matching
// CRC-32; a further region that starts with an image header (a calibration set flashed from the
// same multi-segment file) must match its CRC-32 too, so a half-programmed segment 2 is caught.
Reply EcuModel::check_routine(ByteView req) {
  const std::uint8_t sid = req[0];
  if (m_transfer != Transfer::none) return negative(sid, k_nrc_request_sequence_error);
  std::string why = image_problem(m_flash->primary());
  if (!why.empty()) why = "first region: " + why;
  for (std::size_t i = 1; why.empty() && i < m_config.memory.size(); ++i) {
    const MemoryRegion& region = m_config.memory[i];
    ByteView memory = m_flash->read(region.address, region.size);
    if (!starts_with_image_magic(memory)) continue;
    if (auto problem = image_problem(memory); !problem.empty()) {
      char where[64];
      std::snprintf(where, sizeof where, "region %zu at 0x%08X: ", i + 1, static_cast<unsigned>(region.address));
      why = where + problem;
    }
  }
  bool ok = why.empty();
  if (ok) {
    if (const FaultSpec* f = m_faults.find(FaultKind::wrong_checksum, [](const FaultSpec&) { return true; })) {
      m_faults.fire(f);
      ok = false;
      why = "fault wrong_checksum";
    }
  }
  m_last_check_ok = ok;
  if (!ok) {
    std::fprintf(stderr, "ecuup-sim: %s: check routine failed: %s\n", m_config.name.c_str(), why.c_str());
    return negative(sid, k_nrc_programming_failure);
  }
  if (auto r = m_flash->set_valid(true); !r) return write_failure(r.error(), sid);
  return respond(Bytes{static_cast<std::uint8_t>(sid + k_positive_offset), req[1], req[2], req[3], k_routine_status_ok});
}

// 34/35 DFI ALFID address size -> 74/75 LFI maxNumberOfBlockLength (which counts SID and counter).
Reply EcuModel::request_transfer(ByteView req, Transfer kind) {
  const std::uint8_t sid = req[0];
  if (req.size() < 3) return negative(sid, k_nrc_incorrect_length);
  const std::uint8_t alfid = req[2];
  const std::size_t address_len = alfid & 0x0F, size_len = alfid >> 4;
  if (address_len < 1 || address_len > 4 || size_len < 1 || size_len > 4) return negative(sid, k_nrc_out_of_range);
  if (req.size() != 3 + address_len + size_len) return negative(sid, k_nrc_incorrect_length);
  // dataFormatIdentifier: no encryption; compression method 1 (zlib) on downloads when configured.
  const std::uint8_t compression = compression_method(req[1]);
  if (encryption_method(req[1]) != 0) return negative(sid, k_nrc_out_of_range);
  if (compression != 0 && (kind != Transfer::download || compression != k_compression_zlib || !m_config.compression))
    return negative(sid, k_nrc_out_of_range);
  if (!unlocked_for_programming()) return negative(sid, k_nrc_security_denied);
  if (kind == Transfer::upload && !m_flash->valid()) return negative(sid, k_nrc_conditions_not_correct);
  if (m_transfer != Transfer::none) return negative(sid, k_nrc_conditions_not_correct);
  const std::uint32_t address = be(req.subspan(3, address_len));
  const std::uint32_t size = be(req.subspan(3 + address_len, size_len));
  const bool to_ram = kind == Transfer::download && size != 0 && in_sbl_ram(address, size);
  if (size == 0 || (!to_ram && !m_flash->region_of(address, size))) return negative(sid, k_nrc_out_of_range);
  if (kind == Transfer::download && !to_ram && needs_sbl()) return negative(sid, k_nrc_conditions_not_correct);
  if (kind == Transfer::download && !to_ram) {
    bool erased = std::any_of(m_erased.begin(), m_erased.end(), [&](const auto& e) {
      return address >= e.first && std::uint64_t{address} + size <= e.second;
    });
    if (!erased) return negative(sid, k_nrc_upload_download_not_accepted);
  }
  abort_transfer();
  m_transfer = kind;
  m_transfer_address = address;
  m_transfer_size = size;
  m_transfer_to_ram = to_ram;
  if (compression != 0) m_inflater = std::make_unique<StreamInflater>();
  const std::uint32_t max_block = effective_max_block_length(m_config);
  return respond(Bytes{static_cast<std::uint8_t>(sid + k_positive_offset), k_length_format_2_bytes,
                       static_cast<std::uint8_t>(max_block >> 8), static_cast<std::uint8_t>(max_block)});
}

Reply EcuModel::transfer_data(ByteView req, Clock::time_point now) {
  const std::uint8_t sid = req[0];
  if (m_transfer == Transfer::none) return negative(sid, k_nrc_request_sequence_error);
  if (req.size() < 2) return negative(sid, k_nrc_incorrect_length);
  const std::uint8_t counter = req[1];
  const auto expected = static_cast<std::uint8_t>(m_last_counter + 1);  // starts at 1, wraps FF -> 00
  const std::uint32_t max_data = effective_max_block_length(m_config) - 2;
  const Bytes ack{static_cast<std::uint8_t>(sid + k_positive_offset), counter};

  if (m_transfer == Transfer::upload) {
    if (req.size() != 2) return negative(sid, k_nrc_incorrect_length);
    if (m_blocks > 0 && counter == m_last_counter) return respond(m_last_upload_block);  // repeated request
    if (counter != expected) return negative(sid, k_nrc_wrong_block_counter);
    if (m_transfer_done == m_transfer_size) return negative(sid, k_nrc_request_sequence_error);
    const std::uint32_t chunk = std::min(max_data, m_transfer_size - m_transfer_done);
    ByteView data = m_flash->read(m_transfer_address + m_transfer_done, chunk);
    Bytes out = ack;
    out.insert(out.end(), data.begin(), data.end());
    m_transfer_done += chunk;
    m_last_counter = counter;
    ++m_blocks;
    m_last_upload_block = out;
    return respond(std::move(out));
  }

  // A repeated block (the tester missed our answer) is acknowledged without writing again (ISO 14229-1).
  if (m_blocks > 0 && counter == m_last_counter) return respond(ack);
  if (counter != expected) return negative(sid, k_nrc_wrong_block_counter);
  ByteView wire = req.subspan(2);
  if (wire.empty() || wire.size() > max_data) return negative(sid, k_nrc_incorrect_length);
  // A compressed download is decompressed as it arrives; what it expands to is what is written.
  Bytes inflated;
  if (m_inflater) {
    auto out = m_inflater->feed(wire, m_transfer_size - m_transfer_done);
    if (!out) {
      std::fprintf(stderr, "ecuup-sim: %s: compressed download: %s\n", m_config.name.c_str(), out.error().message.c_str());
      abort_transfer();
      return negative(sid, k_nrc_programming_failure);
    }
    inflated = std::move(*out);
  }
  ByteView data = m_inflater ? ByteView(inflated) : wire;
  if (std::uint64_t{m_transfer_done} + data.size() > m_transfer_size) return negative(sid, k_nrc_transfer_suspended);

  const std::uint32_t block = m_blocks + 1;
  auto at_block = [&](const FaultSpec& f) { return f.block && *f.block == block; };
  if (const FaultSpec* f = m_faults.find(FaultKind::nrc, [&](const FaultSpec& s) { return s.sid == sid && at_block(s); })) {
    m_faults.fire(f);
    abort_transfer();
    return negative(sid, f->nrc);
  }
  const std::uint32_t address = m_transfer_address + m_transfer_done;
  if (const FaultSpec* f = m_faults.find(FaultKind::power_loss, at_block)) {
    m_faults.fire(f);
    std::fprintf(stderr, "ecuup-sim: %s: fault %s: power lost during block %u\n", m_config.name.c_str(), f->text.c_str(), block);
    auto half = data.first(data.size() / 2);
    if (!half.empty()) (void)write_download(address, half);
    (void)m_flash->set_valid(false);
    reboot(now);
    return Reply{ReplyKind::drop_connection, {}, {}, false};
  }
  if (auto r = write_download(address, data); !r) return write_failure(r.error(), sid);
  m_transfer_done += static_cast<std::uint32_t>(data.size());
  m_last_counter = counter;
  m_blocks = block;

  Reply reply = respond(ack);
  if (m_config.timing.write_bytes_per_s > 0 && !m_transfer_to_ram) {
    reply.work_time = milliseconds(std::uint64_t{data.size()} * 1000 / m_config.timing.write_bytes_per_s);
    m_writing_address = address;
    m_writing_size = static_cast<std::uint32_t>(data.size());
  }
  if (const FaultSpec* f = m_faults.find(FaultKind::drop, at_block)) {
    m_faults.fire(f);
    std::fprintf(stderr, "ecuup-sim: %s: fault %s: dropping after block %u\n", m_config.name.c_str(), f->text.c_str(), block);
    // The ECU keeps running but its tester is gone: back to the default session. With ms= it is
    // also unreachable for that long (a CAN node off the bus).
    enter_session(Session::default_session);
    if (f->duration_ms) m_silent_until = now + milliseconds(*f->duration_ms);
    return Reply{ReplyKind::drop_connection, {}, {}, false};
  }
  if (const FaultSpec* f = m_faults.find(FaultKind::silence, at_block)) {
    m_faults.fire(f);
    std::fprintf(stderr, "ecuup-sim: %s: fault %s: silent after block %u\n", m_config.name.c_str(), f->text.c_str(), block);
    // Block K is still answered; everything after it meets silence, then the ECU comes back reset.
    enter_session(Session::default_session);
    m_silent_until = now + reply.work_time + (f->duration_ms ? milliseconds(*f->duration_ms) : k_default_silence);
  }
  return reply;
}

Reply EcuModel::transfer_exit(ByteView req) {
  if (m_transfer == Transfer::none) return negative(req[0], k_nrc_request_sequence_error);
  if (m_transfer == Transfer::download && m_transfer_done != m_transfer_size)
    return negative(req[0], k_nrc_request_sequence_error);
  if (m_inflater && !m_inflater->ended()) {
    std::fprintf(stderr, "ecuup-sim: %s: compressed download: the zlib stream did not end\n", m_config.name.c_str());
    abort_transfer();
    return negative(req[0], k_nrc_programming_failure);
  }
  abort_transfer();
  return respond(Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset)});
}

Reply EcuModel::clear_dtc(ByteView req) {
  if (req.size() != 4) return negative(req[0], k_nrc_incorrect_length);
  return respond(Bytes{static_cast<std::uint8_t>(req[0] + k_positive_offset)});
}

// The simulated ECUs store no DTCs: counts are zero and lists empty.
Reply EcuModel::read_dtc(ByteView req) {
  if (req.size() < 2) return negative(req[0], k_nrc_incorrect_length);
  constexpr std::uint8_t k_count_by_mask = 0x01, k_by_mask = 0x02, k_supported = 0x0A;
  constexpr std::uint8_t k_availability_mask = 0xFF, k_format_iso14229 = 0x01;
  const std::uint8_t sf = req[1] & k_subfunction_mask;
  const auto rsid = static_cast<std::uint8_t>(req[0] + k_positive_offset);
  if (sf == k_count_by_mask) {
    if (req.size() != 3) return negative(req[0], k_nrc_incorrect_length);
    return respond(Bytes{rsid, sf, k_availability_mask, k_format_iso14229, 0x00, 0x00});
  }
  if (sf == k_by_mask) {
    if (req.size() != 3) return negative(req[0], k_nrc_incorrect_length);
    return respond(Bytes{rsid, sf, k_availability_mask});
  }
  if (sf == k_supported) {
    if (req.size() != 2) return negative(req[0], k_nrc_incorrect_length);
    return respond(Bytes{rsid, sf, k_availability_mask});
  }
  return negative(req[0], k_nrc_subfunction_not_supported);
}

}  // namespace ecuup::sim
