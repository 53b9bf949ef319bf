#include "sim/control.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

namespace ecuup::sim {

namespace fs = std::filesystem;

namespace {

constexpr int k_io_timeout_ms = 2000;     // a client that sends no line in time is hung up on
constexpr std::size_t k_max_line = 1024;  // requests are short

Result<sockaddr_un> socket_address(const fs::path& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string text = path.string();
  if (text.size() >= sizeof addr.sun_path)
    return make_error(Errc::unsupported, text + ": too long for a Unix socket path (" +
                                             std::to_string(sizeof addr.sun_path - 1) + " bytes at most)");
  std::memcpy(addr.sun_path, text.c_str(), text.size() + 1);
  return addr;
}

// Connects to the socket at `addr`; -1 with errno set when nothing listens there.
int connect_to(const sockaddr_un& addr) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Reads one line (without its newline); false when the peer hung up or stayed silent too long.
bool read_line(int fd, std::string& line) {
  line.clear();
  char c = 0;
  while (line.size() < k_max_line) {
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, k_io_timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return !line.empty();
    if (c == '\n') return true;
    line.push_back(c);
  }
  return false;
}

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

fs::path control_socket_path(const fs::path& state_dir) { return state_dir / "control.sock"; }

struct ControlServer::Impl {
  fs::path path;
  Handler handler;
  int listen_fd = -1;
  int wake_fd = -1;
  std::thread thread;

  // Requests are served one at a time: each is short, and the harness sends few.
  void loop() {
    std::array<pollfd, 2> fds{pollfd{listen_fd, POLLIN, 0}, pollfd{wake_fd, POLLIN, 0}};
    while (true) {
      int ready = ::poll(fds.data(), fds.size(), -1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0 || (fds[1].revents & POLLIN)) return;
      if (!(fds[0].revents & POLLIN)) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::string line;
      if (read_line(fd, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        (void)write_all(fd, handler(line) + "\n");
      }
      ::close(fd);
    }
  }
};

ControlServer::ControlServer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

ControlServer::~ControlServer() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(m_impl->wake_fd, &one, sizeof one);
  if (m_impl->thread.joinable()) m_impl->thread.join();
  ::close(m_impl->listen_fd);
  ::close(m_impl->wake_fd);
  std::error_code ec;
  fs::remove(m_impl->path, ec);
}

Result<std::unique_ptr<ControlServer>> ControlServer::start(const fs::path& state_dir, Handler handler) {
  auto impl = std::make_unique<Impl>();
  impl->path = control_socket_path(state_dir);
  impl->handler = std::move(handler);
  ECUUP_ASSIGN(auto addr, socket_address(impl->path));
  const std::string where = "control socket " + impl->path.string();
  if (int fd = connect_to(addr); fd >= 0) {
    ::close(fd);
    return make_error(Errc::usage, where + ": another ecuup-sim runs on this state directory");
  }
  // What is left is a socket of a simulator that was killed: nothing answers it.
  std::error_code ec;
  fs::remove(impl->path, ec);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return make_error(Errc::io, where + ": socket: " + std::strerror(errno));
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 8) != 0) {
    int err = errno;
    ::close(fd);
    return make_error(Errc::io, where + ": " + std::strerror(err));
  }
  impl->listen_fd = fd;
  impl->wake_fd = ::eventfd(0, EFD_CLOEXEC);
  if (impl->wake_fd < 0) {
    ::close(fd);
    return make_error(Errc::internal, where + ": eventfd: " + std::strerror(errno));
  }
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->loop(); });
  return std::unique_ptr<ControlServer>(new ControlServer(std::move(impl)));
}

Result<std::string> control_request(const fs::path& state_dir, std::string_view request) {
  const fs::path path = control_socket_path(state_dir);
  ECUUP_ASSIGN(auto addr, socket_address(path));
  int fd = connect_to(addr);
  if (fd < 0)
    return make_error(Errc::not_found, path.string() + ": no ecuup-sim runs on this state directory (" +
                                           std::strerror(errno) + ")");
  std::string line;
  bool ok = write_all(fd, std::string(request) + "\n") && read_line(fd, line);
  ::close(fd);
  if (!ok) return make_error(Errc::io, path.string() + ": the simulator did not answer");
  return line;
}

}  // namespace ecuup::sim
