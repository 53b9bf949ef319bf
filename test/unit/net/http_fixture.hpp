#pragma once
// Runs test/support/http_fixture.py on an ephemeral loopback port for one test.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ecuup::test {

class HttpFixture {
 public:
  // `root` is served; `stats` (if not empty) receives the fixture's JSON statistics.
  HttpFixture(const std::filesystem::path& root, const std::filesystem::path& stats,
              std::vector<std::string> extra_args = {})
      : m_stats(stats) {
    std::vector<std::string> args = {"python3", std::string(ECUUP_SOURCE_DIR) + "/test/support/http_fixture.py",
                                      "--root", root.string()};
    if (!stats.empty()) {
      args.push_back("--stats");
      args.push_back(stats.string());
    }
    for (auto& a : extra_args) args.push_back(std::move(a));
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    m_pid = ::fork();
    if (m_pid < 0) throw std::runtime_error("fork failed");
    if (m_pid == 0) {
      ::dup2(fds[1], STDOUT_FILENO);
      ::close(fds[0]);
      ::close(fds[1]);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fds[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      line.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    if (line.rfind("PORT ", 0) != 0) {
      stop();
      throw std::runtime_error("http_fixture.py did not start: '" + line + "'");
    }
    m_port = std::stoi(line.substr(5));
  }
  ~HttpFixture() { stop(); }
  HttpFixture(const HttpFixture&) = delete;
  HttpFixture& operator=(const HttpFixture&) = delete;

  int port() const { return m_port; }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  std::string url(const std::string& path) const { return base() + "/" + path; }

  nlohmann::json stats() const {
    std::ifstream in(m_stats);
    if (!in) return nlohmann::json::object();
    return nlohmann::json::parse(in);
  }

  void stop() {
    if (m_pid > 0) {
      ::kill(m_pid, SIGTERM);
      int status = 0;
      ::waitpid(m_pid, &status, 0);
      m_pid = -1;
    }
  }

 private:
  std::filesystem::path m_stats;
  pid_t m_pid = -1;
  int m_port = 0;
};

// A loopback port nobody listens on: bound, then released.
inline int unused_loopback_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(s);
  return port;
}

}  // namespace ecuup::test
