#include "ecu/image_driver.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

// Fault injection for demos and tests: a file whose first line is "fail-write [N]" makes the next N
// flash attempts stop after writing half the image (like a power loss), then the file is removed.
struct FaultFile {
  fs::path path;

  bool consume_write_fault() const {
    if (path.empty()) return false;
    auto text = read_text_file(path);
    if (!text) return false;
    std::string word;
    int count = 1;
    std::sscanf(text->c_str(), "%*s %d", &count);
    word = text->substr(0, text->find_first_of(" \n"));
    if (word != "fail-write" || count <= 0) return false;
    if (count == 1) {
      fs::remove(path);
    } else {
      (void)write_file_atomic(path, fmt::format("fail-write {}\n", count - 1));
    }
    return true;
  }
};

class ImageDriver final : public EcuDriver {
 public:
  ImageDriver(std::string name, fs::path memory, std::uint64_t version_offset, std::uint64_t write_bps, FaultFile fault)
      : m_name(std::move(name)), m_memory(std::move(memory)), m_offset(version_offset), m_write_bps(write_bps),
        m_fault(std::move(fault)) {}

  Result<EcuIdentity> read_identity() override {
    if (!fs::exists(m_memory)) return make_error(Errc::ecu, fmt::format("flash memory file {} does not exist", m_memory.string()));
    auto info = verify_sw_image_file(m_memory, m_offset);
    if (!info) return make_error(Errc::ecu, "no valid software installed: " + info.error().message);
    return EcuIdentity{info->version, {}};
  }

  Result<void> flash(const fs::path& image, Progress& progress) override {
    std::ifstream in(image, std::ios::binary);
    if (!in) return make_error(Errc::io, "cannot open image " + image.string());
    std::uint64_t total = fs::file_size(image);
    m_touched = false;
    // A stop asked for before the erase leaves the ECU as it was.
    if (interrupt_requested()) return make_error(Errc::interrupted, "interrupted before programming started");
    int fd = ::open(m_memory.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(Errc::ecu, fmt::format("cannot open flash memory {}: {}", m_memory.string(), std::strerror(errno)));
    // "Erase": like real flash, the old content is gone as soon as programming starts.
    m_touched = true;
    if (::ftruncate(fd, 0) != 0) {
      ::close(fd);
      return make_error(Errc::ecu, "cannot erase flash memory " + m_memory.string());
    }
    bool fault = m_fault.consume_write_fault();
    std::uint64_t stop_at = fault ? total / 2 : total;
    progress.begin(m_name, "flash", total);
    progress.stage("transfer");
    std::vector<char> buf(1 << 16);
    std::uint64_t done = 0;
    auto started = std::chrono::steady_clock::now();
    while (done < stop_at) {
      if (interrupt_requested()) {
        ::close(fd);
        progress.end(false);
        return make_error(Errc::interrupted, fmt::format("interrupted after {} of {} bytes", done, total));
      }
      auto want = static_cast<std::streamsize>(std::min<std::uint64_t>(buf.size(), stop_at - done));
      in.read(buf.data(), want);
      auto got = in.gcount();
      if (got <= 0) break;
      if (::write(fd, buf.data(), static_cast<std::size_t>(got)) != got) {
        ::close(fd);
        progress.end(false);
        return make_error(Errc::ecu, "write to flash memory failed: " + std::string(std::strerror(errno)));
      }
      done += static_cast<std::uint64_t>(got);
      if (m_write_bps) {  // model the write speed of real flash
        auto due = started + std::chrono::microseconds(done * 1000000 / m_write_bps);
        std::this_thread::sleep_until(due);
      }
      progress.advance(done);  // written: what a real ECU acknowledges
    }
    ::fsync(fd);
    ::close(fd);
    if (fault) {
      progress.end(false);
      return make_error(Errc::ecu, fmt::format("programming aborted after {} of {} bytes (injected write fault)", done, total));
    }
    // The ECU accepts the software only if it checks out, as a bootloader would.
    progress.stage("check");
    auto check = verify_sw_image_file(m_memory, m_offset);
    progress.end(check.ok());
    if (!check) return make_error(Errc::ecu, "the ECU rejected the written software: " + check.error().message);
    return success();
  }

  bool touched() const override { return m_touched; }
  bool can_read_out() const override { return true; }

  Result<void> read_out(const fs::path& dest, Progress& progress) override {
    ECUUP_TRY(read_identity());
    ECUUP_ASSIGN(Bytes content, read_binary_file(m_memory));
    progress.begin(m_name, "read", content.size());
    ECUUP_TRY(write_file_atomic(dest, ByteView(content)));
    progress.advance(content.size());
    progress.end(true);
    return success();
  }

 private:
  std::string m_name;
  fs::path m_memory;
  std::uint64_t m_offset;
  std::uint64_t m_write_bps;
  FaultFile m_fault;
  bool m_touched = false;
};

fs::path resolve(const fs::path& base, const std::string& v) {
  if (v.empty()) return {};
  fs::path p(v);
  return p.is_absolute() ? p : base / p;
}

}  // namespace

Result<std::unique_ptr<EcuDriver>> make_image_driver(const EcuConfig& ecu, const DriverContext& context) {
  const auto& file = ecu.config_file;
  ECUUP_TRY(yaml_known_keys(file, ecu.settings, {"memory", "version_offset", "write_speed_bps", "fault_file"}));
  ECUUP_ASSIGN(std::string memory, yaml_string(file, ecu.settings, "memory"));
  ECUUP_ASSIGN(long long offset, yaml_int(file, ecu.settings, "version_offset", 0, 0, 1LL << 40));
  ECUUP_ASSIGN(long long bps, yaml_int(file, ecu.settings, "write_speed_bps", 0, 0, 1LL << 40));
  std::string none;
  ECUUP_ASSIGN(std::string fault, yaml_string(file, ecu.settings, "fault_file", &none));
  return std::unique_ptr<EcuDriver>(new ImageDriver(ecu.name, resolve(context.base_dir, memory),
                                                    static_cast<std::uint64_t>(offset), static_cast<std::uint64_t>(bps),
                                                    FaultFile{resolve(context.base_dir, fault)}));
}

}  // namespace ecuup
