#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "transport/doip.hpp"
#include "transport/doip_discovery.hpp"
#include "transport/doip_server.hpp"

using namespace ecuup;
using namespace ecuup::doip;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t k_ecu = 0x0010;
const std::string k_vin_text = "WVWZZZ1KZAW000001";

VehicleAnnouncement sample_identity() {
  VehicleAnnouncement a;
  a.vin = *parse_vin(k_vin_text);
  a.eid = Eid{0x02, 0x00, 0x00, 0x0A, 0x0B, 0x0C};
  a.gid = Gid{0x02, 0x00, 0x00, 0x0A, 0x0B, 0x00};
  a.sync_status = k_sync_complete;
  return a;
}

DoipServerOptions gateway_options() {
  DoipServerOptions o;
  o.port = 0;
  o.ecu_addresses = {k_ecu};
  o.max_data_size = 0x804;
  o.identity = sample_identity();
  return o;
}

// A bare UDP socket on loopback, for datagrams written by hand and for hearing announcements.
struct RawUdp {
  RawUdp() : fd(::socket(AF_INET, SOCK_DGRAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
  ~RawUdp() { ::close(fd); }
  void send_to(std::uint16_t to_port, const Bytes& datagram) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(to_port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(datagram.size()));
  }
  std::optional<Bytes> receive(std::chrono::milliseconds timeout) const {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    Bytes buffer(1500);
    ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got < 0) return std::nullopt;
    buffer.resize(static_cast<std::size_t>(got));
    return buffer;
  }
  int fd;
  std::uint16_t port = 0;
};

std::uint16_t type_of(const Bytes& datagram) { return get_u16(&datagram[2]); }

}  // namespace

TEST_CASE("DoIP vehicle announcement: encode and decode", "[doip][doip-udp]") {
  const auto a = sample_identity();
  Bytes wire = encode_announcement(a);
  REQUIRE(wire.size() == 33);
  CHECK(std::string(wire.begin(), wire.begin() + 17) == k_vin_text);
  CHECK(wire[17] == 0x00);  // logical address, big-endian, after the VIN
  CHECK(wire[32] == k_sync_complete);
  auto back = decode_announcement(wire);
  REQUIRE(back);
  CHECK(back->vin == a.vin);
  CHECK(back->eid == a.eid);
  CHECK(back->gid == a.gid);
  CHECK(back->sync_status == a.sync_status);

  SECTION("the 32-byte form has no sync status") {
    wire.pop_back();
    auto short_form = decode_announcement(wire);
    REQUIRE(short_form);
    CHECK_FALSE(short_form->sync_status);
  }
  SECTION("other lengths are refused") {
    wire.push_back(0);
    auto bad = decode_announcement(wire);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == Errc::protocol);
  }
}

TEST_CASE("DoIP entity status: encode and decode", "[doip][doip-udp]") {
  EntityStatus s{k_node_type_gateway, 16, 2, 0x1004};
  Bytes wire = encode_entity_status(s);
  CHECK(wire == Bytes{0x00, 0x10, 0x02, 0x00, 0x00, 0x10, 0x04});
  auto back = decode_entity_status(wire);
  REQUIRE(back);
  CHECK(back->max_data_size == 0x1004u);
  auto short_form = decode_entity_status(Bytes{0x01, 0x01, 0x00});
  REQUIRE(short_form);
  CHECK(short_form->node_type == k_node_type_node);
  CHECK_FALSE(short_form->max_data_size);
  CHECK_FALSE(decode_entity_status(Bytes{0x00, 0x01}));
}

TEST_CASE("DoIP identification texts: VIN, EID, endpoints", "[doip][doip-udp]") {
  CHECK(parse_vin(k_vin_text));
  CHECK(parse_vin("SHORT").error().code == Errc::usage);
  CHECK_FALSE(parse_vin("WVWZZZ1KZAW 00001"));
  auto eid = parse_eid("02:00:00:0a:0b:0c");
  REQUIRE(eid);
  CHECK(eid_text(*eid) == "02:00:00:0A:0B:0C");
  CHECK(parse_eid("0200000A0B0C"));
  CHECK_FALSE(parse_eid("02:00"));
  Vin unset{};
  CHECK(vin_text(unset).empty());
  unset.fill(0xFF);
  CHECK(vin_text(unset).empty());
  auto endpoint = parse_udp_endpoint("127.0.0.1:13401");
  REQUIRE(endpoint);
  CHECK(endpoint->port == 13401);
  CHECK(parse_udp_endpoint("gateway.local")->port == 13400);
  CHECK_FALSE(parse_udp_endpoint("127.0.0.1:0"));
  CHECK_FALSE(parse_udp_endpoint(":13400"));
  // An identification request as a tester writes it: the header only, version 0xFF allowed.
  CHECK(encode_datagram(0x0001, {}, 0xFF) == Bytes{0xFF, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00});
}

TEST_CASE("DoIP entity answers vehicle identification, entity status and power mode on UDP", "[doip][doip-udp]") {
  DoipServer server(gateway_options(), [](std::uint16_t, ByteView, DoipResponder&) {});
  REQUIRE(server.start());
  const UdpEndpoint at{"127.0.0.1", server.port()};

  SECTION("identification: VIN, logical address, EID, GID and where it answered from") {
    DiscoverOptions options;
    options.target = at;
    options.timeout = 300ms;
    auto found = discover_entities(options);
    REQUIRE(found);
    REQUIRE(found->size() == 1);
    const auto& entity = found->front();
    CHECK(vin_text(entity.announcement.vin) == k_vin_text);
    CHECK(entity.announcement.logical_address == k_ecu);
    CHECK(entity.announcement.eid == sample_identity().eid);
    CHECK(entity.announcement.gid == sample_identity().gid);
    CHECK(entity.address == "127.0.0.1");
    CHECK(entity.port == server.port());
  }
  SECTION("identification by VIN and by EID: only a match answers") {
    DiscoverOptions options;
    options.target = at;
    options.timeout = 300ms;
    options.vin = *parse_vin(k_vin_text);
    CHECK(discover_entities(options)->size() == 1);
    options.vin = *parse_vin("WVWZZZ1KZAW999999");
    CHECK(discover_entities(options)->empty());
    options.vin.reset();
    options.eid = sample_identity().eid;
    CHECK(discover_entities(options)->size() == 1);
    options.eid = Eid{1, 2, 3, 4, 5, 6};
    CHECK(discover_entities(options)->empty());
  }
  SECTION("loopback's broadcast address reaches it too") {
    DiscoverOptions options;
    options.target = UdpEndpoint{"127.255.255.255", server.port()};
    options.timeout = 300ms;
    auto found = discover_entities(options);
    REQUIRE(found);
    CHECK(found->size() == 1);
  }
  SECTION("entity status: gateway, max data size") {
    auto status = request_entity_status(at, 500ms);
    REQUIRE(status);
    CHECK(status->node_type == k_node_type_gateway);
    CHECK(status->max_data_size == 0x804u);
  }
  SECTION("diagnostic power mode: ready") {
    auto mode = request_power_mode(at, 500ms);
    REQUIRE(mode);
    CHECK(*mode == k_power_mode_ready);
  }
  SECTION("datagrams written by hand: default version 0xFF, a TCP message, a bad length") {
    RawUdp tester;
    tester.send_to(server.port(), encode_datagram(0x0001, {}, k_identification_default_version));
    auto answer = tester.receive(500ms);
    REQUIRE(answer);
    CHECK(type_of(*answer) == 0x0004);
    tester.send_to(server.port(), encode_datagram(0x8001, Bytes{0x0E, 0x00, 0x00, 0x10, 0x3E}));
    answer = tester.receive(500ms);
    REQUIRE(answer);
    CHECK(type_of(*answer) == 0x0000);
    CHECK(answer->back() == static_cast<std::uint8_t>(GenericNack::unknown_payload_type));
    tester.send_to(server.port(), encode_datagram(0x4001, Bytes{0x00}));
    answer = tester.receive(500ms);
    REQUIRE(answer);
    CHECK(answer->back() == static_cast<std::uint8_t>(GenericNack::invalid_payload_length));
    // An announcement is not a question: no answer (two entities must not NACK each other).
    tester.send_to(server.port(), encode_datagram(0x0004, encode_announcement(sample_identity())));
    CHECK_FALSE(tester.receive(200ms));
  }
  SECTION("the tester link learns the max data size over UDP, not from TCP") {
    DoipOptions client;
    client.port = server.port();
    client.ecu_address = k_ecu;
    auto link = connect_doip(client);
    REQUIRE(link);
    CHECK((*link)->max_message_size() == 0x800);
  }
}

TEST_CASE("DoIP entity announces itself three times after start", "[doip][doip-udp]") {
  RawUdp listener;
  auto options = gateway_options();
  options.announce_to = UdpEndpoint{"127.0.0.1", listener.port};
  DoipServer server(options, [](std::uint16_t, ByteView, DoipResponder&) {});
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(server.start());
  int heard = 0;
  while (auto datagram = listener.receive(1500ms)) {
    REQUIRE(type_of(*datagram) == 0x0004);
    auto a = decode_announcement(ByteView(*datagram).subspan(k_header_size));
    REQUIRE(a);
    CHECK(vin_text(a->vin) == k_vin_text);
    ++heard;
  }
  CHECK(heard == k_announce_count);
  // A_DoIP_Announce_Wait (0..500 ms) + two A_DoIP_Announce_Interval (500 ms).
  CHECK(std::chrono::steady_clock::now() - started >= 1000ms);
}

TEST_CASE("DoIP discovery where nothing answers", "[doip][doip-udp]") {
  RawUdp silent;  // bound, never answers
  DiscoverOptions options;
  options.target = UdpEndpoint{"127.0.0.1", silent.port};
  options.timeout = 200ms;
  auto found = discover_entities(options);
  REQUIRE(found);
  CHECK(found->empty());
  auto status = request_entity_status(UdpEndpoint{"127.0.0.1", silent.port}, 200ms);
  REQUIRE_FALSE(status);
  CHECK(status.error().code == Errc::timeout);
}
