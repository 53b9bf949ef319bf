#include "util/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "util/cancel.hpp"

namespace ecuup {

Result<FileLock> FileLock::acquire(const std::filesystem::path& path, std::optional<std::chrono::milliseconds> wait) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return make_error(Errc::io, "cannot open lock file " + path.string() + ": " + std::strerror(errno));
  // milliseconds::max() waits without a limit (now() + max would overflow).
  const bool forever = wait && *wait == std::chrono::milliseconds::max();
  auto deadline = forever ? std::chrono::steady_clock::time_point::max()
                          : std::chrono::steady_clock::now() + wait.value_or(std::chrono::milliseconds(0));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) {
      int e = errno;
      ::close(fd);
      return make_error(Errc::io, "cannot lock " + path.string() + ": " + std::strerror(e));
    }
    if (!wait || std::chrono::steady_clock::now() >= deadline || interrupt_requested()) {
      char holder[32] = {};
      ssize_t n = ::pread(fd, holder, sizeof holder - 1, 0);
      ::close(fd);
      std::string who = n > 0 ? std::string(holder, static_cast<std::size_t>(n)) : std::string("?");
      while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
      return make_error(Errc::locked, "the manifest is locked by another ecuup (pid " + who + ", lock " +
                                          path.string() + "); use --wait to wait for it");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // Record our pid for the message a waiting process prints.
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0) {
    [[maybe_unused]] ssize_t n = ::pwrite(fd, pid.data(), pid.size(), 0);
  }
  return FileLock(fd);
}

FileLock::FileLock(FileLock&& other) noexcept : m_fd(other.m_fd) { other.m_fd = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (m_fd >= 0) ::close(m_fd);
    m_fd = other.m_fd;
    other.m_fd = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (m_fd >= 0) ::close(m_fd);  // closing the last descriptor releases the flock
}

}  // namespace ecuup
