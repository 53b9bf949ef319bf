#pragma once
// The DoIP entity side (a gateway in front of simulated ECUs): on TCP routing activation, alive
// check and diagnostic message ACK/NACK are handled here and UDS requests go to a handler; on UDP
// (the same port) vehicle identification, entity status and diagnostic power mode, and the vehicle
// announcements after start.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "transport/doip_discovery.hpp"
#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

class DoipResponder {
 public:
  virtual ~DoipResponder() = default;
  // Sends a diagnostic message (0x8001) from the ECU's address to the tester.
  virtual Result<void> send(ByteView uds_response) = 0;
  // Fault injection: close the TCP connection now.
  virtual void drop_connection() = 0;
};

struct DoipServerOptions {
  std::string bind_address = "127.0.0.1";
  std::uint16_t port = 13400;  // 0: ephemeral, see DoipServer::port()
  std::vector<std::uint16_t> ecu_addresses;
  std::uint32_t max_data_size = 0x10000 + 4;  // reported in the entity status; includes the 4 address bytes
  // The entity's own logical address in routing activation responses; 0: the first ECU address.
  std::uint16_t logical_address = 0;
  // Testers allowed to activate routing; empty: ISO 13400-2's external tester range 0x0E00..0x0FFF.
  std::vector<std::uint16_t> tester_addresses;
  // What the entity announces and answers to vehicle identification requests on UDP; a logical
  // address of 0 is replaced by the entity's own.
  doip::VehicleAnnouncement identity;
  // Where the k_announce_count vehicle announcements go after start(); an empty host: none.
  doip::UdpEndpoint announce_to;
  std::uint8_t power_mode = doip::k_power_mode_ready;
};

using DoipHandler = std::function<void(std::uint16_t ecu_address, ByteView uds_request, DoipResponder& out)>;

class DoipServer {
 public:
  DoipServer(DoipServerOptions options, DoipHandler handler);
  ~DoipServer();
  DoipServer(const DoipServer&) = delete;
  DoipServer& operator=(const DoipServer&) = delete;

  // Listens on TCP and UDP (the same port) and serves each TCP connection on its own thread.
  // Errc::network when it cannot bind.
  Result<void> start();
  std::uint16_t port() const;
  // Closes the listener and every connection, waits for the threads (and running handlers).
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace ecuup
