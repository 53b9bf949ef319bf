#pragma once
// An ECU's flash memory and "valid software" flag, persisted under STATE/ECU/ so a restarted
// simulator still runs what was flashed:
//   flash-AAAAAAAA.bin  one file per memory region (AAAAAAAA = start address, hex), erased = 0xFF
//   state.json          {"valid": true|false}
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "sim/sim_config.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup::sim {

inline constexpr std::uint8_t k_erased_byte = 0xFF;

class FlashStore {
 public:
  // Creates missing files; a fresh ECU gets `initial` (if any) programmed into its first region.
  static Result<std::unique_ptr<FlashStore>> open(const std::filesystem::path& ecu_dir,
                                                  const std::vector<MemoryRegion>& regions,
                                                  const std::optional<InitialImage>& initial);
  ~FlashStore();
  FlashStore(const FlashStore&) = delete;
  FlashStore& operator=(const FlashStore&) = delete;

  // Index of the region holding [address, address+size), if one does.
  std::optional<std::size_t> region_of(std::uint32_t address, std::uint64_t size) const;
  const MemoryRegion& region(std::size_t index) const { return m_regions[index].config; }
  // The caller checked the range with region_of.
  Result<void> write(std::uint32_t address, ByteView data);
  Result<void> erase(std::uint32_t address, std::uint32_t size);
  ByteView read(std::uint32_t address, std::uint32_t size) const;
  // The whole first region: the software image lives at its start.
  ByteView primary() const { return m_regions.front().bytes(); }

  bool valid() const { return m_valid; }
  Result<void> set_valid(bool valid);

 private:
  // The region's file mapped shared: a write is a copy into the page cache, with no system call
  // on the way to an answer, and it is in the file even if the simulator is killed right after.
  struct Region {
    MemoryRegion config;
    std::uint8_t* data = nullptr;  // config.size bytes, the file's mapping
    int fd = -1;
    std::filesystem::path path;
    ByteView bytes() const { return {data, config.size}; }
  };
  FlashStore() = default;
  Region& region_at(std::uint32_t address);

  std::filesystem::path m_dir;
  std::vector<Region> m_regions;
  bool m_valid = false;
};

struct DumpRegion {
  std::uint32_t address = 0;
  std::filesystem::path path;
};
// The region files of one ECU's state dir, lowest address first (for `ecuup-sim dump`).
Result<std::vector<DumpRegion>> list_flash_files(const std::filesystem::path& ecu_dir);

// Deterministic pseudo-random bytes (splitmix64): mkimage --size and initial images.
Bytes pattern_bytes(std::size_t size, std::uint64_t seed);

}  // namespace ecuup::sim
