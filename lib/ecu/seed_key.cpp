#include "ecu/seed_key.hpp"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

extern char** environ;

namespace ecuup {

namespace {

constexpr int k_poll_interval_ms = 100;
constexpr std::size_t k_max_output = 64 * 1024;

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) s.replace(pos, from.size(), to);
}

std::string first_line(const std::string& text) {
  std::size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return {};
  std::size_t end = text.find_first_of("\r\n", start);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

Result<Bytes> parse_key_output(const std::string& out) {
  std::string text;
  for (char c : out) {
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') text += c;
  }
  if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) text.erase(0, 2);
  if (text.empty()) return make_error(Errc::ecu, "key_command printed no key");
  auto key = from_hex(text);
  if (!key) return make_error(Errc::ecu, "key_command printed '" + first_line(out) + "', not a key in hex");
  return key;
}

}  // namespace

std::string expand_key_command(const std::string& command_template, ByteView seed, std::uint8_t level,
                               const std::string& ecu) {
  std::string cmd = command_template;
  replace_all(cmd, "{seed}", to_hex(seed));
  replace_all(cmd, "{level_hex}", fmt::format("{:02x}", level));
  replace_all(cmd, "{level}", std::to_string(level));
  replace_all(cmd, "{ecu}", ecu);
  return cmd;
}

Result<Bytes> run_key_command(const std::string& command, std::chrono::milliseconds timeout,
                              const std::function<void()>& while_waiting) {
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return make_error(Errc::io, std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return make_error(Errc::io, std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  std::string sh = "/bin/sh";
  std::string dash_c = "-c";
  std::string cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return make_error(Errc::ecu, "cannot run key_command: " + std::string(std::strerror(rc)));
  }

  std::string out, err;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      timed_out = true;
      break;
    }
    int n = ::poll(fds, 2, k_poll_interval_ms);
    if (n < 0 && errno != EINTR) break;
    if (while_waiting) while_waiting();
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        std::string& dest = i == 0 ? out : err;
        if (dest.size() < k_max_output) dest.append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return make_error(Errc::timeout, fmt::format("key_command did not finish within {} ms", timeout.count()));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = WIFEXITED(status) ? fmt::format("exited with status {}", WEXITSTATUS(status))
                                        : fmt::format("was killed by signal {}", WTERMSIG(status));
    std::string detail = first_line(err);
    return make_error(Errc::ecu, "key_command " + why + (detail.empty() ? "" : ": " + detail));
  }
  return parse_key_output(out);
}

Result<std::unique_ptr<KeyLibrary>> KeyLibrary::open(const std::filesystem::path& path) {
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = ::dlerror();
    return make_error(Errc::config, "cannot load key_library " + path.string() + ": " + (why ? why : "unknown error"));
  }
  void* sym = ::dlsym(handle, k_seed_to_key_symbol);
  if (!sym) {
    ::dlclose(handle);
    return make_error(Errc::config,
                      fmt::format("key_library {} does not export {}()", path.string(), k_seed_to_key_symbol));
  }
  ecuup_seed_to_key_fn fn = nullptr;
  static_assert(sizeof fn == sizeof sym);
  std::memcpy(&fn, &sym, sizeof fn);  // POSIX guarantees object and function pointers convert
  return std::unique_ptr<KeyLibrary>(new KeyLibrary(handle, fn, path));
}

KeyLibrary::~KeyLibrary() {
  if (m_handle) ::dlclose(m_handle);
}

Result<Bytes> KeyLibrary::compute_key(ByteView seed, std::uint8_t level) const {
  Bytes key(k_max_key_size);
  std::size_t key_len = 0;
  int rc = m_fn(level, seed.data(), seed.size(), key.data(), key.size(), &key_len);
  if (rc != 0) return make_error(Errc::ecu, fmt::format("{}() in {} returned {}", k_seed_to_key_symbol, m_path.string(), rc));
  if (key_len == 0 || key_len > key.size()) {
    return make_error(Errc::ecu, fmt::format("{}() in {} returned a key of {} bytes", k_seed_to_key_symbol,
                                             m_path.string(), key_len));
  }
  key.resize(key_len);
  return key;
}

}  // namespace ecuup
