#pragma once
// ecuup.yaml, written by people (ecuup-config(5)). Every error names file:line:col.
#include <chrono>
#include <filesystem>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/precondition.hpp"
#include "util/result.hpp"

namespace ecuup {

struct ServerConfig {
  std::string kind = "dir";  // dir | ddi
  std::filesystem::path path;  // dir: the repository directory
  std::string url;             // ddi: server base URL, e.g. https://hawkbit.example:8443
  std::string tenant = "DEFAULT";
  std::string token_kind = "target";  // target | gateway
  std::string token_env;              // name of an environment variable holding the token
  std::filesystem::path token_file;   // or a file holding it
  std::filesystem::path ca_file;
  std::filesystem::path client_cert;
  std::filesystem::path client_key;
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::seconds low_speed_timeout{30};
  long low_speed_limit_bps = 1024;  // slower than this for low_speed_timeout: dropped (slow retrieval)
  int max_attempts = 4;
  bool allow_sha1 = false;  // accept artifacts whose server gives only a sha1 (hawkBit may omit sha256)
  std::map<std::string, std::string> attributes;  // extra configData (e.g. VIN)
};

struct EcuConfig {
  std::string name;
  std::string part;    // the server's name for this ECU; defaults to `name`
  std::string driver;  // image | command | uds
  int order = 0;       // flash order; equal order may run in parallel
  YAML::Node settings; // the driver's own section (key named after the driver), marks kept
  std::filesystem::path config_file;  // for file:line:col in driver errors
  std::string hardware;  // the hardware part number, for drivers that cannot read one from the ECU
  std::chrono::seconds flash_timeout{600};
  std::vector<Precondition> preconditions;  // checked before a flash touches the ECU
};

// What a failed flash puts back: the failing ECU only, or every ECU flashed in that run too.
enum class Rollback { ecu, vehicle };
const char* rollback_name(Rollback r);
std::optional<Rollback> parse_rollback(const std::string& text);

struct Config {
  std::filesystem::path file;      // the config file itself
  std::filesystem::path base_dir;  // its directory; relative paths resolve against it
  std::string vehicle_id;          // DDI controller id
  // The vehicle's VIN (17 characters) when the config names one: every step checks it against the
  // vehicle answering (F190 of the first uds ECU) before it touches anything. Empty: no check.
  std::string vin;
  ServerConfig server;
  std::filesystem::path state_dir;  // manifest.yaml, downloads/, backups/
  int backup_keep = 2;
  bool allow_downgrade = false;
  Rollback rollback = Rollback::ecu;
  // `trust: {keyring: FILE|DIR}`: only targets with a release statement signed by one of these
  // X.509 anchors are accepted. Empty: no signatures are asked for (sha256 still is).
  std::filesystem::path trust_keyring;
  std::vector<EcuConfig> ecus;

  const EcuConfig* find_ecu(const std::string& name) const;
  std::filesystem::path manifest_path() const { return state_dir / "manifest.yaml"; }
};

// Parses and validates; Errc::config with "file:line:col: message" on any problem.
Result<Config> load_config(const std::filesystem::path& file);
Result<Config> parse_config(const std::string& text, const std::filesystem::path& file);

// "file:line:col: message" for an error at `node` (yaml-cpp marks are 0-based).
Error config_error_at(const std::filesystem::path& file, const YAML::Node& node, const std::string& message);
Error config_error_at(const std::filesystem::path& file, const YAML::Mark& mark, const std::string& message);

// Helpers for drivers reading their own section, each failing with file:line:col.
Result<std::string> yaml_string(const std::filesystem::path& file, const YAML::Node& map, const std::string& key,
                                const std::string* fallback = nullptr);
Result<long long> yaml_int(const std::filesystem::path& file, const YAML::Node& map, const std::string& key,
                           long long fallback, long long min, long long max);
Result<bool> yaml_bool(const std::filesystem::path& file, const YAML::Node& map, const std::string& key,
                       bool fallback);
// Rejects keys outside `allowed` ("unknown key 'x' (expected one of: a, b)").
Result<void> yaml_known_keys(const std::filesystem::path& file, const YAML::Node& map,
                             const std::vector<std::string>& allowed);

}  // namespace ecuup
