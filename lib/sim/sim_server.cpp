#include "sim/sim_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <istream>
#include <ostream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "util/bytes.hpp"

namespace ecuup::sim {

namespace {

constexpr std::uint8_t k_negative_response = 0x7F;
constexpr std::uint8_t k_nrc_response_pending = 0x78;
constexpr std::chrono::milliseconds k_max_pending_interval{2000};

// 0x78 must be repeated before the tester's P2* expires; half of P2* leaves room for scheduling.
std::chrono::milliseconds pending_interval(const EcuConfig& config) {
  auto half = std::chrono::milliseconds(std::max<std::uint32_t>(config.timing.p2_star_ms / 2, 1));
  return std::min(half, k_max_pending_interval);
}

}  // namespace

void serve_request(EcuModel& ecu, ByteView request, const ReplySink& sink) {
  Reply reply = ecu.handle(request, Clock::now());
  switch (reply.kind) {
    case ReplyKind::silent: return;
    case ReplyKind::drop_connection:
      if (sink.drop) sink.drop();
      return;
    case ReplyKind::respond: break;
  }
  // A power cut or reset while the ECU works means the answer is never sent.
  const auto done = Clock::now() + reply.work_time;
  if (reply.pending) {
    const Bytes pending{k_negative_response, request[0], k_nrc_response_pending};
    const auto interval = pending_interval(ecu.config());
    sink.send(pending);
    for (auto next = Clock::now() + interval; next < done; next += interval) {
      if (!ecu.wait_powered(next, reply.power_epoch)) return;
      sink.send(pending);
    }
  }
  if (reply.work_time.count() > 0 && !ecu.wait_powered(done, reply.power_epoch)) return;
  sink.send(reply.response);
}

Result<std::string> free_udp_bus(const std::string& bus) {
  if (bus != "udp:0:0") return bus;
  // Bound and released: another program could take a port before the bus binds it again, which
  // the bus then reports; on a test bench that is rare, and a retry picks two others.
  auto pick = []() -> Result<std::uint16_t> {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::io, std::string("socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok) return make_error(Errc::io, std::string("cannot pick a free UDP port: ") + std::strerror(errno));
    return ntohs(addr.sin_port);
  };
  ECUUP_ASSIGN(std::uint16_t local, pick());
  for (int tries = 0; tries < 8; ++tries) {
    ECUUP_ASSIGN(std::uint16_t remote, pick());
    if (remote != local) return fmt::format("udp:{}:{}", local, remote);
  }
  return make_error(Errc::io, "cannot pick two free UDP ports");
}

Result<SimConfig> load_with_faults(const RunOptions& options) {
  ECUUP_ASSIGN(auto config, load_sim_config(options.config_path));
  for (const auto& text : options.faults) {
    ECUUP_ASSIGN(auto fault, parse_ecu_fault(text));
    auto it = std::find_if(config.ecus.begin(), config.ecus.end(), [&](const EcuConfig& e) { return e.name == fault.ecu; });
    if (it == config.ecus.end()) return make_error(Errc::usage, "fault '" + text + "': no ECU named '" + fault.ecu + "'");
    it->faults.push_back(std::move(fault.fault));
  }
  if (options.bus) config.bus = *options.bus;
  ECUUP_ASSIGN(config.bus, free_udp_bus(config.bus));
  if (options.doip_port) config.doip_port = *options.doip_port;
  complete_identity(config);
  return config;
}

Result<void> run_console(const RunOptions& options, const std::string& ecu_name, std::istream& in, std::ostream& out) {
  ECUUP_ASSIGN(auto config, load_with_faults(options));
  const EcuConfig* ecu_config = config.find(ecu_name);
  if (!ecu_config) return make_error(Errc::usage, "no ECU named '" + ecu_name + "' in " + options.config_path.string());
  ECUUP_ASSIGN(auto ecu, EcuModel::open(*ecu_config, options.state_dir, {}));
  ReplySink sink{[&](ByteView bytes) { out << to_hex(bytes) << std::endl; }, [&] { out << "drop" << std::endl; }};
  std::string line;
  while (std::getline(in, line)) {
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    line = line.substr(first);
    if (line.rfind("sleep", 0) == 0) {
      std::string arg = line.substr(5);
      arg.erase(0, arg.find_first_not_of(' '));
      while (!arg.empty() && (arg.back() == '\r' || arg.back() == ' ')) arg.pop_back();
      auto ms = parse_number(arg);
      if (!ms) return make_error(Errc::usage, "console: bad line '" + line + "'");
      std::this_thread::sleep_for(std::chrono::milliseconds(*ms));
      continue;
    }
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    auto request = from_hex(line);
    if (!request || request->empty()) return make_error(Errc::usage, "console: not a hex request: '" + line + "'");
    bool answered = false;
    ReplySink counting{[&](ByteView b) { answered = true; sink.send(b); }, [&] { answered = true; sink.drop(); }};
    serve_request(*ecu, *request, counting);
    if (!answered) out << "-" << std::endl;
  }
  return success();
}

}  // namespace ecuup::sim
