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
#include <memory>
#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/port_process.hpp"

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
    m_process = std::make_unique<PortProcess>(std::move(args));
  }
  ~HttpFixture() { stop(); }
  HttpFixture(const HttpFixture&) = delete;
  HttpFixture& operator=(const HttpFixture&) = delete;

  int port() const { return m_process->port(); }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port()); }
  std::string url(const std::string& path) const { return base() + "/" + path; }

  nlohmann::json stats() const {
    std::ifstream in(m_stats);
    if (!in) return nlohmann::json::object();
    return nlohmann::json::parse(in);
  }

  void stop() { m_process->stop(); }

 private:
  std::filesystem::path m_stats;
  std::unique_ptr<PortProcess> m_process;
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
