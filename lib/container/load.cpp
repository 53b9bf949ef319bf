#include "container/load.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "container/pdx.hpp"
#include "container/vbf.hpp"
#include "util/archive_files.hpp"
#include "util/compress.hpp"
#include "util/fs.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

// Bounds on a VBF set read into memory: ECU software is a few files of at most some MiB each.
constexpr std::size_t k_max_set_entries = 64;
constexpr std::uint64_t k_max_set_bytes = std::uint64_t{1} << 30;

bool starts_with(ByteView data, std::string_view text) {
  return data.size() >= text.size() && std::equal(text.begin(), text.end(), data.begin());
}

constexpr std::string_view k_vbf_magic = "vbf_version";

Result<Container> load_vbf_archive(const fs::path& path) {
  const ArchiveRead read = read_archive_files(path, ArchiveFormats::tar_or_zip,
                                              ArchiveLimits{.max_entries = k_max_set_entries,
                                                            .max_total_bytes = k_max_set_bytes});
  if (read.failure) {
    const auto& f = *read.failure;
    return make_error(Errc::verify, fmt::format("{}: {}{}", path.string(), f.entry.empty() ? "" : "'" + f.entry + "': ", f.why));
  }
  const auto& entries = read.files;
  if (entries.empty()) return make_error(Errc::verify, fmt::format("{}: an empty archive", path.string()));
  std::vector<VbfFile> files;
  for (auto& e : entries) {
    if (!starts_with(e.data, k_vbf_magic))
      return make_error(Errc::verify, fmt::format("{}: '{}' is no VBF file (a VBF set holds VBF files only)",
                                                  path.string(), e.name));
    ECUUP_ASSIGN(VbfFile file, parse_vbf(e.data, fs::path(e.name).filename().string()));
    files.push_back(std::move(file));
  }
  return assemble_vbf_set(std::move(files));
}

}  // namespace

bool is_vbf_file(const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return false;
  char head[k_vbf_magic.size()] = {};
  return std::fread(head, 1, sizeof head, f.get()) == sizeof head && std::string_view(head, sizeof head) == k_vbf_magic;
}

bool is_pdx_file(const fs::path& path) { return looks_like_pdx(path); }

Result<Container> load_container(const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    const int err = errno;
    return make_error(err == ENOENT ? Errc::not_found : Errc::io,
                      fmt::format("cannot open container {}: {}", path.string(), std::strerror(err)));
  }
  std::uint8_t head[16] = {};
  const std::size_t n = std::fread(head, 1, sizeof head, f.get());
  f.reset();
  const ByteView start(head, n);
  if (starts_with(start, k_vbf_magic)) {
    ECUUP_ASSIGN(VbfFile file, load_vbf(path));
    std::vector<VbfFile> files;
    files.push_back(std::move(file));
    return assemble_vbf_set(std::move(files));
  }
  if (looks_like_pdx(path)) return load_pdx(path);
  return load_vbf_archive(path);
}

Result<void> check_container(const Container& container, const std::vector<MemoryRange>& memory, const std::string& name) {
  if (container.parts.empty()) return make_error(Errc::verify, fmt::format("{}: the container holds no software", name));
  int sbls = 0;
  for (const auto& part : container.parts) {
    const std::string where = fmt::format("{}: {} part {}", name, container_part_kind_name(part.kind), part.name);
    if (part.blocks.empty()) return make_error(Errc::verify, where + ": no data");
    for (const auto& block : part.blocks) {
      const std::string what = fmt::format("{}: block at 0x{:08X}", where, block.address);
      // (That a zlib block expands to its memory size the parsers checked as they read it.)
      ECUUP_TRY(check_in_memory(memory, block.address, std::max<std::uint64_t>(block.memory_size, 1), what));
    }
    for (const auto& range : part.erase)
      ECUUP_TRY(check_in_memory(memory, range.address, range.size, fmt::format("{}: erase range", where)));
    if (part.kind == ContainerPartKind::sbl) {
      if (++sbls > 1) return make_error(Errc::verify, fmt::format("{}: more than one secondary boot loader", name));
      if (!part.call_address) return make_error(Errc::verify, where + ": a boot loader needs a call address");
      const std::uint32_t call = *part.call_address;
      const bool inside = std::any_of(part.blocks.begin(), part.blocks.end(), [&](const ContainerBlock& b) {
        return call >= b.address && call - b.address < std::max<std::uint64_t>(b.memory_size, b.data.size());
      });
      if (!inside)
        return make_error(Errc::verify, fmt::format("{}: call address 0x{:08X} lies outside the boot loader's blocks", where, call));
    }
  }
  if (sbls == static_cast<int>(container.parts.size()))
    return make_error(Errc::verify, fmt::format("{}: a boot loader only, no software to program", name));
  return success();
}

ImagePlan plan_container(Container container, const std::string& name) {
  ImagePlan plan;
  const int vbf_files = static_cast<int>(container.parts.size());
  plan.description = container.format == ContainerFormat::vbf
                         ? fmt::format("VBF {} ({} file{})", name, vbf_files, vbf_files == 1 ? "" : "s")
                         : fmt::format("PDX {} ({} data block{})", name, vbf_files, vbf_files == 1 ? "" : "s");
  // SBL segments first, whatever order the container lists its parts in.
  std::stable_partition(container.parts.begin(), container.parts.end(),
                        [](const ContainerPart& p) { return p.kind == ContainerPartKind::sbl; });
  bool explicit_erase = false;
  for (const auto& part : container.parts)
    if (part.kind != ContainerPartKind::sbl && !part.erase.empty()) explicit_erase = true;
  for (auto& part : container.parts) {
    const bool sbl = part.kind == ContainerPartKind::sbl;
    if (sbl) {
      plan.sbl_call_address = part.call_address;
      plan.sbl_name = part.name;
    } else if (explicit_erase) {
      // Once any part names its erase ranges, the others' blocks are erased as their own ranges.
      if (part.erase.empty()) {
        for (const auto& b : part.blocks) plan.erase.push_back({b.address, std::max<std::uint64_t>(b.memory_size, 1)});
      } else {
        plan.erase.insert(plan.erase.end(), part.erase.begin(), part.erase.end());
      }
    }
    for (auto& b : part.blocks) {
      const std::uint64_t memory_size = b.memory_size ? b.memory_size : b.data.size();
      PlannedSegment seg;
      seg.address = b.address;
      seg.memory_size = memory_size;
      seg.data_format = b.data_format;
      seg.data = std::move(b.data);
      seg.sbl = sbl;
      seg.part = part.name;
      plan.segments.push_back(std::move(seg));
    }
  }
  return plan;
}

std::vector<std::string> describe_plan(const ImageSource& image, std::uint16_t sbl_routine) {
  std::vector<std::string> lines;
  if (!image.description().empty()) lines.push_back(image.description());
  auto segment_line = [](const ImageSource::Segment& s) {
    std::string line = fmt::format("0x{:08X} {} bytes", s.address, s.size);
    if (s.data_format && *s.data_format != 0) {
      line += fmt::format(", data format 0x{:02X}", *s.data_format);
      if (compression_method(*s.data_format) != 0)
        line += fmt::format(" ({}: {} bytes sent)", compression_name(compression_method(*s.data_format)), s.transfer_size);
      if (encryption_method(*s.data_format) != 0) line += fmt::format(", encryption {} passed through", encryption_method(*s.data_format));
    }
    if (!s.part.empty()) line += " [" + s.part + "]";
    return line;
  };
  if (image.sbl_call_address()) {
    for (const auto& s : image.segments())
      if (s.sbl) lines.push_back("boot loader: download " + segment_line(s));
    lines.push_back(fmt::format("boot loader: start {} at 0x{:08X} (RoutineControl 0x{:04X})", image.sbl_name(),
                                *image.sbl_call_address(), sbl_routine));
  }
  for (const auto& r : image.ranges_to_erase()) lines.push_back(fmt::format("erase 0x{:08X} {} bytes", r.address, r.size));
  for (const auto& s : image.segments())
    if (!s.sbl) lines.push_back("download " + segment_line(s));
  return lines;
}

}  // namespace ecuup
