#include "sim/tools.hpp"

#include "sim/control.hpp"
#include "sim/fault.hpp"
#include "sim/flash_store.hpp"
#include "sim/toy_key.hpp"
#include "util/bytes.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

namespace ecuup::sim {

namespace {

constexpr std::uint64_t k_max_level = 0xFF;
constexpr std::string_view k_all_ecus = "*";

}  // namespace

Result<std::string> toy_key_hex(const std::string& level_text, const std::string& seed_hex) {
  auto level = parse_number(level_text);
  if (!level || *level > k_max_level) return make_error(Errc::usage, "LEVEL must be a byte (the requestSeed sub-function)");
  auto seed = from_hex(seed_hex);
  if (!seed) return make_error(Errc::usage, "SEEDHEX: " + seed.error().message);
  return to_hex(toy_key(static_cast<std::uint8_t>(*level), *seed));
}

Result<void> make_image(const MkimageOptions& o) {
  if (o.version.empty() || o.version.size() > k_sw_image_version_max)
    return make_error(Errc::usage, "--version must be 1..32 characters");
  if (o.size.has_value() == !o.payload.empty()) return make_error(Errc::usage, "give exactly one of --size and --payload");
  Bytes payload;
  if (o.size) {
    payload = pattern_bytes(*o.size, o.seed);
  } else {
    ECUUP_ASSIGN(payload, read_binary_file(o.payload));
  }
  return write_file_atomic(o.output, make_sw_image(o.version, payload));
}

Result<void> dump_flash(const DumpOptions& o) {
  ECUUP_ASSIGN(auto regions, list_flash_files(std::filesystem::path(o.state_dir) / o.ecu));
  const DumpRegion* chosen = &regions.front();
  if (o.address) {
    chosen = nullptr;
    for (const auto& r : regions)
      if (r.address == *o.address) chosen = &r;
    if (!chosen) return make_error(Errc::not_found, "ecu " + o.ecu + ": no memory region starts at the given --address");
  }
  ECUUP_ASSIGN(auto memory, read_binary_file(chosen->path));
  if (o.image_only) {
    if (memory.size() < k_sw_image_header_size)
      return make_error(Errc::verify, "ecu " + o.ecu + ": region too small for an image header");
    auto info = parse_sw_image_header(ByteView(memory).first(k_sw_image_header_size));
    if (!info) return std::move(info).error().context("ecu " + o.ecu + ": no image in flash");
    std::size_t length = k_sw_image_header_size + info->payload_size;
    if (length > memory.size()) return make_error(Errc::verify, "ecu " + o.ecu + ": image header claims more than the region");
    memory.resize(length);
  }
  return write_file_atomic(o.output, ByteView(memory));
}

// One request per ECU through the running simulator's control socket (control.hpp).
Result<void> power_cut(const PowerCutOptions& o) {
  if (o.all == !o.ecus.empty()) return make_error(Errc::usage, "give --ecu NAME (repeatable) or --all");
  std::vector<std::string> targets = o.all ? std::vector<std::string>{std::string(k_all_ecus)} : o.ecus;
  for (const auto& ecu : targets) {
    ECUUP_ASSIGN(std::string reply, control_request(o.state_dir, "power-cut " + ecu + " " + std::to_string(o.ms)));
    if (reply != "ok") {
      std::string message = reply.rfind("error ", 0) == 0 ? reply.substr(6) : reply;
      return make_error(Errc::usage, "power-cut: " + message);
    }
  }
  return success();
}

}  // namespace ecuup::sim
