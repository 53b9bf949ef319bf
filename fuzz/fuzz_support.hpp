#pragma once
// Shared by the libFuzzer targets (fuzz/README.md): a broken promise traps, which libFuzzer
// reports as a crash; inputs that must be files go through a memfd or a per-process temp dir.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <fuzzer/FuzzedDataProvider.h>

namespace ecuup::fuzz {

inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

// With ECUUP_FUZZ_VERBOSE set, a target says what an input did (to check hand-made seeds).
__attribute__((format(printf, 1, 2))) inline void say(const char* format, ...) {
  static const bool verbose = std::getenv("ECUUP_FUZZ_VERBOSE") != nullptr;
  if (!verbose) return;
  std::va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The input as a file: one memfd per process, rewritten for every input.
inline std::string as_file(const std::uint8_t* data, std::size_t size) {
  static const int fd = ::memfd_create("ecuup-fuzz", 0);
  require(fd >= 0);
  require(::ftruncate(fd, 0) == 0);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    require(n > 0);
    done += static_cast<std::size_t>(n);
  }
  return "/proc/self/fd/" + std::to_string(fd);
}

// A directory of this process's own, removed when it exits normally: targets that need real paths
// (archives, image files) work inside it. Under $ECUUP_FUZZ_TMPDIR (scripts/fuzz sets it and
// removes what crashed runs leave), else /dev/shm where there is one: ecuup fsyncs what it writes,
// which costs nothing on tmpfs and milliseconds per input on a disk.
inline const std::filesystem::path& process_dir() {
  static const auto* dir = [] {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path base = "/dev/shm";
    if (const char* chosen = std::getenv("ECUUP_FUZZ_TMPDIR"); chosen && *chosen) {
      base = chosen;
    } else if (!fs::is_directory(base, ec) || ::access(base.c_str(), W_OK) != 0) {
      base = fs::temp_directory_path();
    }
    std::string tmpl = (base / "ecuup-fuzz-XXXXXX").string();
    require(::mkdtemp(tmpl.data()) != nullptr);
    // Never destroyed, so that it is still there for this.
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(process_dir(), ignored);
    });
    return new fs::path(tmpl);
  }();
  return *dir;
}

}  // namespace ecuup::fuzz
