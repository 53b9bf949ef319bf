#pragma once
// An exclusive advisory lock (flock) on a lock file beside the manifest, so cron, CI and a person
// never interleave steps. The manifest itself is replaced by rename, so it cannot carry the lock.
#include <chrono>
#include <filesystem>
#include <optional>

#include "util/result.hpp"

namespace ecuup {

class FileLock {
 public:
  // Takes the lock; waits up to `wait` (nullopt: do not wait; milliseconds::max(): no limit; an interrupt
  // ends the wait). Errc::locked names the holder's pid.
  static Result<FileLock> acquire(const std::filesystem::path& path,
                                  std::optional<std::chrono::milliseconds> wait = std::nullopt);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : m_fd(fd) {}
  int m_fd = -1;
};

}  // namespace ecuup
