#include "ecu/preconditions.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "uds/client.hpp"
#include "util/cancel.hpp"
#include "util/process.hpp"

namespace ecuup {

namespace {

constexpr std::uint8_t k_start_routine = 0x01;  // RoutineControl sub-function startRoutine
constexpr int k_max_auto_decimals = 6;

// Enough decimals to show one step of the scale (0.1 V -> 1, 0.01 km/h -> 2).
int decimals_for(const DidDecoding& d) {
  if (d.decimals >= 0) return d.decimals;
  int decimals = 0;
  for (double step : {std::fabs(d.scale), std::fabs(d.offset)}) {
    int n = 0;
    while (n < k_max_auto_decimals) {
      const double shifted = step * std::pow(10.0, n);
      if (std::fabs(shifted - std::round(shifted)) < 1e-9 * std::max(1.0, std::fabs(shifted))) break;
      ++n;
    }
    decimals = std::max(decimals, n);
  }
  return decimals;
}

std::string format_number(const DidDecoding& d, double value) {
  const int decimals = decimals_for(d);
  if (std::fabs(value) < 0.5 * std::pow(10.0, -decimals)) value = 0;  // no "-0.0 km/h"
  std::string text = fmt::format("{:.{}f}", value, decimals);
  return d.unit.empty() ? text : text + " " + d.unit;
}

bool same_value(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::max(std::fabs(a), std::fabs(b))); }

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\r')) t.pop_back();
  const auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

std::string code_list(const Precondition& check, ByteView status) {
  std::string out;
  for (std::uint8_t b : status) {
    if (!out.empty()) out += ", ";
    out += fmt::format("0x{:02X}", b);
    if (auto it = check.codes.find(b); it != check.codes.end()) out += fmt::format(" ({})", it->second);
  }
  return out;
}

PreconditionOutcome outcome_for(const Precondition& check) {
  PreconditionOutcome o;
  o.name = check.name;
  o.kind = check.kind;
  o.hint = check.hint;
  return o;
}

Result<PreconditionOutcome> check_did(UdsClient& client, const Precondition& check) {
  PreconditionOutcome o = outcome_for(check);
  auto data = client.read_data_by_identifier(check.did);
  if (!data) {
    if (data.error().code == Errc::interrupted) return std::move(data).error();
    o.reason = fmt::format("DID 0x{:04X} could not be read: {}", check.did, data.error().message);
    return o;
  }
  auto value = decode_did_value(check.decoding, *data);
  if (!value) {
    o.reason = fmt::format("DID 0x{:04X}: {}", check.did, value.error().message);
    return o;
  }
  o.value = format_did_value(check, *value);
  o.reason = judge_did_value(check, *value);
  o.met = o.reason.empty();
  return o;
}

Result<PreconditionOutcome> check_routine(UdsClient& client, const Precondition& check) {
  PreconditionOutcome o = outcome_for(check);
  auto status = client.routine_control(k_start_routine, check.routine, check.option_record);
  if (!status) {
    if (status.error().code == Errc::interrupted) return std::move(status).error();
    // An ECU may refuse the routine itself (conditionsNotCorrect) instead of listing codes.
    o.reason = fmt::format("routine 0x{:04X} could not be run: {}", check.routine, status.error().message);
    return o;
  }
  o.value = status->empty() ? std::string("no conditions listed") : "status " + to_hex(*status, " ");
  o.reason = judge_routine_status(check, *status);
  o.met = o.reason.empty();
  return o;
}

}  // namespace

Result<double> decode_did_value(const DidDecoding& d, ByteView data) {
  if (data.size() < d.start + d.bytes)
    return make_error(Errc::protocol, fmt::format("the ECU answered {} bytes, the check reads {} from byte {}",
                                                  data.size(), d.bytes, d.start));
  std::uint64_t raw = 0;
  for (std::size_t i = 0; i < d.bytes; ++i) {
    const std::size_t at = d.byte_order == ByteOrder::big ? d.start + i : d.start + d.bytes - 1 - i;
    raw = (raw << 8) | data[at];
  }
  double number = 0;
  if (d.is_signed && d.bytes < 8 && (raw >> (d.bytes * 8 - 1)) != 0) {
    // Two's complement of a short field: subtract 2^bits.
    number = static_cast<double>(raw) - std::ldexp(1.0, static_cast<int>(d.bytes * 8));
  } else if (d.is_signed) {
    number = static_cast<double>(static_cast<std::int64_t>(raw));
  } else {
    number = static_cast<double>(raw);
  }
  return number * d.scale + d.offset;
}

std::string format_did_value(const Precondition& check, double value) {
  const DidDecoding& d = check.decoding;
  if (!check.limits.values.empty()) {
    const double raw = std::round((value - d.offset) / d.scale);
    if (auto it = check.limits.values.find(static_cast<long long>(raw));
        it != check.limits.values.end() && same_value(raw * d.scale + d.offset, value))
      return fmt::format("{} ({})", it->second, format_number(d, value));
  }
  return format_number(d, value);
}

std::string judge_did_value(const Precondition& check, double value) {
  const DidLimits& l = check.limits;
  const std::string shown = format_did_value(check, value);
  if (!l.one_of.empty() &&
      std::none_of(l.one_of.begin(), l.one_of.end(), [&](double allowed) { return same_value(allowed, value); })) {
    if (l.one_of.size() == 1) return fmt::format("{}, expected {}", shown, format_did_value(check, l.one_of.front()));
    std::string allowed;
    for (double a : l.one_of) allowed += (allowed.empty() ? "" : ", ") + format_did_value(check, a);
    return fmt::format("{} is not one of {}", shown, allowed);
  }
  if (l.min && value < *l.min && !same_value(value, *l.min))
    return fmt::format("{} is below the minimum {}", shown, format_number(check.decoding, *l.min));
  if (l.max && value > *l.max && !same_value(value, *l.max))
    return fmt::format("{} is above the maximum {}", shown, format_number(check.decoding, *l.max));
  return {};
}

std::string judge_routine_status(const Precondition& check, ByteView status) {
  if (std::equal(status.begin(), status.end(), check.expect.begin(), check.expect.end())) return {};
  if (check.expect.empty()) return "the ECU lists conditions not met: " + code_list(check, status);
  return fmt::format("routine status {}, expected {}{}", status.empty() ? std::string("empty") : to_hex(status, " "),
                     to_hex(check.expect, " "), check.codes.empty() || status.empty() ? "" : " (" + code_list(check, status) + ")");
}

Result<PreconditionOutcome> check_command_precondition(const Precondition& check) {
  PreconditionOutcome o = outcome_for(check);
  std::string command = check.command;
  if (!check.work_dir.empty()) command = "cd " + shell_quote(check.work_dir.string()) + " && " + command;
  auto run = run_shell(command, std::chrono::duration_cast<std::chrono::milliseconds>(check.timeout));
  if (!run) {
    if (run.error().code == Errc::interrupted) return std::move(run).error();
    if (run.error().code == Errc::timeout) {
      o.value = "timed out";
      o.reason = fmt::format("the command did not finish within {} s", check.timeout.count());
    } else {
      o.reason = "the command could not be run: " + run.error().message;
    }
    return o;
  }
  o.value = run->exit_code < 0 ? std::string("killed by a signal") : fmt::format("exit status {}", run->exit_code);
  o.met = run->exit_code == 0;
  if (!o.met) {
    const std::string detail = last_line(run->err.empty() ? run->out : run->err);
    o.reason = fmt::format("the command ended with {}{}{}", o.value, detail.empty() ? "" : ": ", detail);
  }
  return o;
}

Result<std::vector<PreconditionOutcome>> run_uds_preconditions(UdsClient& client, const std::vector<Precondition>& checks,
                                                               std::uint8_t default_session, Progress& progress) {
  std::vector<PreconditionOutcome> out;
  std::uint8_t session = 0;  // 0: the one the ECU was in
  for (const Precondition& check : checks) {
    if (interrupt_requested()) return make_error(Errc::interrupted, "interrupted while checking preconditions");
    Result<PreconditionOutcome> o = outcome_for(check);
    if (check.kind == PreconditionKind::command) {
      o = check_command_precondition(check);
    } else if (check.session != 0 && check.session != session) {
      auto entered = client.diagnostic_session_control(check.session);
      if (entered) session = check.session;
      if (!entered && entered.error().code == Errc::interrupted) return std::move(entered).error();
      if (!entered) o->reason = fmt::format("session 0x{:02X} could not be entered: {}", check.session, entered.error().message);
    }
    if (o && o->reason.empty() && !o->met && check.kind != PreconditionKind::command)
      o = check.kind == PreconditionKind::did ? check_did(client, check) : check_routine(client, check);
    if (!o) return std::move(o).error();
    progress.note(o->met ? fmt::format("precondition '{}': {} (met)", o->name, o->value)
                         : fmt::format("precondition '{}': NOT met: {}", o->name, o->reason));
    out.push_back(std::move(o).value());
  }
  // Leave the ECU as found; the flash sequence enters its own sessions.
  if (session != 0 && session != default_session) {
    auto back = client.diagnostic_session_control(default_session);
    if (!back && back.error().code == Errc::interrupted) return std::move(back).error();
  }
  return out;
}

}  // namespace ecuup
