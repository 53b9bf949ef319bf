#include "util/fs.hpp"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include <fmt/format.h>

namespace ecuup {

namespace fs = std::filesystem;

namespace {

Error errno_error(const std::string& what, const fs::path& path) {
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

Result<void> write_all(int fd, const char* data, std::size_t size, const fs::path& path) {
  while (size) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot write", path);
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return success();
}

fs::path temp_sibling(const fs::path& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::ostringstream name;
  name << "." << path.filename().string() << ".tmp." << ::getpid() << "." << std::hex << rng();
  return path.parent_path() / name.str();
}

Result<void> fsync_path(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open", path);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return errno_error("cannot fsync", path);
  return success();
}

Result<void> write_atomic_bytes(const fs::path& path, const char* data, std::size_t size) {
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  fs::path tmp = temp_sibling(dir / path.filename());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("cannot create", tmp);
  auto written = write_all(fd, data, size, tmp);
  if (written && ::fsync(fd) != 0) written = errno_error("cannot fsync", tmp);
  ::close(fd);
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno_error("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return err;
  }
  return fsync_directory(dir);
}

}  // namespace

Result<std::string> read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return make_error(Errc::not_found, "no such file: " + path.string());
    return errno_error("cannot open", path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return errno_error("cannot read", path);
  return ss.str();
}

Result<Bytes> read_binary_file(const fs::path& path) {
  ECUUP_ASSIGN(std::string text, read_text_file(path));
  return Bytes(text.begin(), text.end());
}

Result<void> write_file_atomic(const fs::path& path, std::string_view content) {
  return write_atomic_bytes(path, content.data(), content.size());
}

Result<void> write_file_atomic(const fs::path& path, ByteView content) {
  return write_atomic_bytes(path, reinterpret_cast<const char*>(content.data()), content.size());
}

Result<void> commit_file_atomic(const fs::path& tmp, const fs::path& path) {
  ECUUP_TRY(fsync_path(tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) return errno_error("cannot rename onto", path);
  return fsync_directory(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

Result<std::uint64_t> copy_file_through(const fs::path& from, const fs::path& to,
                                        const std::function<void(std::string_view)>& each) {
  const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return errno_error("cannot open", from);
  const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    auto err = errno_error("cannot create", to);
    ::close(in);
    return err;
  }
  std::vector<char> block(std::size_t{1} << 16);
  std::uint64_t copied = 0;
  Result<void> done = success();
  for (;;) {
    const ssize_t n = ::read(in, block.data(), block.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      done = errno_error("cannot read", from);
      break;
    }
    if (n == 0) break;
    each(std::string_view(block.data(), static_cast<std::size_t>(n)));
    done = write_all(out, block.data(), static_cast<std::size_t>(n), to);
    if (!done) break;
    copied += static_cast<std::uint64_t>(n);
  }
  ::close(in);
  if (::close(out) != 0 && done) done = errno_error("cannot write", to);
  if (!done) {
    ::unlink(to.c_str());
    return std::move(done).error();
  }
  return copied;
}

std::optional<std::uint64_t> free_space(const fs::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

Result<void> require_free_space(const fs::path& dir, std::uint64_t bytes, std::string_view what) {
  const auto free = free_space(dir);
  if (!free || *free >= bytes + k_state_reserve_bytes) return success();
  const std::string needs = bytes ? fmt::format("it needs {} bytes, and {} more are kept free for the manifest", bytes,
                                                k_state_reserve_bytes)
                                  : fmt::format("{} bytes are kept free for the manifest", k_state_reserve_bytes);
  return make_error(Errc::io, fmt::format("not enough free space in {} for {}: {}, but only {} are free. Free some space "
                                          "there and run again",
                                          dir.string(), what, needs, *free));
}

Result<void> ensure_directory(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(Errc::io, "cannot create directory " + dir.string() + ": " + ec.message());
  return success();
}

Result<void> fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open directory", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return errno_error("cannot fsync directory", dir);
  return success();
}

}  // namespace ecuup
