#include "sim/fault.hpp"

#include <charconv>

namespace ecuup::sim {

namespace {

constexpr std::uint8_t k_subfunction_mask = 0x7F;  // bit 7 is suppressPosRspMsgIndicationBit
constexpr std::uint8_t k_sid_routine_control = 0x31;
constexpr std::uint8_t k_sid_transfer_data = 0x36;

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto pos = text.find(sep, start);
    parts.push_back(text.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

Result<std::uint8_t> parse_byte(std::string_view text, const char* what) {
  auto n = parse_number(text);
  if (!n || *n > 0xFF) return make_error(Errc::usage, std::string(what) + " must be a byte, got '" + std::string(text) + "'");
  return static_cast<std::uint8_t>(*n);
}

}  // namespace

Result<std::uint32_t> parse_number(std::string_view text) {
  int base = 10;
  std::string_view digits = text;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  std::uint32_t value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size())
    return make_error(Errc::usage, "not a number: '" + std::string(text) + "'");
  return value;
}

const char* fault_kind_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::nrc: return "nrc";
    case FaultKind::silence: return "silence";
    case FaultKind::drop: return "drop";
    case FaultKind::power_loss: return "power_loss";
    case FaultKind::slow_erase: return "slow_erase";
    case FaultKind::wrong_checksum: return "wrong_checksum";
    case FaultKind::security_delay: return "security_delay";
    case FaultKind::slow_boot: return "slow_boot";
    case FaultKind::late: return "late";
    case FaultKind::low_battery: return "low_battery";
    case FaultKind::moving: return "moving";
    case FaultKind::engine_running: return "engine_running";
  }
  return "?";
}

Result<FaultSpec> parse_fault(std::string_view text) {
  auto parts = split(text, ':');
  FaultSpec spec;
  spec.text = std::string(text);
  auto bad = [&](const std::string& why) { return make_error(Errc::usage, "fault '" + std::string(text) + "': " + why); };
  std::string_view kind = parts[0];
  std::size_t next = 1;
  if (kind == "nrc") {
    spec.kind = FaultKind::nrc;
    if (parts.size() < 3) return bad("expected nrc:SID:NRC");
    auto sid = parse_byte(parts[1], "SID");
    if (!sid) return bad(sid.error().message);
    auto nrc = parse_byte(parts[2], "NRC");
    if (!nrc) return bad(nrc.error().message);
    spec.sid = *sid;
    spec.nrc = *nrc;
    next = 3;
  } else if (kind == "late") {
    spec.kind = FaultKind::late;
    // The SID may be left out with block=K: TransferData is the only service with blocks.
    spec.sid = k_sid_transfer_data;
    if (parts.size() >= 2 && parts[1].find('=') == std::string_view::npos && parts[1] != "once" && parts[1] != "always") {
      auto sid = parse_byte(parts[1], "SID");
      if (!sid) return bad(sid.error().message);
      spec.sid = *sid;
      next = 2;
    }
  } else if (kind == "security_delay" || kind == "security-delay") {
    spec.kind = FaultKind::security_delay;
  } else if (kind == "slow_boot" || kind == "slow-boot") {
    spec.kind = FaultKind::slow_boot;
  } else if (kind == "silence") {
    spec.kind = FaultKind::silence;
  } else if (kind == "drop") {
    spec.kind = FaultKind::drop;
  } else if (kind == "power_loss" || kind == "power-loss") {
    spec.kind = FaultKind::power_loss;
  } else if (kind == "slow_erase" || kind == "slow-erase") {
    spec.kind = FaultKind::slow_erase;
  } else if (kind == "wrong_checksum" || kind == "wrong-checksum") {
    spec.kind = FaultKind::wrong_checksum;
  } else if (kind == "low_battery" || kind == "low-battery") {
    spec.kind = FaultKind::low_battery;
  } else if (kind == "moving") {
    spec.kind = FaultKind::moving;
  } else if (kind == "engine_running" || kind == "engine-running") {
    spec.kind = FaultKind::engine_running;
  } else {
    return bad("unknown kind '" + std::string(kind) +
               "' (nrc, silence, drop, power_loss, slow_erase, wrong_checksum, security_delay, slow_boot, late, "
               "low_battery, moving, engine_running)");
  }
  for (std::size_t i = next; i < parts.size(); ++i) {
    std::string_view p = parts[i];
    if (p == "once") {
      spec.repeat = FaultRepeat::once;
    } else if (p == "always") {
      spec.repeat = FaultRepeat::always;
    } else if (auto eq = p.find('='); eq != std::string_view::npos) {
      auto key = p.substr(0, eq);
      auto value = parse_number(p.substr(eq + 1));
      if (!value) return bad(value.error().message);
      if (key == "block") {
        if (*value == 0) return bad("block numbers start at 1");
        spec.block = *value;
      } else if ((key == "mv" && spec.kind == FaultKind::low_battery) || (key == "kmh" && spec.kind == FaultKind::moving)) {
        spec.level = *value;
      } else if (key == "ms") {
        spec.duration_ms = *value;
      } else if (key == "sub" && (spec.kind == FaultKind::nrc || spec.kind == FaultKind::late)) {
        if (*value > k_subfunction_mask) return bad("sub= is a sub-function 0x00..0x7F");
        spec.sub = static_cast<std::uint8_t>(*value);
      } else if (key == "rid" && (spec.kind == FaultKind::nrc || spec.kind == FaultKind::late)) {
        if (*value > 0xFFFF) return bad("rid= is a 16-bit routine identifier");
        spec.routine = static_cast<std::uint16_t>(*value);
      } else {
        return bad("unknown parameter '" + std::string(key) +
                   "' (block, ms; sub and rid for nrc and late; mv for low_battery; kmh for moving)");
      }
    } else if (auto n = parse_number(p); n && !spec.block &&
               (spec.kind == FaultKind::silence || spec.kind == FaultKind::drop || spec.kind == FaultKind::power_loss)) {
      spec.block = *n;  // "silence:5" is short for "silence:block=5"
      if (*n == 0) return bad("block numbers start at 1");
    } else {
      return bad("unexpected '" + std::string(p) + "'");
    }
  }
  bool needs_block = spec.kind == FaultKind::silence || spec.kind == FaultKind::drop || spec.kind == FaultKind::power_loss;
  if (needs_block && !spec.block) return bad("needs block=K (the TransferData block it fires at)");
  if (spec.kind == FaultKind::late && next == 1 && !spec.block) return bad("expected late:SID or late:block=K");
  if (spec.kind == FaultKind::late && spec.block && spec.sid != k_sid_transfer_data)
    return bad("block= needs SID 0x36 (TransferData)");
  if (spec.routine && spec.sid != k_sid_routine_control) return bad("rid= needs SID 0x31 (RoutineControl)");
  return spec;
}

bool FaultSpec::matches(ByteView request) const {
  if (request.empty() || request[0] != sid) return false;
  if (sub && (request.size() < 2 || (request[1] & k_subfunction_mask) != *sub)) return false;
  if (routine && (request.size() < 4 || (request[2] << 8 | request[3]) != *routine)) return false;
  return true;
}

Result<EcuFault> parse_ecu_fault(std::string_view text) {
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return make_error(Errc::usage, "fault '" + std::string(text) + "': expected ECU:KIND[:...]");
  ECUUP_ASSIGN(auto spec, parse_fault(text.substr(colon + 1)));
  return EcuFault{std::string(text.substr(0, colon)), std::move(spec)};
}

FaultSet::FaultSet(std::vector<FaultSpec> faults) {
  for (auto& f : faults) add(std::move(f));
}

void FaultSet::add(FaultSpec fault) {
  m_faults.push_back(std::move(fault));
  m_spent.push_back(false);
}

void FaultSet::fire(const FaultSpec* fault) {
  if (!fault) return;
  auto index = static_cast<std::size_t>(fault - m_faults.data());
  if (index < m_faults.size() && fault->repeat == FaultRepeat::once) m_spent[index] = true;
}

}  // namespace ecuup::sim
