#include "sim/sim_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <random>
#include <set>

#include "transport/doip_discovery.hpp"
#include "util/fs.hpp"

namespace ecuup::sim {

namespace {

// ISO-TP classic first frames carry a 12-bit length: 4095 bytes per message without the escape.
constexpr std::uint32_t k_default_can_block_length = 0x0FFF;
constexpr std::uint32_t k_default_doip_block_length = 4096 + 2;
constexpr std::uint32_t k_min_block_length = 3;  // SID + counter + one data byte
constexpr std::uint32_t k_max_standard_can_id = 0x7FF;
constexpr std::uint32_t k_max_extended_can_id = 0x1FFFFFFF;
constexpr std::uint32_t k_max_security_level = 0x41;  // requestSeed sub-functions 0x01..0x41 (ISO 14229-1)
constexpr std::uint32_t k_max_u16 = 0xFFFF;

class Parser {
 public:
  explicit Parser(std::string origin) : m_origin(std::move(origin)) {}

  Error error_at(const YAML::Node& node, const std::string& what) const {
    auto mark = node.Mark();
    return make_error(Errc::config, m_origin + ":" + std::to_string(mark.line + 1) + ":" +
                                        std::to_string(mark.column + 1) + ": " + what);
  }

  Result<void> check_keys(const YAML::Node& map, std::initializer_list<const char*> allowed, const std::string& where) const {
    if (!map.IsMap()) return error_at(map, where + " must be a mapping");
    for (const auto& kv : map) {
      auto key = kv.first.Scalar();
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }))
        return error_at(kv.first, "unknown key '" + key + "' in " + where);
    }
    return success();
  }

  Result<std::uint32_t> number(const YAML::Node& node, const std::string& what, std::uint64_t max = 0xFFFFFFFFu) const {
    if (!node.IsScalar()) return error_at(node, what + " must be a number");
    auto n = parse_number(node.Scalar());
    if (!n) return error_at(node, what + ": " + n.error().message);
    if (*n > max) return error_at(node, what + " is too large (max " + std::to_string(max) + ")");
    return *n;
  }

  Result<std::string> string(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) return error_at(node, what + " must be a string");
    return node.Scalar();
  }

  Result<bool> boolean(const YAML::Node& node, const std::string& what) const {
    if (node.IsScalar()) {
      const auto& s = node.Scalar();
      if (s == "true" || s == "yes") return true;
      if (s == "false" || s == "no") return false;
    }
    return error_at(node, what + " must be true or false");
  }

  Result<DidConfig> did(const YAML::Node& key, const YAML::Node& value) const {
    DidConfig did;
    // DIDs are written in hex without 0x ("F190"), as in every UDS document.
    auto id = parse_number("0x" + key.Scalar());
    if (!id || *id > 0xFFFF) return error_at(key, "DID '" + key.Scalar() + "' must be 4 hex digits");
    did.id = static_cast<std::uint16_t>(*id);
    const std::string what = "DID " + key.Scalar();
    if (did.id == 0xF189) return error_at(key, "F189 comes from the image header in flash; do not configure it");
    if (value.IsScalar()) {
      auto s = value.Scalar();
      did.value.assign(s.begin(), s.end());
      return did;
    }
    ECUUP_TRY(check_keys(value, {"ascii", "hex", "writable"}, what));
    if (value["ascii"] && value["hex"]) return error_at(value, what + ": give ascii or hex, not both");
    if (value["ascii"]) {
      ECUUP_ASSIGN(auto s, string(value["ascii"], what + " ascii"));
      did.value.assign(s.begin(), s.end());
    } else if (value["hex"]) {
      ECUUP_ASSIGN(auto s, string(value["hex"], what + " hex"));
      auto bytes = from_hex(s);
      if (!bytes) return error_at(value["hex"], what + ": " + bytes.error().message);
      did.value = std::move(*bytes);
    } else {
      return error_at(value, what + ": needs ascii or hex");
    }
    if (value["writable"]) { ECUUP_ASSIGN(did.writable, boolean(value["writable"], what + " writable")); }
    return did;
  }

  Result<EcuConfig> ecu(const YAML::Node& node) const {
    ECUUP_TRY(check_keys(node, {"name", "doip_address", "doip_port", "can", "dids", "memory", "initial_image", "security_levels",
                                "programming_level", "security_attempts", "timing", "max_block_length",
                                "programming_from_default", "boot_marker", "faults", "sbl", "compression"},
                         "ecu"));
    EcuConfig ecu;
    if (!node["name"]) return error_at(node, "ecu needs a name");
    ECUUP_ASSIGN(ecu.name, string(node["name"], "name"));
    if (ecu.name.empty() || ecu.name.find_first_of(":/ \t") != std::string::npos)
      return error_at(node["name"], "ecu name '" + ecu.name + "' must be non-empty without ':', '/' or blanks");
    const std::string where = "ecu " + ecu.name;
    if (auto a = node["doip_address"]) {
      ECUUP_ASSIGN(auto addr, number(a, where + " doip_address", k_max_u16));
      ecu.doip_address = static_cast<std::uint16_t>(addr);
    }
    if (auto p = node["doip_port"]) {
      if (!ecu.doip_address) return error_at(p, where + ": doip_port needs doip_address");
      ECUUP_ASSIGN(auto port, number(p, where + " doip_port", k_max_u16));
      ecu.doip_port = static_cast<std::uint16_t>(port);
    }
    if (auto c = node["can"]) {
      ECUUP_TRY(check_keys(c, {"request_id", "response_id", "extended", "fd"}, where + " can"));
      CanIds ids;
      if (c["extended"]) { ECUUP_ASSIGN(ids.extended, boolean(c["extended"], where + " can extended")); }
      if (c["fd"]) { ECUUP_ASSIGN(ids.fd, boolean(c["fd"], where + " can fd")); }
      std::uint32_t id_max = ids.extended ? k_max_extended_can_id : k_max_standard_can_id;
      if (!c["request_id"] || !c["response_id"]) return error_at(c, where + " can needs request_id and response_id");
      ECUUP_ASSIGN(ids.request_id, number(c["request_id"], where + " can request_id", id_max));
      ECUUP_ASSIGN(ids.response_id, number(c["response_id"], where + " can response_id", id_max));
      ecu.can = ids;
    }
    if (!ecu.doip_address && !ecu.can) return error_at(node, where + ": needs doip_address and/or can");
    if (auto d = node["dids"]) {
      if (!d.IsMap()) return error_at(d, where + " dids must be a mapping DID: value");
      for (const auto& kv : d) {
        ECUUP_ASSIGN(auto did, this->did(kv.first, kv.second));
        ecu.dids.push_back(std::move(did));
      }
    }
    if (auto m = node["memory"]) {
      if (!m.IsSequence()) return error_at(m, where + " memory must be a list of {address, size}");
      for (const auto& r : m) {
        ECUUP_TRY(check_keys(r, {"address", "size"}, where + " memory region"));
        MemoryRegion region;
        if (!r["address"] || !r["size"]) return error_at(r, where + " memory region needs address and size");
        ECUUP_ASSIGN(region.address, number(r["address"], "address"));
        ECUUP_ASSIGN(region.size, number(r["size"], "size", 256u * 1024 * 1024));
        if (region.size == 0) return error_at(r["size"], "memory region size must not be 0");
        if (std::uint64_t{region.address} + region.size > 0x100000000ull)
          return error_at(r, "memory region goes past 4 GiB");
        for (const auto& other : ecu.memory)
          if (region.address < other.address + std::uint64_t{other.size} && other.address < region.address + std::uint64_t{region.size})
            return error_at(r, "memory regions overlap");
        ecu.memory.push_back(region);
      }
    }
    if (ecu.memory.empty()) ecu.memory.push_back(MemoryRegion{0x00000000, 1024 * 1024});
    if (auto i = node["initial_image"]) {
      ECUUP_TRY(check_keys(i, {"version", "size"}, where + " initial_image"));
      InitialImage image;
      if (!i["version"]) return error_at(i, where + " initial_image needs a version");
      ECUUP_ASSIGN(image.version, string(i["version"], "initial_image version"));
      if (image.version.empty() || image.version.size() > 32) return error_at(i["version"], "version must be 1..32 characters");
      if (i["size"]) { ECUUP_ASSIGN(image.size, number(i["size"], "initial_image size")); }
      if (std::uint64_t{image.size} + 64 > ecu.memory.front().size)
        return error_at(i, "initial_image does not fit the first memory region");
      ecu.initial_image = image;
    }
    if (auto s = node["security_levels"]) {
      if (!s.IsSequence() || s.size() == 0) return error_at(s, where + " security_levels must be a non-empty list");
      ecu.security_levels.clear();
      for (const auto& l : s) {
        ECUUP_ASSIGN(auto level, number(l, "security level", k_max_security_level));
        if (level % 2 == 0 || level == 0) return error_at(l, "security levels are the odd requestSeed sub-functions 0x01..0x41");
        ecu.security_levels.push_back(static_cast<std::uint8_t>(level));
      }
      ecu.programming_level = ecu.security_levels.front();
    }
    if (auto p = node["programming_level"]) {
      ECUUP_ASSIGN(auto level, number(p, "programming_level", k_max_security_level));
      if (std::find(ecu.security_levels.begin(), ecu.security_levels.end(), level) == ecu.security_levels.end())
        return error_at(p, "programming_level must be one of security_levels");
      ecu.programming_level = static_cast<std::uint8_t>(level);
    }
    if (auto a = node["security_attempts"]) { ECUUP_ASSIGN(ecu.security_attempts, number(a, "security_attempts", 255)); }
    if (auto t = node["timing"]) {
      ECUUP_TRY(check_keys(t, {"erase_time_ms", "write_bytes_per_s", "reset_time_ms", "s3_timeout_ms", "p2_ms",
                               "p2_star_ms", "security_delay_ms", "boot_time_ms", "boot_security_delay_ms"},
                           where + " timing"));
      auto& tm = ecu.timing;
      if (t["erase_time_ms"]) { ECUUP_ASSIGN(tm.erase_time_ms, number(t["erase_time_ms"], "erase_time_ms")); }
      if (t["write_bytes_per_s"]) { ECUUP_ASSIGN(tm.write_bytes_per_s, number(t["write_bytes_per_s"], "write_bytes_per_s")); }
      if (t["reset_time_ms"]) { ECUUP_ASSIGN(tm.reset_time_ms, number(t["reset_time_ms"], "reset_time_ms")); }
      if (t["s3_timeout_ms"]) { ECUUP_ASSIGN(tm.s3_timeout_ms, number(t["s3_timeout_ms"], "s3_timeout_ms")); }
      if (t["p2_ms"]) { ECUUP_ASSIGN(tm.p2_ms, number(t["p2_ms"], "p2_ms", k_max_u16)); }
      if (t["p2_star_ms"]) { ECUUP_ASSIGN(tm.p2_star_ms, number(t["p2_star_ms"], "p2_star_ms", k_max_u16 * 10)); }
      if (t["security_delay_ms"]) { ECUUP_ASSIGN(tm.security_delay_ms, number(t["security_delay_ms"], "security_delay_ms")); }
      if (t["boot_time_ms"]) { ECUUP_ASSIGN(tm.boot_time_ms, number(t["boot_time_ms"], "boot_time_ms")); }
      if (t["boot_security_delay_ms"]) {
        ECUUP_ASSIGN(tm.boot_security_delay_ms, number(t["boot_security_delay_ms"], "boot_security_delay_ms"));
      }
    }
    if (auto b = node["max_block_length"]) {
      ECUUP_ASSIGN(ecu.max_block_length, number(b, "max_block_length", k_max_u16));
      if (ecu.max_block_length < k_min_block_length) return error_at(b, "max_block_length must be at least 3");
      if (ecu.can && !ecu.can->fd && ecu.max_block_length > k_default_can_block_length)
        return error_at(b, "max_block_length over 4095 needs ISO-TP's 32-bit length escape; keep it <= 0x0FFF on CAN");
    }
    if (auto p = node["programming_from_default"]) { ECUUP_ASSIGN(ecu.programming_from_default, boolean(p, "programming_from_default")); }
    if (auto b = node["boot_marker"]) { ECUUP_ASSIGN(ecu.boot_marker, string(b, "boot_marker")); }
    if (auto c = node["compression"]) {
      ECUUP_ASSIGN(auto method, string(c, "compression"));
      if (method != "zlib" && method != "none") return error_at(c, where + " compression must be 'zlib' or 'none'");
      ecu.compression = method == "zlib";
    }
    if (auto b = node["sbl"]) {
      ECUUP_TRY(check_keys(b, {"address", "size", "routine", "required"}, where + " sbl"));
      if (!b["address"] || !b["size"]) return error_at(b, where + " sbl needs address and size (its RAM)");
      SblConfig sbl;
      ECUUP_ASSIGN(sbl.address, number(b["address"], "sbl address"));
      ECUUP_ASSIGN(sbl.size, number(b["size"], "sbl size", 16u * 1024 * 1024));
      if (sbl.size == 0) return error_at(b["size"], "sbl size must not be 0");
      if (std::uint64_t{sbl.address} + sbl.size > 0x100000000ull) return error_at(b, "sbl RAM goes past 4 GiB");
      for (const auto& region : ecu.memory)
        if (sbl.address < region.address + std::uint64_t{region.size} && region.address < sbl.address + std::uint64_t{sbl.size})
          return error_at(b, "sbl RAM overlaps a memory region");
      if (b["routine"]) {
        ECUUP_ASSIGN(auto routine, number(b["routine"], "sbl routine", k_max_u16));
        sbl.routine = static_cast<std::uint16_t>(routine);
      }
      if (b["required"]) { ECUUP_ASSIGN(sbl.required, boolean(b["required"], "sbl required")); }
      ecu.sbl = sbl;
    }
    if (auto f = node["faults"]) {
      if (!f.IsSequence()) return error_at(f, where + " faults must be a list of strings");
      for (const auto& item : f) {
        ECUUP_ASSIGN(auto text, string(item, "fault"));
        auto spec = parse_fault(text);
        if (!spec) return error_at(item, spec.error().message);
        ecu.faults.push_back(std::move(*spec));
      }
    }
    return ecu;
  }

  Result<SimConfig> config(const YAML::Node& root) const {
    ECUUP_TRY(check_keys(root, {"bus", "vin", "doip", "ecus"}, "the top level"));
    SimConfig config;
    if (root["bus"]) { ECUUP_ASSIGN(config.bus, string(root["bus"], "bus")); }
    if (root["vin"]) {
      ECUUP_ASSIGN(config.vin, string(root["vin"], "vin"));
      if (auto vin = doip::parse_vin(config.vin); !vin) return error_at(root["vin"], vin.error().message);
    }
    if (auto d = root["doip"]) {
      ECUUP_TRY(check_keys(d, {"port", "bind", "max_data_size", "eid", "gid", "announce", "power_mode"}, "doip"));
      if (d["power_mode"]) {
        ECUUP_ASSIGN(auto mode, string(d["power_mode"], "doip power_mode"));
        if (mode == "not_ready") config.doip_power_mode = doip::k_power_mode_not_ready;
        else if (mode == "ready") config.doip_power_mode = doip::k_power_mode_ready;
        else if (mode == "not_supported") config.doip_power_mode = doip::k_power_mode_not_supported;
        else return error_at(d["power_mode"], "doip power_mode: one of ready, not_ready, not_supported");
      }
      for (const char* key : {"eid", "gid"}) {
        if (!d[key]) continue;
        ECUUP_ASSIGN(auto text, string(d[key], std::string("doip ") + key));
        auto id = doip::parse_eid(text);
        if (!id) return error_at(d[key], std::string("doip ") + key + ": " + id.error().message);
        (std::string(key) == "eid" ? config.doip_eid : config.doip_gid) = *id;
      }
      if (d["announce"]) {
        ECUUP_ASSIGN(config.doip_announce, string(d["announce"], "doip announce"));
        if (config.doip_announce != "none") {
          if (auto to = doip::parse_udp_endpoint(config.doip_announce); !to)
            return error_at(d["announce"], "doip announce: " + to.error().message);
        }
      }
      if (d["port"]) {
        ECUUP_ASSIGN(auto port, number(d["port"], "doip port", k_max_u16));
        config.doip_port = static_cast<std::uint16_t>(port);
      }
      if (d["bind"]) { ECUUP_ASSIGN(config.doip_bind, string(d["bind"], "doip bind")); }
      if (d["max_data_size"]) { ECUUP_ASSIGN(config.doip_max_data_size, number(d["max_data_size"], "doip max_data_size")); }
    }
    auto ecus = root["ecus"];
    if (!ecus || !ecus.IsSequence() || ecus.size() == 0) return error_at(root, "needs 'ecus:', a non-empty list");
    std::set<std::string> names;
    std::set<std::uint16_t> doip_addresses;
    std::set<std::uint32_t> can_ids;
    for (const auto& node : ecus) {
      ECUUP_ASSIGN(auto ecu, this->ecu(node));
      if (!names.insert(ecu.name).second) return error_at(node, "duplicate ecu name '" + ecu.name + "'");
      if (ecu.doip_address && !doip_addresses.insert(*ecu.doip_address).second)
        return error_at(node, "ecu " + ecu.name + ": doip_address used twice");
      if (ecu.can && !can_ids.insert(ecu.can->request_id).second)
        return error_at(node, "ecu " + ecu.name + ": can request_id used twice");
      config.ecus.push_back(std::move(ecu));
    }
    return config;
  }

 private:
  std::string m_origin;
};

}  // namespace

const EcuConfig* SimConfig::find(const std::string& name) const {
  for (const auto& ecu : ecus)
    if (ecu.name == name) return &ecu;
  return nullptr;
}

void complete_identity(SimConfig& config) {
  constexpr std::uint16_t k_vin_did = 0xF190;
  constexpr std::uint8_t k_locally_administered = 0x02;
  std::random_device random;
  if (config.vin.empty()) {
    config.vin = "ECUUPSIM";
    while (config.vin.size() < doip::k_vin_size) config.vin.push_back(static_cast<char>('0' + random() % 10));
  }
  if (!config.doip_eid) {
    std::array<std::uint8_t, 6> eid{};
    for (auto& b : eid) b = static_cast<std::uint8_t>(random());
    eid[0] = static_cast<std::uint8_t>((eid[0] & 0xFC) | k_locally_administered);  // unicast, not a vendor's
    config.doip_eid = eid;
  }
  if (!config.doip_gid) config.doip_gid = config.doip_eid;
  for (auto& ecu : config.ecus) {
    const bool has_vin = std::any_of(ecu.dids.begin(), ecu.dids.end(), [](const DidConfig& d) { return d.id == k_vin_did; });
    if (!has_vin) ecu.dids.push_back(DidConfig{k_vin_did, Bytes(config.vin.begin(), config.vin.end()), false});
  }
}

std::uint32_t effective_max_block_length(const EcuConfig& ecu) {
  if (ecu.max_block_length != 0) return ecu.max_block_length;
  return ecu.can ? k_default_can_block_length : k_default_doip_block_length;
}

Result<SimConfig> parse_sim_config(const std::string& yaml, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return make_error(Errc::config, origin + ":" + std::to_string(e.mark.line + 1) + ":" +
                                        std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  return Parser(origin).config(root);
}

Result<SimConfig> load_sim_config(const std::filesystem::path& path) {
  auto text = read_text_file(path);
  if (!text) return make_error(Errc::config, text.error().message);
  return parse_sim_config(*text, path.string());
}

}  // namespace ecuup::sim
