#include "sim/flash_store.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/fs.hpp"
#include "util/sw_image.hpp"

namespace ecuup::sim {

namespace fs = std::filesystem;

namespace {

Error errno_error(const std::string& what, const fs::path& path) {
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

Bytes pattern_bytes(std::size_t size, std::uint64_t seed) {
  Bytes out(size);
  std::uint64_t state = seed;
  for (std::size_t i = 0; i < size; i += 8) {
    state += 0x9E3779B97F4A7C15ull;
    std::uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    for (std::size_t j = 0; j < 8 && i + j < size; ++j) out[i + j] = static_cast<std::uint8_t>(z >> (8 * j));
  }
  return out;
}

Result<std::unique_ptr<FlashStore>> FlashStore::open(const fs::path& ecu_dir, const std::vector<MemoryRegion>& regions,
                                                     const std::optional<InitialImage>& initial) {
  std::unique_ptr<FlashStore> store(new FlashStore);
  store->m_dir = ecu_dir;
  ECUUP_TRY(ensure_directory(ecu_dir));
  bool fresh = !fs::exists(ecu_dir / "state.json");
  for (const auto& config : regions) {
    Region region;
    region.config = config;
    region.path = ecu_dir / fmt::format("flash-{:08X}.bin", config.address);
    region.fd = ::open(region.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (region.fd < 0) return errno_error("cannot open", region.path);
    store->m_regions.push_back(region);  // closed and unmapped by ~FlashStore from here on
    auto& r = store->m_regions.back();
    // What a previous run left is kept; a short or missing file is extended with erased bytes.
    struct stat st{};
    if (::fstat(r.fd, &st) != 0) return errno_error("cannot stat", r.path);
    const auto old_size = static_cast<std::size_t>(std::min<off_t>(st.st_size, config.size));
    if (static_cast<std::uint64_t>(st.st_size) != config.size && ::ftruncate(r.fd, static_cast<off_t>(config.size)) != 0)
      return errno_error("cannot resize", r.path);
    void* mapped = ::mmap(nullptr, config.size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
    if (mapped == MAP_FAILED) return errno_error("cannot map", r.path);
    r.data = static_cast<std::uint8_t*>(mapped);
    std::fill(r.data + old_size, r.data + config.size, k_erased_byte);
  }
  if (fresh) {
    // No state file: whatever region files lie around are stale; start from erased flash.
    for (auto& r : store->m_regions) ECUUP_TRY(store->erase(r.config.address, r.config.size));
    if (initial) {
      Bytes image = make_sw_image(initial->version, pattern_bytes(initial->size, 0xEC00));
      ECUUP_TRY(store->write(regions.front().address, image));
    }
    ECUUP_TRY(store->set_valid(initial.has_value()));
  } else {
    auto text = read_text_file(ecu_dir / "state.json");
    if (!text) return text.error();
    auto json = nlohmann::json::parse(*text, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("valid") || !json["valid"].is_boolean())
      return make_error(Errc::config, (ecu_dir / "state.json").string() + ": not a simulator state file");
    store->m_valid = json["valid"].get<bool>();
  }
  return store;
}

FlashStore::~FlashStore() {
  for (auto& r : m_regions) {
    if (r.data) ::munmap(r.data, r.config.size);
    if (r.fd >= 0) ::close(r.fd);
  }
}

std::optional<std::size_t> FlashStore::region_of(std::uint32_t address, std::uint64_t size) const {
  for (std::size_t i = 0; i < m_regions.size(); ++i) {
    const auto& c = m_regions[i].config;
    if (address >= c.address && std::uint64_t{address} + size <= std::uint64_t{c.address} + c.size) return i;
  }
  return std::nullopt;
}

FlashStore::Region& FlashStore::region_at(std::uint32_t address) {
  for (auto& r : m_regions)
    if (address >= r.config.address && address - r.config.address < r.config.size) return r;
  return m_regions.front();  // unreachable after region_of
}

Result<void> FlashStore::write(std::uint32_t address, ByteView data) {
  auto& r = region_at(address);
  std::copy(data.begin(), data.end(), r.data + (address - r.config.address));
  return success();
}

Result<void> FlashStore::erase(std::uint32_t address, std::uint32_t size) {
  auto& r = region_at(address);
  std::fill_n(r.data + (address - r.config.address), size, k_erased_byte);
  return success();
}

ByteView FlashStore::read(std::uint32_t address, std::uint32_t size) const {
  for (const auto& r : m_regions)
    if (address >= r.config.address && address - r.config.address < r.config.size)
      return r.bytes().subspan(address - r.config.address, size);
  return {};
}

// Replaced by rename, so a killed simulator leaves the old flag or the new one; not fsynced, like
// the mapped regions: the simulator survives being killed, not the machine losing power, and an
// fsync on every erase and check routine costs a busy disk tens of ms.
Result<void> FlashStore::set_valid(bool valid) {
  m_valid = valid;
  const std::string text = nlohmann::json{{"valid", valid}}.dump() + "\n";
  const fs::path path = m_dir / "state.json";
  const fs::path tmp = m_dir / "state.json.tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("cannot create", tmp);
  const ssize_t n = ::write(fd, text.data(), text.size());
  const int write_errno = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    errno = n < 0 ? write_errno : EIO;
    return errno_error("cannot write", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error("cannot rename to", path);
  return success();
}

Result<std::vector<DumpRegion>> list_flash_files(const fs::path& ecu_dir) {
  std::vector<DumpRegion> out;
  std::error_code ec;
  if (!fs::is_directory(ecu_dir, ec))
    return make_error(Errc::not_found, ecu_dir.string() + ": no flash state here (has this ECU run with this --state?)");
  for (const auto& entry : fs::directory_iterator(ecu_dir, ec)) {
    auto name = entry.path().filename().string();
    if (name.size() != 18 || name.rfind("flash-", 0) != 0 || name.substr(14) != ".bin") continue;
    auto address = parse_number("0x" + name.substr(6, 8));
    if (!address) continue;
    out.push_back(DumpRegion{*address, entry.path()});
  }
  if (ec) return make_error(Errc::io, "cannot list " + ecu_dir.string() + ": " + ec.message());
  if (out.empty()) return make_error(Errc::not_found, ecu_dir.string() + ": no flash-*.bin files (has this ECU run?)");
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.address < b.address; });
  return out;
}

}  // namespace ecuup::sim
