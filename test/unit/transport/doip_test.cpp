#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>

#include "transport/doip.hpp"
#include "transport/doip_server.hpp"

using namespace ecuup;
using namespace ecuup::doip;
using namespace std::chrono_literals;

namespace {

void feed(StreamReader& reader, ByteView bytes) {
  auto space = reader.prepare(bytes.size());
  REQUIRE(space.size() >= bytes.size());
  std::copy(bytes.begin(), bytes.end(), space.begin());
  reader.commit(bytes.size());
}

Bytes raw_header(std::uint8_t version, std::uint8_t inverse, std::uint16_t type, std::uint32_t length) {
  Bytes out(k_header_size);
  out[0] = version;
  out[1] = inverse;
  put_u16(&out[2], type);
  put_u32(&out[4], length);
  return out;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes diag(std::uint16_t source, std::uint16_t target, Bytes uds) {
  Bytes payload(4);
  put_u16(&payload[0], source);
  put_u16(&payload[2], target);
  payload.insert(payload.end(), uds.begin(), uds.end());
  return encode_message(PayloadType::diagnostic_message, payload);
}

}  // namespace

TEST_CASE("DoIP header encodes big-endian with the inverted version", "[doip]") {
  auto header = encode_header(PayloadType::diagnostic_message, 0x00010203);
  CHECK(header == std::array<std::uint8_t, 8>{0x02, 0xFD, 0x80, 0x01, 0x00, 0x01, 0x02, 0x03});
  Header decoded = decode_header(header);
  CHECK(decoded.version == 0x02);
  CHECK(decoded.inverse_version == 0xFD);
  CHECK(decoded.payload_type == 0x8001);
  CHECK(decoded.payload_length == 0x00010203);

  auto v3 = encode_header(PayloadType::alive_check_request, 0, 0x03);
  CHECK(v3[0] == 0x03);
  CHECK(v3[1] == 0xFC);
}

TEST_CASE("DoIP message encoding puts the payload after the header", "[doip]") {
  Bytes payload{0x0E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  Bytes message = encode_message(PayloadType::routing_activation_request, payload);
  REQUIRE(message.size() == 15);
  CHECK(Bytes(message.begin(), message.begin() + 8) == Bytes{0x02, 0xFD, 0x00, 0x05, 0x00, 0x00, 0x00, 0x07});
  CHECK(Bytes(message.begin() + 8, message.end()) == payload);
  auto header = decode_header(std::span<const std::uint8_t, 8>(message.data(), 8));
  CHECK_FALSE(check_header(header, 0x1000).has_value());
}

TEST_CASE("DoIP header checks follow the generic header handler", "[doip]") {
  auto problem_of = [](Header h, std::uint32_t max = 0x1000) { return check_header(h, max); };
  Header good{0x02, 0xFD, 0x8001, 10};
  CHECK_FALSE(problem_of(good));

  SECTION("inverse version mismatch closes the socket") {
    auto p = problem_of(Header{0x02, 0xFC, 0x8001, 10});
    REQUIRE(p);
    CHECK(p->code == GenericNack::incorrect_pattern);
    CHECK(p->action == NackAction::close_socket);
  }
  SECTION("unsupported protocol versions are an incorrect pattern") {
    for (std::uint8_t version : {0x00, 0x04, 0xFE}) {
      auto p = problem_of(Header{version, static_cast<std::uint8_t>(~version), 0x8001, 10});
      REQUIRE(p);
      CHECK(p->code == GenericNack::incorrect_pattern);
    }
    for (std::uint8_t version : {0x01, 0x02, 0x03}) {
      CHECK_FALSE(problem_of(Header{version, static_cast<std::uint8_t>(~version), 0x8001, 10}));
    }
  }
  SECTION("unknown payload type is discarded") {
    auto p = problem_of(Header{0x02, 0xFD, 0x1234, 3});
    REQUIRE(p);
    CHECK(p->code == GenericNack::unknown_payload_type);
    CHECK(p->action == NackAction::discard_message);
  }
  SECTION("oversize message is discarded") {
    auto p = problem_of(Header{0x02, 0xFD, 0x8001, 0x1001});
    REQUIRE(p);
    CHECK(p->code == GenericNack::message_too_large);
    CHECK(p->action == NackAction::discard_message);
  }
  SECTION("a payload length wrong for its type closes the socket") {
    struct Case {
      std::uint16_t type;
      std::uint32_t length;
    };
    for (Case c : {Case{0x0000, 0}, Case{0x0005, 8}, Case{0x0006, 10}, Case{0x0007, 1}, Case{0x0008, 3},
                   Case{0x4001, 2}, Case{0x4002, 4}, Case{0x8001, 4}, Case{0x8002, 4}, Case{0x8003, 0}}) {
      auto p = problem_of(Header{0x02, 0xFD, c.type, c.length});
      INFO("type " << c.type << " length " << c.length);
      REQUIRE(p);
      CHECK(p->code == GenericNack::invalid_payload_length);
      CHECK(p->action == NackAction::close_socket);
    }
    for (Case c : {Case{0x0005, 7}, Case{0x0005, 11}, Case{0x0006, 9}, Case{0x0006, 13}, Case{0x4002, 3},
                   Case{0x4002, 7}, Case{0x8001, 5}, Case{0x8002, 5}, Case{0x8003, 9}}) {
      CHECK_FALSE(problem_of(Header{0x02, 0xFD, c.type, c.length}));
    }
  }
}

TEST_CASE("DoIP code names are spelled out with their value", "[doip]") {
  CHECK(routing_activation_code_name(0x06) == "unsupported routing activation type (0x06)");
  CHECK(routing_activation_code_name(0x00) == "unknown source address (0x00)");
  CHECK(routing_activation_code_name(0x10) == "successfully activated (0x10)");
  CHECK(diag_nack_name(0x03) == "unknown target address (0x03)");
  CHECK(diag_nack_name(0x06) == "target unreachable (0x06)");
  CHECK(generic_nack_name(0x02) == "message too large (0x02)");
  CHECK(payload_type_name(0x8001) == "diagnostic message (0x8001)");
  CHECK(payload_type_name(0x1234) == "payload type 0x1234");
  CHECK(diag_nack_name(0x42).find("(0x42)") != std::string::npos);
}

TEST_CASE("DoIP stream reader splits a byte stream into messages", "[doip]") {
  Bytes first = diag(0x0010, 0x0E00, {0x62, 0xF1, 0x89, 0x31});
  Bytes second = encode_message(PayloadType::alive_check_request, {});
  Bytes third = diag(0x0010, 0x0E00, Bytes(70000, 0xA5));
  Bytes stream = concat(concat(first, second), third);

  for (std::size_t chunk : {std::size_t{1}, std::size_t{3}, std::size_t{8}, std::size_t{13}, std::size_t{4096},
                            stream.size()}) {
    INFO("chunk " << chunk);
    StreamReader reader(0x20000);
    std::vector<Bytes> payloads;
    std::vector<std::uint16_t> types;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      std::size_t n = std::min(chunk, stream.size() - at);
      feed(reader, ByteView(stream.data() + at, n));
      for (;;) {
        auto event = reader.next();
        REQUIRE(event.kind != StreamReader::Event::Kind::bad_header);
        if (event.kind == StreamReader::Event::Kind::need_more) break;
        types.push_back(event.message.header.payload_type);
        payloads.emplace_back(event.message.payload.begin(), event.message.payload.end());
      }
    }
    REQUIRE(types == std::vector<std::uint16_t>{0x8001, 0x0007, 0x8001});
    CHECK(payloads[0] == Bytes(first.begin() + 8, first.end()));
    CHECK(payloads[1].empty());
    CHECK(payloads[2] == Bytes(third.begin() + 8, third.end()));
  }
}

TEST_CASE("DoIP stream reader discards unknown and oversize messages and carries on", "[doip]") {
  Bytes unknown = concat(raw_header(0x02, 0xFD, 0x1234, 5), Bytes{1, 2, 3, 4, 5});
  Bytes oversize = concat(raw_header(0x02, 0xFD, 0x8001, 300), Bytes(300, 0x77));
  Bytes good = diag(0x0010, 0x0E00, {0x50, 0x01});
  Bytes stream = concat(concat(unknown, oversize), good);

  for (std::size_t chunk : {std::size_t{1}, std::size_t{7}, stream.size()}) {
    INFO("chunk " << chunk);
    StreamReader reader(256);
    std::vector<GenericNack> problems;
    std::vector<Bytes> payloads;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      feed(reader, ByteView(stream.data() + at, std::min(chunk, stream.size() - at)));
      for (;;) {
        auto event = reader.next();
        if (event.kind == StreamReader::Event::Kind::need_more) break;
        if (event.kind == StreamReader::Event::Kind::bad_header) {
          CHECK(event.problem.action == NackAction::discard_message);
          problems.push_back(event.problem.code);
          continue;
        }
        payloads.emplace_back(event.message.payload.begin(), event.message.payload.end());
      }
    }
    CHECK(problems == std::vector<GenericNack>{GenericNack::unknown_payload_type, GenericNack::message_too_large});
    REQUIRE(payloads.size() == 1);
    CHECK(payloads[0] == Bytes{0x00, 0x10, 0x0E, 0x00, 0x50, 0x01});
    CHECK_FALSE(reader.broken());
  }
}

TEST_CASE("DoIP stream reader stops at a broken pattern or payload length", "[doip]") {
  SECTION("bad inverse version") {
    StreamReader reader(256);
    feed(reader, concat(raw_header(0x02, 0x02, 0x8001, 5), diag(0x0010, 0x0E00, {0x50})));
    auto event = reader.next();
    REQUIRE(event.kind == StreamReader::Event::Kind::bad_header);
    CHECK(event.problem.code == GenericNack::incorrect_pattern);
    CHECK(event.problem.action == NackAction::close_socket);
    CHECK(reader.broken());
    CHECK(reader.next().kind == StreamReader::Event::Kind::need_more);
  }
  SECTION("invalid payload length") {
    StreamReader reader(256);
    feed(reader, concat(raw_header(0x02, 0xFD, 0x0008, 1), Bytes{0x0E}));
    auto event = reader.next();
    REQUIRE(event.kind == StreamReader::Event::Kind::bad_header);
    CHECK(event.problem.code == GenericNack::invalid_payload_length);
    CHECK(reader.broken());
  }
  SECTION("a partial header waits for more") {
    StreamReader reader(256);
    feed(reader, Bytes{0x02, 0xFD, 0x80});
    CHECK(reader.next().kind == StreamReader::Event::Kind::need_more);
  }
}

TEST_CASE("DoIP receive with no time left still takes what the socket holds", "[doip]") {
  // The UDS client drains answers to requests it gave up on with receive(0 ms) before it sends the
  // next request: they must come out of the socket, not wait there to be taken for its answer.
  constexpr std::uint16_t k_ecu = 0x0010;
  DoipServerOptions options;
  options.port = 0;
  options.ecu_addresses = {k_ecu};
  DoipServer server(options, [](std::uint16_t, ByteView, DoipResponder& out) {
    std::this_thread::sleep_for(30ms);  // after the ACK, in a TCP segment of its own
    (void)out.send(Bytes{0x71, 0x01, 0xFF, 0x00, 0x00});  // the late answer to an erase
  });
  REQUIRE(server.start());
  DoipOptions client;
  client.port = server.port();
  client.ecu_address = k_ecu;
  auto link = connect_doip(client);
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x31, 0x01, 0xFF, 0x00}));
  std::this_thread::sleep_for(100ms);  // the answer is in the socket now
  auto stale = (*link)->receive(0ms);
  REQUIRE(stale);
  CHECK(*stale == Bytes{0x71, 0x01, 0xFF, 0x00, 0x00});
  auto nothing = (*link)->receive(0ms);
  REQUIRE_FALSE(nothing);
  CHECK(nothing.error().code == Errc::timeout);
  link->reset();
  server.stop();
}

TEST_CASE("DoIP link over a connected socket: what the entity wrote, then its end", "[doip]") {
  // fuzz/doip_fuzz.cpp meets the tester link this way: the gateway's bytes wait in a socketpair.
  int ends[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  Bytes activation(9);
  put_u16(&activation[0], 0x0E00);
  put_u16(&activation[2], 0x0010);
  activation[4] = 0x10;
  Bytes status = {0x00, 0x10, 0x01, 0x00, 0x00, 0x10, 0x04};
  Bytes stream = concat(encode_message(PayloadType::routing_activation_response, activation),
                        encode_message(PayloadType::entity_status_response, status));
  stream = concat(stream, diag(0x0010, 0x0E00, {0x62, 0xF1, 0x89, 0x31}));
  REQUIRE(::write(ends[1], stream.data(), stream.size()) == static_cast<ssize_t>(stream.size()));
  REQUIRE(::shutdown(ends[1], SHUT_WR) == 0);
  auto link = connect_doip_socket(ends[0], DoipOptions{});
  REQUIRE(link);
  CHECK((*link)->max_message_size() == 0x1000);
  auto answer = (*link)->receive(100ms);
  REQUIRE(answer);
  CHECK(*answer == Bytes{0x62, 0xF1, 0x89, 0x31});
  auto closed = (*link)->receive(100ms);
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code == Errc::network);
  ::close(ends[1]);
}
