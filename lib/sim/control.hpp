#pragma once
// The running simulator's control socket, STATE/control.sock (a Unix stream socket), through which
// a test harness cuts an ECU's power at any moment. One request line per connection, one answer line:
//   power-cut NAME|* MS   ->  ok | error MESSAGE      (* = every ECU)
//   status                ->  ok NAME=on|off|booting ...
// `ecuup-sim power-cut` is its client; anything that speaks Unix sockets (socat, python) works too.
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ecuup::sim {

std::filesystem::path control_socket_path(const std::filesystem::path& state_dir);

class ControlServer {
 public:
  // Answers one request line (without the newline) with one answer line.
  using Handler = std::function<std::string(std::string_view request)>;

  // Listens on STATE/control.sock, replacing a stale socket a killed simulator left. Errc::usage when
  // another simulator answers there (two simulators must not share flash files); Errc::unsupported
  // when the path is too long for a Unix socket.
  static Result<std::unique_ptr<ControlServer>> start(const std::filesystem::path& state_dir, Handler handler);
  ~ControlServer();  // stops serving and removes the socket
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  struct Impl;

 private:
  explicit ControlServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// Sends one request line to the simulator running on `state_dir` and returns its answer line.
// Errc::not_found when no simulator listens there.
Result<std::string> control_request(const std::filesystem::path& state_dir, std::string_view request);

}  // namespace ecuup::sim
