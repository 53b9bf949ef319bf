#include "config/precondition.hpp"

#include <cmath>

#include <fmt/format.h>

#include "config/config.hpp"
#include "util/bytes.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

// ISO 14229-1 diagnosticSessionType values a read-only check may use. The programming session
// is refused: entering it may start the boot loader, which is already a change to the ECU.
constexpr std::uint8_t k_default_session = 0x01;
constexpr std::uint8_t k_programming_session = 0x02;
constexpr std::uint8_t k_extended_session = 0x03;
constexpr long long k_max_session = 0x7F;
constexpr long long k_max_did_bytes = 8;
constexpr long long k_max_timeout_s = 3600;

const std::vector<std::string> k_common_keys = {"name", "hint"};
const std::vector<std::string> k_did_keys = {"did", "session", "start", "bytes", "signed", "byte_order", "scale",
                                             "offset", "unit", "decimals", "min", "max", "equals", "one_of",
                                             "values"};
const std::vector<std::string> k_routine_keys = {"routine", "session", "option", "expect", "codes"};
const std::vector<std::string> k_command_keys = {"command", "timeout_s"};

std::vector<std::string> keys_of(const std::vector<std::string>& own) {
  std::vector<std::string> keys = k_common_keys;
  keys.insert(keys.end(), own.begin(), own.end());
  return keys;
}

Result<double> yaml_number(const fs::path& file, const YAML::Node& node, const std::string& what) {
  double value = 0;
  if (!node.IsScalar() || !YAML::convert<double>::decode(node, value) || !std::isfinite(value))
    return config_error_at(file, node, fmt::format("'{}' must be a number", what));
  return value;
}

Result<std::uint16_t> yaml_id16(const fs::path& file, const YAML::Node& map, const std::string& key) {
  ECUUP_ASSIGN(long long value, yaml_int(file, map, key, -1, 0, 0xFFFF));
  return static_cast<std::uint16_t>(value);
}

Result<Bytes> yaml_hex(const fs::path& file, const YAML::Node& map, const std::string& key) {
  const std::string none;
  ECUUP_ASSIGN(std::string text, yaml_string(file, map, key, &none));
  std::string digits;
  for (char c : text)
    if (c != ' ' && c != ':') digits += c;
  auto bytes = from_hex(digits);
  if (!bytes) return config_error_at(file, map[key], fmt::format("'{}' must be hex bytes (\"01 02\"), not '{}'", key, text));
  return std::move(bytes).value();
}

Result<std::uint8_t> parse_session(const fs::path& file, const YAML::Node& map) {
  YAML::Node node = map["session"];
  if (!node) return std::uint8_t{0};
  if (node.IsScalar() && node.Scalar() == "default") return k_default_session;
  if (node.IsScalar() && node.Scalar() == "extended") return k_extended_session;
  long long value = 0;
  if (!node.IsScalar() || !YAML::convert<long long>::decode(node, value) || value < 1 || value > k_max_session)
    return config_error_at(file, node, "'session' must be default, extended or a session number 0x01..0x7F");
  if (value == k_programming_session)
    return config_error_at(file, node, "'session' must not be the programming session: a precondition check is read-only");
  return static_cast<std::uint8_t>(value);
}

// `equals: off` names a raw value of `values:`; a number is a physical value.
Result<double> limit_value(const fs::path& file, const YAML::Node& node, const Precondition& p) {
  double number = 0;
  if (node.IsScalar() && YAML::convert<double>::decode(node, number) && std::isfinite(number)) return number;
  if (node.IsScalar()) {
    for (const auto& [raw, name] : p.limits.values)
      if (name == node.Scalar()) return static_cast<double>(raw) * p.decoding.scale + p.decoding.offset;
  }
  return config_error_at(file, node, fmt::format("'{}' is neither a number nor a name under 'values'",
                                                 node.IsScalar() ? node.Scalar() : std::string("(not a scalar)")));
}

Result<void> parse_did(const fs::path& file, const YAML::Node& node, Precondition& p) {
  p.kind = PreconditionKind::did;
  ECUUP_ASSIGN(p.did, yaml_id16(file, node, "did"));
  ECUUP_ASSIGN(p.session, parse_session(file, node));
  DidDecoding& d = p.decoding;
  ECUUP_ASSIGN(long long start, yaml_int(file, node, "start", 0, 0, 4095));
  ECUUP_ASSIGN(long long bytes, yaml_int(file, node, "bytes", 1, 1, k_max_did_bytes));
  d.start = static_cast<std::size_t>(start);
  d.bytes = static_cast<std::size_t>(bytes);
  ECUUP_ASSIGN(d.is_signed, yaml_bool(file, node, "signed", false));
  const std::string big = "big";
  ECUUP_ASSIGN(std::string order, yaml_string(file, node, "byte_order", &big));
  if (order != "big" && order != "little")
    return config_error_at(file, node["byte_order"], fmt::format("'byte_order' must be big or little, not '{}'", order));
  d.byte_order = order == "big" ? ByteOrder::big : ByteOrder::little;
  if (node["scale"]) {
    ECUUP_ASSIGN(d.scale, yaml_number(file, node["scale"], "scale"));
    if (d.scale == 0) return config_error_at(file, node["scale"], "'scale' must not be 0");
  }
  if (node["offset"]) {
    ECUUP_ASSIGN(d.offset, yaml_number(file, node["offset"], "offset"));
  }
  const std::string none;
  ECUUP_ASSIGN(d.unit, yaml_string(file, node, "unit", &none));
  ECUUP_ASSIGN(long long decimals, yaml_int(file, node, "decimals", -1, 0, 9));
  d.decimals = static_cast<int>(decimals);

  DidLimits& l = p.limits;
  if (YAML::Node values = node["values"]) {
    if (!values.IsMap()) return config_error_at(file, values, "'values' must map raw values to names (0: off)");
    for (const auto& entry : values) {
      long long raw = 0;
      if (!YAML::convert<long long>::decode(entry.first, raw))
        return config_error_at(file, entry.first, "a key under 'values' must be an integer (the raw value)");
      if (!entry.second.IsScalar() || entry.second.Scalar().empty())
        return config_error_at(file, entry.second, "a name under 'values' must be a non-empty string");
      l.values[raw] = entry.second.Scalar();
    }
  }
  if (node["min"]) {
    ECUUP_ASSIGN(l.min, yaml_number(file, node["min"], "min"));
  }
  if (node["max"]) {
    ECUUP_ASSIGN(l.max, yaml_number(file, node["max"], "max"));
  }
  if (l.min && l.max && *l.min > *l.max) return config_error_at(file, node["max"], "'max' is below 'min'");
  if (node["equals"] && node["one_of"]) return config_error_at(file, node["one_of"], "give 'equals' or 'one_of', not both");
  if (YAML::Node equals = node["equals"]) {
    ECUUP_ASSIGN(double v, limit_value(file, equals, p));
    l.one_of.push_back(v);
  }
  if (YAML::Node one_of = node["one_of"]) {
    if (!one_of.IsSequence() || one_of.size() == 0) return config_error_at(file, one_of, "'one_of' must be a non-empty list");
    for (const auto& item : one_of) {
      ECUUP_ASSIGN(double v, limit_value(file, item, p));
      l.one_of.push_back(v);
    }
  }
  if (!l.min && !l.max && l.one_of.empty())
    return config_error_at(file, node, "a DID check needs 'min', 'max', 'equals' or 'one_of'");
  return success();
}

Result<void> parse_routine(const fs::path& file, const YAML::Node& node, Precondition& p) {
  p.kind = PreconditionKind::routine;
  ECUUP_ASSIGN(p.routine, yaml_id16(file, node, "routine"));
  // ISO 14229-1 runs checkProgrammingPreconditions in the extended session, before programming.
  p.session = k_extended_session;
  if (node["session"]) {
    ECUUP_ASSIGN(p.session, parse_session(file, node));
  }
  ECUUP_ASSIGN(p.option_record, yaml_hex(file, node, "option"));
  ECUUP_ASSIGN(p.expect, yaml_hex(file, node, "expect"));
  if (YAML::Node codes = node["codes"]) {
    if (!codes.IsMap()) return config_error_at(file, codes, "'codes' must map status bytes to names (0x01: engine running)");
    for (const auto& entry : codes) {
      long long code = 0;
      if (!YAML::convert<long long>::decode(entry.first, code) || code < 0 || code > 0xFF)
        return config_error_at(file, entry.first, "a key under 'codes' must be a byte 0x00..0xFF");
      if (!entry.second.IsScalar() || entry.second.Scalar().empty())
        return config_error_at(file, entry.second, "a name under 'codes' must be a non-empty string");
      p.codes[static_cast<std::uint8_t>(code)] = entry.second.Scalar();
    }
  }
  return success();
}

Result<void> parse_command(const fs::path& file, const YAML::Node& node, Precondition& p) {
  p.kind = PreconditionKind::command;
  ECUUP_ASSIGN(p.command, yaml_string(file, node, "command"));
  if (p.command.empty()) return config_error_at(file, node["command"], "'command' must not be empty");
  ECUUP_ASSIGN(long long timeout, yaml_int(file, node, "timeout_s", 30, 1, k_max_timeout_s));
  p.timeout = std::chrono::seconds(timeout);
  p.work_dir = file.has_parent_path() ? fs::absolute(file).parent_path() : fs::current_path();
  return success();
}

}  // namespace

const char* precondition_kind_name(PreconditionKind kind) {
  switch (kind) {
    case PreconditionKind::did: return "did";
    case PreconditionKind::routine: return "routine";
    case PreconditionKind::command: return "command";
  }
  return "?";
}

Result<std::vector<Precondition>> parse_preconditions(const fs::path& file, const YAML::Node& list,
                                                      const std::string& driver) {
  std::vector<Precondition> out;
  if (!list) return out;
  if (!list.IsSequence())
    return config_error_at(file, list, "'preconditions' must be a list of checks (did:, routine: or command:)");
  for (const auto& node : list) {
    if (!node.IsMap()) return config_error_at(file, node, "a precondition must be a mapping with did:, routine: or command:");
    const int kinds = (node["did"] ? 1 : 0) + (node["routine"] ? 1 : 0) + (node["command"] ? 1 : 0);
    if (kinds != 1)
      return config_error_at(file, node, "a precondition needs exactly one of 'did', 'routine' or 'command'");
    Precondition p;
    p.line = node.Mark().line + 1;
    const std::string none;
    ECUUP_ASSIGN(p.name, yaml_string(file, node, "name", &none));
    ECUUP_ASSIGN(p.hint, yaml_string(file, node, "hint", &none));
    if (node["did"] || node["routine"]) {
      // Only a diagnostic driver can read a DID or start a routine; a vendor tool or an image file cannot.
      if (driver != "uds")
        return config_error_at(file, node, fmt::format("a {} precondition needs driver 'uds' (driver '{}' runs only "
                                                       "'command:' checks)", node["did"] ? "DID" : "routine", driver));
    }
    if (node["did"]) {
      ECUUP_TRY(yaml_known_keys(file, node, keys_of(k_did_keys)));
      ECUUP_TRY(parse_did(file, node, p));
      if (p.name.empty()) p.name = fmt::format("DID 0x{:04X}", p.did);
    } else if (node["routine"]) {
      ECUUP_TRY(yaml_known_keys(file, node, keys_of(k_routine_keys)));
      ECUUP_TRY(parse_routine(file, node, p));
      if (p.name.empty()) p.name = fmt::format("routine 0x{:04X}", p.routine);
    } else {
      ECUUP_TRY(yaml_known_keys(file, node, keys_of(k_command_keys)));
      ECUUP_TRY(parse_command(file, node, p));
      if (p.name.empty()) p.name = p.command;
    }
    for (const auto& other : out)
      if (other.name == p.name)
        return config_error_at(file, node, fmt::format("duplicate precondition name '{}'", p.name));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace ecuup
