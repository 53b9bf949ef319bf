#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/version.hpp"

namespace ecuup {

namespace fs = std::filesystem;

Error config_error_at(const fs::path& file, const YAML::Mark& mark, const std::string& message) {
  if (mark.is_null()) return make_error(Errc::config, fmt::format("{}: {}", file.string(), message));
  return make_error(Errc::config, fmt::format("{}:{}:{}: {}", file.string(), mark.line + 1, mark.column + 1, message));
}

Error config_error_at(const fs::path& file, const YAML::Node& node, const std::string& message) {
  return config_error_at(file, node.Mark(), message);
}

Result<std::string> yaml_string(const fs::path& file, const YAML::Node& map, const std::string& key,
                                const std::string* fallback) {
  YAML::Node node = map[key];
  if (!node) {
    if (fallback) return *fallback;
    return config_error_at(file, map, fmt::format("missing required key '{}'", key));
  }
  if (!node.IsScalar()) return config_error_at(file, node, fmt::format("'{}' must be a string", key));
  return node.Scalar();
}

Result<long long> yaml_int(const fs::path& file, const YAML::Node& map, const std::string& key, long long fallback,
                           long long min, long long max) {
  YAML::Node node = map[key];
  if (!node) return fallback;
  long long value = 0;
  if (!node.IsScalar() || !YAML::convert<long long>::decode(node, value))
    return config_error_at(file, node, fmt::format("'{}' must be an integer", key));
  if (value < min || value > max)
    return config_error_at(file, node, fmt::format("'{}' must be between {} and {}", key, min, max));
  return value;
}

Result<bool> yaml_bool(const fs::path& file, const YAML::Node& map, const std::string& key, bool fallback) {
  YAML::Node node = map[key];
  if (!node) return fallback;
  bool value = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, value))
    return config_error_at(file, node, fmt::format("'{}' must be true or false", key));
  return value;
}

Result<void> yaml_known_keys(const fs::path& file, const YAML::Node& map, const std::vector<std::string>& allowed) {
  if (!map.IsMap()) return config_error_at(file, map, "expected a mapping");
  for (const auto& entry : map) {
    std::string key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return config_error_at(file, entry.first, fmt::format("unknown key '{}' (expected one of: {})", key, list));
    }
  }
  return success();
}

const char* rollback_name(Rollback r) { return r == Rollback::vehicle ? "vehicle" : "ecu"; }

std::optional<Rollback> parse_rollback(const std::string& text) {
  if (text == "ecu") return Rollback::ecu;
  if (text == "vehicle") return Rollback::vehicle;
  return std::nullopt;
}

const EcuConfig* Config::find_ecu(const std::string& name) const {
  for (const auto& ecu : ecus)
    if (ecu.name == name) return &ecu;
  return nullptr;
}

namespace {

const std::vector<std::string> k_drivers = {"image", "command", "uds"};

fs::path resolve(const fs::path& base, const std::string& value) {
  if (value.empty()) return {};
  fs::path p(value);
  return p.is_absolute() ? p : (base / p).lexically_normal();
}

Result<void> parse_server(const fs::path& file, const fs::path& base, const YAML::Node& node, ServerConfig& out) {
  ECUUP_TRY(yaml_known_keys(file, node,
                            {"kind", "path", "url", "tenant", "token_kind", "token_env", "token_file", "ca_file",
                             "client_cert", "client_key", "verify_tls", "connect_timeout_ms", "low_speed_timeout_s",
                             "low_speed_limit_bps", "max_attempts", "allow_sha1", "attributes"}));
  ECUUP_ASSIGN(out.kind, yaml_string(file, node, "kind"));
  if (out.kind == "dir") {
    ECUUP_ASSIGN(std::string path, yaml_string(file, node, "path"));
    out.path = resolve(base, path);
  } else if (out.kind == "ddi") {
    ECUUP_ASSIGN(out.url, yaml_string(file, node, "url"));
    if (out.url.rfind("http://", 0) != 0 && out.url.rfind("https://", 0) != 0)
      return config_error_at(file, node["url"], "'url' must start with http:// or https://");
    while (!out.url.empty() && out.url.back() == '/') out.url.pop_back();
  } else {
    return config_error_at(file, node["kind"], fmt::format("unknown server kind '{}' (expected dir or ddi)", out.kind));
  }
  std::string def_tenant = "DEFAULT", def_kind = "target", empty;
  ECUUP_ASSIGN(out.tenant, yaml_string(file, node, "tenant", &def_tenant));
  ECUUP_ASSIGN(out.token_kind, yaml_string(file, node, "token_kind", &def_kind));
  if (out.token_kind != "target" && out.token_kind != "gateway")
    return config_error_at(file, node["token_kind"], "'token_kind' must be target or gateway");
  ECUUP_ASSIGN(out.token_env, yaml_string(file, node, "token_env", &empty));
  ECUUP_ASSIGN(std::string token_file, yaml_string(file, node, "token_file", &empty));
  out.token_file = resolve(base, token_file);
  ECUUP_ASSIGN(std::string ca, yaml_string(file, node, "ca_file", &empty));
  out.ca_file = resolve(base, ca);
  ECUUP_ASSIGN(std::string cert, yaml_string(file, node, "client_cert", &empty));
  out.client_cert = resolve(base, cert);
  ECUUP_ASSIGN(std::string key, yaml_string(file, node, "client_key", &empty));
  out.client_key = resolve(base, key);
  ECUUP_ASSIGN(out.verify_tls, yaml_bool(file, node, "verify_tls", true));
  ECUUP_ASSIGN(long long connect_ms, yaml_int(file, node, "connect_timeout_ms", 10000, 1, 600000));
  out.connect_timeout = std::chrono::milliseconds(connect_ms);
  ECUUP_ASSIGN(long long low_speed, yaml_int(file, node, "low_speed_timeout_s", 30, 1, 3600));
  out.low_speed_timeout = std::chrono::seconds(low_speed);
  ECUUP_ASSIGN(out.low_speed_limit_bps, yaml_int(file, node, "low_speed_limit_bps", 1024, 1, 1LL << 30));
  ECUUP_ASSIGN(long long attempts, yaml_int(file, node, "max_attempts", 4, 1, 100));
  out.max_attempts = static_cast<int>(attempts);
  ECUUP_ASSIGN(out.allow_sha1, yaml_bool(file, node, "allow_sha1", false));
  if (YAML::Node attrs = node["attributes"]) {
    if (!attrs.IsMap()) return config_error_at(file, attrs, "'attributes' must be a mapping of names to strings");
    for (const auto& a : attrs) {
      if (!a.second.IsScalar()) return config_error_at(file, a.second, "attribute values must be strings");
      out.attributes[a.first.Scalar()] = a.second.Scalar();
    }
  }
  return success();
}

Result<EcuConfig> parse_ecu(const fs::path& file, const YAML::Node& node) {
  if (!node.IsMap()) return config_error_at(file, node, "each ECU must be a mapping with at least 'name' and 'driver'");
  std::vector<std::string> keys = {"name", "part", "driver", "order", "flash_timeout_s", "hardware", "preconditions"};
  keys.insert(keys.end(), k_drivers.begin(), k_drivers.end());
  ECUUP_TRY(yaml_known_keys(file, node, keys));
  EcuConfig ecu;
  ecu.config_file = file;
  ECUUP_ASSIGN(ecu.name, yaml_string(file, node, "name"));
  auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'; };
  if (ecu.name.empty() || ecu.name[0] == '.' || ecu.name[0] == '-' || !std::all_of(ecu.name.begin(), ecu.name.end(), name_char))
    return config_error_at(file, node["name"], fmt::format("ECU name '{}' may only use letters, digits, '_', '.', '-'", ecu.name));
  ECUUP_ASSIGN(ecu.part, yaml_string(file, node, "part", &ecu.name));
  // The part names the ECU's software to the server; "" (or a bare tag) would match nothing.
  if (ecu.part.empty()) return config_error_at(file, node["part"], fmt::format("ECU '{}': 'part' must not be empty", ecu.name));
  ECUUP_ASSIGN(ecu.driver, yaml_string(file, node, "driver"));
  if (std::find(k_drivers.begin(), k_drivers.end(), ecu.driver) == k_drivers.end())
    return config_error_at(file, node["driver"], fmt::format("unknown driver '{}' (expected image, command or uds)", ecu.driver));
  ECUUP_ASSIGN(long long order, yaml_int(file, node, "order", 0, -1000000, 1000000));
  ecu.order = static_cast<int>(order);
  ECUUP_ASSIGN(long long timeout, yaml_int(file, node, "flash_timeout_s", 600, 1, 86400));
  ecu.flash_timeout = std::chrono::seconds(timeout);
  std::string no_hardware;
  ECUUP_ASSIGN(ecu.hardware, yaml_string(file, node, "hardware", &no_hardware));
  if (node["hardware"] && !check_version_text(ecu.hardware))
    return config_error_at(file, node["hardware"], "'hardware' must be 1 to 128 printable characters");
  for (const auto& d : k_drivers)
    if (d != ecu.driver && node[d])
      return config_error_at(file, node[d], fmt::format("section '{}' does not match driver '{}'", d, ecu.driver));
  // Test before assigning: yaml-cpp throws when an absent (invalid) node is assigned.
  YAML::Node settings = node[ecu.driver];
  if (!settings)
    return config_error_at(file, node, fmt::format("ECU '{}' uses driver '{}' but has no '{}:' section", ecu.name, ecu.driver, ecu.driver));
  if (!settings.IsMap()) return config_error_at(file, settings, fmt::format("'{}' must be a mapping", ecu.driver));
  ecu.settings = settings;
  ECUUP_ASSIGN(ecu.preconditions, parse_preconditions(file, node["preconditions"], ecu.driver));
  return ecu;
}

// ${NAME} and ${NAME:-DEFAULT} in a value take the environment's value; "$${" is a literal "${".
// A config reads what `ecuup-sim --ports-file` wrote, or a bench's own variables, this way.
Result<std::string> expand_value(const std::string& value, const fs::path& file, const YAML::Node& node) {
  std::string out;
  for (std::size_t i = 0; i < value.size();) {
    if (value.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (value.compare(i, 2, "${") != 0) {
      out += value[i++];
      continue;
    }
    const std::size_t close = value.find('}', i + 2);
    if (close == std::string::npos) return config_error_at(file, node, "'${' without its '}' (write '$${' for a literal '${')");
    const std::string inner = value.substr(i + 2, close - i - 2);
    const std::size_t dash = inner.find(":-");
    const std::string name = inner.substr(0, dash);
    const bool named = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0])) &&
                       std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    if (!named) return config_error_at(file, node, fmt::format("'${{{}}}' does not name an environment variable", inner));
    const char* set = std::getenv(name.c_str());
    if (set && *set) {
      out += set;
    } else if (dash != std::string::npos) {
      out += inner.substr(dash + 2);
    } else {
      return config_error_at(file, node, fmt::format("${{{}}} is not set: export it, or give a default (${{{}:-VALUE}})", name, name));
    }
    i = close + 1;
  }
  return out;
}

Result<void> expand_environment(YAML::Node node, const fs::path& file) {
  if (node.IsScalar()) {
    if (node.Scalar().find("${") == std::string::npos) return success();
    ECUUP_ASSIGN(std::string value, expand_value(node.Scalar(), file, node));
    node = value;
  } else if (node.IsSequence()) {
    for (auto item : node) ECUUP_TRY(expand_environment(item, file));
  } else if (node.IsMap()) {
    for (auto kv : node) ECUUP_TRY(expand_environment(kv.second, file));
  }
  return success();
}

}  // namespace

Result<Config> parse_config(const std::string& text, const fs::path& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return config_error_at(file, e.mark, e.msg);
  }
  if (!root || root.IsNull()) return config_error_at(file, YAML::Mark(), "the config is empty");  // 1:1
  if (!root.IsMap()) return config_error_at(file, root, "the config must be a mapping (vehicle, server, ecus, ...)");
  ECUUP_TRY(expand_environment(root, file));
  ECUUP_TRY(yaml_known_keys(file, root, {"vehicle", "vin", "state_dir", "allow_downgrade", "rollback", "backups", "server", "trust", "ecus"}));

  Config config;
  config.file = file;
  config.base_dir = file.has_parent_path() ? fs::absolute(file).parent_path() : fs::current_path();
  ECUUP_ASSIGN(config.vehicle_id, yaml_string(file, root, "vehicle"));
  std::string no_vin;
  ECUUP_ASSIGN(config.vin, yaml_string(file, root, "vin", &no_vin));
  constexpr std::size_t k_vin_length = 17;  // ISO 3779
  if (root["vin"] && (config.vin.size() != k_vin_length ||
                      !std::all_of(config.vin.begin(), config.vin.end(), [](char c) { return c > ' ' && c < 0x7F; })))
    return config_error_at(file, root["vin"], fmt::format("'vin' must be 17 printable characters, not '{}'", config.vin));
  std::string def_state = "state";
  ECUUP_ASSIGN(std::string state, yaml_string(file, root, "state_dir", &def_state));
  config.state_dir = resolve(config.base_dir, state);
  ECUUP_ASSIGN(config.allow_downgrade, yaml_bool(file, root, "allow_downgrade", false));
  if (YAML::Node r = root["rollback"]) {
    std::string def = "ecu";
    ECUUP_ASSIGN(std::string rollback_text, yaml_string(file, root, "rollback", &def));
    auto parsed = parse_rollback(rollback_text);
    if (!parsed) return config_error_at(file, r, fmt::format("rollback must be 'ecu' or 'vehicle', not '{}'", rollback_text));
    config.rollback = *parsed;
  }
  if (YAML::Node backups = root["backups"]) {
    ECUUP_TRY(yaml_known_keys(file, backups, {"keep"}));
    ECUUP_ASSIGN(long long keep, yaml_int(file, backups, "keep", 2, 1, 100));
    config.backup_keep = static_cast<int>(keep);
  }
  if (YAML::Node trust = root["trust"]) {
    if (!trust.IsMap()) return config_error_at(file, trust, "'trust' must be a mapping with 'keyring'");
    ECUUP_TRY(yaml_known_keys(file, trust, {"keyring"}));
    ECUUP_ASSIGN(std::string keyring, yaml_string(file, trust, "keyring"));
    if (keyring.empty()) return config_error_at(file, trust, "'trust' needs 'keyring': a PEM file or a directory of CA certificates");
    config.trust_keyring = resolve(config.base_dir, keyring);
  }
  if (!root["server"]) return config_error_at(file, root, "missing required key 'server'");
  ECUUP_TRY(parse_server(file, config.base_dir, root["server"], config.server));

  YAML::Node ecus = root["ecus"];
  if (!ecus) return config_error_at(file, root, "missing required key 'ecus' (a list of ECUs)");
  if (!ecus.IsSequence() || ecus.size() == 0)
    return config_error_at(file, ecus, "'ecus' must be a non-empty list");
  for (const auto& node : ecus) {
    ECUUP_ASSIGN(EcuConfig ecu, parse_ecu(file, node));
    if (config.find_ecu(ecu.name))
      return config_error_at(file, node["name"], fmt::format("duplicate ECU name '{}'", ecu.name));
    for (const auto& other : config.ecus)
      if (other.part == ecu.part)
        return config_error_at(file, node, fmt::format("ECUs '{}' and '{}' have the same part '{}'", other.name, ecu.name, ecu.part));
    config.ecus.push_back(std::move(ecu));
  }
  // The VIN is read over UDS (F190): some ECU must speak it.
  if (!config.vin.empty() &&
      std::none_of(config.ecus.begin(), config.ecus.end(), [](const EcuConfig& e) { return e.driver == "uds"; }))
    return config_error_at(file, root["vin"], "'vin' is checked with UDS (DID F190): it needs at least one ECU with driver uds");
  return config;
}

Result<Config> load_config(const fs::path& file) {
  auto text = read_text_file(file);
  if (!text) {
    Error e = std::move(text).error();
    return make_error(Errc::config, "cannot read config: " + e.message);
  }
  return parse_config(*text, file);
}

}  // namespace ecuup
