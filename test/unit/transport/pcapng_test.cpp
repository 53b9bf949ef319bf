#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "support/can_frame.hpp"
#include "support/temp_dir.hpp"
#include "transport/bus.hpp"
#include "transport/doip.hpp"
#include "transport/doip_server.hpp"
#include "transport/pcapng.hpp"
#include "transport/trace.hpp"

using namespace ecuup;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

const system_clock::time_point k_when{seconds(1436509052) + microseconds(249713)};
const std::uint64_t k_when_micros = 1436509052ULL * 1'000'000 + 249713;

std::uint32_t u32_at(const Bytes& b, std::size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
std::uint16_t u16_at(const Bytes& b, std::size_t at) {
  std::uint16_t v = 0;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}
std::uint16_t be16_at(const Bytes& b, std::size_t at) { return static_cast<std::uint16_t>((b[at] << 8) | b[at + 1]); }
std::uint32_t be32_at(const Bytes& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct Block {
  std::uint32_t type = 0;
  Bytes body;  // the whole block, both length fields included
};

// Walks a pcapng byte stream by its block lengths; fails the test on a torn or inconsistent block.
std::vector<Block> blocks_of(const Bytes& file) {
  std::vector<Block> out;
  std::size_t at = 0;
  while (at < file.size()) {
    REQUIRE(file.size() - at >= 12);
    const std::uint32_t length = u32_at(file, at + 4);
    REQUIRE(length % 4 == 0);
    REQUIRE(length >= 12);
    REQUIRE(at + length <= file.size());
    REQUIRE(u32_at(file, at + length - 4) == length);
    out.push_back(Block{u32_at(file, at), Bytes(file.begin() + static_cast<std::ptrdiff_t>(at),
                                                 file.begin() + static_cast<std::ptrdiff_t>(at + length))});
    at += length;
  }
  return out;
}

// Options of a block from `at` to the trailing length: code -> value.
std::vector<std::pair<std::uint16_t, Bytes>> options_of(const Bytes& block, std::size_t at) {
  std::vector<std::pair<std::uint16_t, Bytes>> out;
  while (at + 4 <= block.size() - 4) {
    const std::uint16_t code = u16_at(block, at);
    const std::uint16_t length = u16_at(block, at + 2);
    out.emplace_back(code, Bytes(block.begin() + static_cast<std::ptrdiff_t>(at + 4),
                                 block.begin() + static_cast<std::ptrdiff_t>(at + 4 + length)));
    if (code == pcapng::k_opt_end) break;
    at += 4 + (length + 3u) / 4 * 4;
  }
  return out;
}

// An Enhanced Packet Block's packet bytes.
Bytes packet_of(const Block& block) {
  const std::uint32_t captured = u32_at(block.body, 20);
  return Bytes(block.body.begin() + 28, block.body.begin() + 28 + captured);
}

std::string text_of(const Bytes& bytes) { return std::string(bytes.begin(), bytes.end()); }

using test::frame_of;

// RFC 1071: the one's-complement sum over a header that carries its checksum is 0xFFFF.
std::uint16_t ones_sum(const std::uint8_t* data, std::size_t size, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < size; i += 2) sum += static_cast<std::uint32_t>((data[i] << 8) | data[i + 1]);
  if (size % 2) sum += static_cast<std::uint32_t>(data[size - 1] << 8);
  while (sum >> 16) sum = (sum & 0xFFFF) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

struct Segment {
  std::array<std::uint8_t, 4> src{}, dst{};
  std::uint16_t src_port = 0, dst_port = 0;
  std::uint32_t seq = 0, ack = 0;
  std::uint8_t flags = 0;
  Bytes payload;
};

Segment parse_segment(const Bytes& packet) {
  REQUIRE(packet.size() >= 40);
  CHECK(packet[0] == 0x45);
  CHECK(be16_at(packet, 2) == packet.size());
  CHECK(packet[9] == 6);
  CHECK(ones_sum(packet.data(), 20) == 0xFFFF);
  Segment s;
  std::copy_n(packet.begin() + 12, 4, s.src.begin());
  std::copy_n(packet.begin() + 16, 4, s.dst.begin());
  s.src_port = be16_at(packet, 20);
  s.dst_port = be16_at(packet, 22);
  s.seq = be32_at(packet, 24);
  s.ack = be32_at(packet, 28);
  s.flags = packet[33];
  s.payload.assign(packet.begin() + 40, packet.end());
  // TCP checksum with the pseudo header.
  std::uint32_t pseudo = 6 + static_cast<std::uint32_t>(packet.size() - 20);
  pseudo += ones_sum(packet.data() + 12, 8);
  CHECK(ones_sum(packet.data() + 20, packet.size() - 20, pseudo) == 0xFFFF);
  return s;
}

constexpr std::uint8_t k_syn = 0x02, k_fin = 0x01, k_ack = 0x10, k_psh = 0x08;

}  // namespace

TEST_CASE("pcapng section header block layout", "[transport][pcapng]") {
  const Bytes shb = pcapng::section_header_block("ecuup");
  REQUIRE(shb.size() % 4 == 0);
  CHECK(u32_at(shb, 0) == 0x0A0D0D0A);
  CHECK(u32_at(shb, 4) == shb.size());
  CHECK(u32_at(shb, shb.size() - 4) == shb.size());
  CHECK(u32_at(shb, 8) == 0x1A2B3C4D);
  CHECK(u16_at(shb, 12) == 1);
  CHECK(u16_at(shb, 14) == 0);
  std::uint64_t section_length = 0;
  std::memcpy(&section_length, shb.data() + 16, 8);
  CHECK(section_length == ~std::uint64_t{0});  // unknown
  auto options = options_of(shb, 24);
  REQUIRE(options.size() == 2);
  CHECK(options[0].first == pcapng::k_opt_shb_userappl);
  CHECK(text_of(options[0].second) == "ecuup");
  CHECK(options[1].first == pcapng::k_opt_end);
  // "ecuup" is 5 bytes: padded to 8, so 24 + 4 + 8 + 4 (end) + 4 (length).
  CHECK(shb.size() == 44);
}

TEST_CASE("pcapng interface description blocks for both link types", "[transport][pcapng]") {
  for (auto [type, name] : {std::pair<std::uint16_t, std::string>{pcapng::k_linktype_can_socketcan, "vcan0"},
                            {pcapng::k_linktype_ipv4, "doip 127.0.0.1:13400"},
                            {pcapng::k_linktype_ipv4, "abcd"}}) {
    const Bytes idb = pcapng::interface_description_block(type, name);
    REQUIRE(idb.size() % 4 == 0);
    CHECK(u32_at(idb, 0) == 1);
    CHECK(u32_at(idb, 4) == idb.size());
    CHECK(u32_at(idb, idb.size() - 4) == idb.size());
    CHECK(u16_at(idb, 8) == type);
    CHECK(u16_at(idb, 10) == 0);
    CHECK(u32_at(idb, 12) == 0);  // snaplen: no limit
    auto options = options_of(idb, 16);
    REQUIRE(options.size() == 3);
    CHECK(options[0].first == pcapng::k_opt_if_name);
    CHECK(text_of(options[0].second) == name);
    CHECK(options[1].first == pcapng::k_opt_if_tsresol);
    CHECK(options[1].second == Bytes{6});  // microseconds
    CHECK(options[2].first == pcapng::k_opt_end);
  }
  CHECK(pcapng::k_linktype_can_socketcan == 227);
  CHECK(pcapng::k_linktype_ipv4 == 228);
}

TEST_CASE("pcapng enhanced packet blocks pad the data to 32 bits and stamp microseconds", "[transport][pcapng]") {
  for (std::size_t size = 0; size <= 9; ++size) {
    Bytes data(size);
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<std::uint8_t>(0xA0 + i);
    // Split in two parts: the block holds their concatenation.
    const std::size_t cut = size / 2;
    const std::array<ByteView, 2> parts{ByteView(data.data(), cut), ByteView(data.data() + cut, size - cut)};
    const Bytes epb = pcapng::enhanced_packet_block(3, k_when, parts);
    const std::size_t padded = (size + 3) / 4 * 4;
    CAPTURE(size);
    CHECK(epb.size() == pcapng::k_epb_overhead + padded);
    CHECK(u32_at(epb, 0) == 6);
    CHECK(u32_at(epb, 4) == epb.size());
    CHECK(u32_at(epb, epb.size() - 4) == epb.size());
    CHECK(u32_at(epb, 8) == 3);
    CHECK(((std::uint64_t{u32_at(epb, 12)} << 32) | u32_at(epb, 16)) == k_when_micros);
    CHECK(u32_at(epb, 20) == size);
    CHECK(u32_at(epb, 24) == size);
    CHECK(Bytes(epb.begin() + 28, epb.begin() + 28 + static_cast<std::ptrdiff_t>(size)) == data);
    for (std::size_t i = size; i < padded; ++i) CHECK(epb[28 + i] == 0);
  }
  // Before the epoch there is nothing sensible to stamp: zero, not a wrapped huge number.
  const Bytes early = pcapng::enhanced_packet_block(0, system_clock::time_point{} - 5s, {});
  CHECK(u32_at(early, 12) == 0);
  CHECK(u32_at(early, 16) == 0);
}

TEST_CASE("pcapng SocketCAN packets: id in network byte order, EFF flag, FD flags", "[transport][pcapng]") {
  std::array<std::uint8_t, 72> out{};
  SECTION("classic 11-bit") {
    REQUIRE(pcapng::encode_socketcan_packet(frame_of(0x7E0, {0x02, 0x10, 0x02}), out) == 16);
    CHECK(Bytes(out.begin(), out.begin() + 16) ==
          Bytes{0x00, 0x00, 0x07, 0xE0, 3, 0, 0, 0, 0x02, 0x10, 0x02, 0, 0, 0, 0, 0});
  }
  SECTION("classic 29-bit sets CAN_EFF_FLAG") {
    REQUIRE(pcapng::encode_socketcan_packet(frame_of(0x18DA10F1, {0x3E}, false, true), out) == 16);
    CHECK(Bytes(out.begin(), out.begin() + 6) == Bytes{0x98, 0xDA, 0x10, 0xF1, 1, 0});
  }
  SECTION("FD with bit-rate switch: 72 bytes, CANFD_FDF | CANFD_BRS") {
    CanFrame f = frame_of(0x123, {}, true, false, true);
    f.len = 64;
    for (std::size_t i = 0; i < 64; ++i) f.data[i] = static_cast<std::uint8_t>(i);
    REQUIRE(pcapng::encode_socketcan_packet(f, out) == 72);
    CHECK(out[4] == 64);
    CHECK(out[5] == 0x05);
    CHECK(out[8] == 0);
    CHECK(out[71] == 63);
  }
  SECTION("a classic frame never spills past its 8 data bytes") {
    CanFrame f = frame_of(0x1, {});
    f.len = 12;  // invalid for classic CAN; the image still holds at most 8
    REQUIRE(pcapng::encode_socketcan_packet(f, out) == 16);
    CHECK(out[4] == 8);
  }
}

TEST_CASE("pcapng trace names: only .pcapng selects the format", "[transport][pcapng]") {
  CHECK(pcapng::is_pcapng_path("x.pcapng"));
  CHECK(pcapng::is_pcapng_path("/tmp/dir.d/Trace.PCAPNG"));
  CHECK_FALSE(pcapng::is_pcapng_path("x.log"));
  CHECK_FALSE(pcapng::is_pcapng_path("x.pcap"));
  CHECK_FALSE(pcapng::is_pcapng_path("pcapng"));
  CHECK_FALSE(pcapng::is_pcapng_path("x.pcapng.log"));
}

TEST_CASE("pcapng writer: CAN frames through a traced bus", "[transport][pcapng]") {
  test::TempDir dir;
  const auto file = dir / "can.pcapng";
  auto [a, b] = make_memory_bus_pair();
  {
    auto traced = make_traced_bus(a, file, "udp20001");
    REQUIRE(traced);
    REQUIRE((*traced)->send(frame_of(0x7E0, {0x02, 0x10, 0x02})));
    REQUIRE(b->send(frame_of(0x7E8, {0x02, 0x50, 0x02})));
    REQUIRE((*traced)->receive(100ms));
  }  // closing the bus flushes the trace
  auto blocks = blocks_of(read_file(file));
  REQUIRE(blocks.size() == 4);
  CHECK(blocks[0].type == pcapng::k_block_section_header);
  CHECK(blocks[1].type == pcapng::k_block_interface_description);
  CHECK(u16_at(blocks[1].body, 8) == pcapng::k_linktype_can_socketcan);
  CHECK(text_of(options_of(blocks[1].body, 16)[0].second) == "udp20001");
  CHECK(blocks[2].type == pcapng::k_block_enhanced_packet);
  CHECK(packet_of(blocks[2]) == Bytes{0, 0, 0x07, 0xE0, 3, 0, 0, 0, 0x02, 0x10, 0x02, 0, 0, 0, 0, 0});
  CHECK(packet_of(blocks[3]) == Bytes{0, 0, 0x07, 0xE8, 3, 0, 0, 0, 0x02, 0x50, 0x02, 0, 0, 0, 0, 0});
}

TEST_CASE("pcapng writer: two links share one file, one section, one interface each", "[transport][pcapng]") {
  test::TempDir dir;
  const auto file = dir / "shared.pcapng";
  auto first = PcapngWriter::shared(file);
  auto again = PcapngWriter::shared(dir.path() / "." / "shared.pcapng");
  REQUIRE(first);
  REQUIRE(again);
  CHECK(first->get() == again->get());  // the same writer, whatever the spelling of the path

  auto [a, b] = make_memory_bus_pair();
  auto can = make_traced_bus(a, file, "vcan0");
  REQUIRE(can);
  auto other = make_traced_bus(b, file, "vcan1");
  REQUIRE(other);
  REQUIRE((*can)->send(frame_of(0x100, {1})));
  REQUIRE((*other)->send(frame_of(0x200, {2})));
  {
    TcpStreamTrace stream(*first, "doip", TcpEndpoint{{127, 0, 0, 1}, 40000}, TcpEndpoint{{127, 0, 0, 1}, 13400});
    const Bytes message{1, 2, 3};
    const ByteView part(message);
    stream.segment(TcpStreamTrace::Direction::client_to_server, std::span<const ByteView>(&part, 1));
  }
  // The same name and type again reuses the interface (a reconnecting link).
  CHECK((*first)->interface(pcapng::k_linktype_can_socketcan, "vcan0") == 0);
  CHECK((*first)->interface(pcapng::k_linktype_ipv4, "doip") == 2);
  (*first)->flush();

  auto blocks = blocks_of(read_file(file));
  std::vector<std::uint32_t> types;
  for (const auto& block : blocks) types.push_back(block.type);
  CHECK(std::count(types.begin(), types.end(), pcapng::k_block_section_header) == 1);
  CHECK(types[0] == pcapng::k_block_section_header);
  std::vector<std::uint16_t> link_types;
  std::vector<std::uint32_t> used;
  for (const auto& block : blocks) {
    if (block.type == pcapng::k_block_interface_description) link_types.push_back(u16_at(block.body, 8));
    if (block.type == pcapng::k_block_enhanced_packet) {
      const std::uint32_t id = u32_at(block.body, 8);
      CHECK(id < link_types.size());  // every packet's interface was described before it
      used.push_back(id);
    }
  }
  CHECK(link_types == std::vector<std::uint16_t>{pcapng::k_linktype_can_socketcan, pcapng::k_linktype_can_socketcan,
                                                 pcapng::k_linktype_ipv4});
  // vcan0 frame, vcan1 frame, then 3 handshake + 1 data + 3 closing segments on the DoIP interface.
  CHECK(used == std::vector<std::uint32_t>{0, 1, 2, 2, 2, 2, 2, 2, 2});
}

TEST_CASE("pcapng writer: a file written in whole blocks, a second writer appends a section", "[transport][pcapng]") {
  test::TempDir dir;
  const auto file = dir / "t.pcapng";
  {
    auto writer = PcapngWriter::open(file);
    REQUIRE(writer);
    // Right after opening the file is already a valid, if empty, trace.
    CHECK(blocks_of(read_file(file)).size() == 1);
    const auto id = (*writer)->interface(pcapng::k_linktype_can_socketcan, "can0");
    std::array<std::uint8_t, 72> image{};
    const auto size = pcapng::encode_socketcan_packet(frame_of(0x7E0, {1, 2, 3, 4, 5, 6, 7, 8}), image);
    const ByteView part(image.data(), size);
    // The buffer fills several times over: every write() carries whole blocks.
    for (int i = 0; i < 5000; ++i) (*writer)->packet(id, k_when + microseconds(i), std::span<const ByteView>(&part, 1));
    (*writer)->flush();
    CHECK(blocks_of(read_file(file)).size() == 1 + 1 + 5000);
  }
  {
    auto writer = PcapngWriter::open(file);
    REQUIRE(writer);
  }
  auto blocks = blocks_of(read_file(file));
  REQUIRE(blocks.size() == 1 + 1 + 5000 + 1);
  CHECK(blocks.back().type == pcapng::k_block_section_header);
  const auto& last_packet = blocks[blocks.size() - 2];
  CHECK(((std::uint64_t{u32_at(last_packet.body, 12)} << 32) | u32_at(last_packet.body, 16)) == k_when_micros + 4999);
}

TEST_CASE("pcapng writer: buffered blocks reach the disk within moments without a flush", "[transport][pcapng]") {
  test::TempDir dir;
  const auto file = dir / "idle.pcapng";
  auto writer = PcapngWriter::open(file);
  REQUIRE(writer);
  const auto id = (*writer)->interface(pcapng::k_linktype_ipv4, "doip");
  const Bytes data{1, 2, 3};
  const ByteView part(data);
  (*writer)->packet(id, k_when, std::span<const ByteView>(&part, 1));
  // A link now waits on a slow ECU: nothing else is written, yet the flusher thread puts the
  // packet on disk (polled with a generous bound; no assertion on how fast).
  std::size_t blocks = 0;
  for (int i = 0; i < 100 && blocks < 3; ++i) {
    std::this_thread::sleep_for(50ms);
    blocks = blocks_of(read_file(file)).size();
  }
  CHECK(blocks == 3);
}

TEST_CASE("pcapng writer: an unwritable path is an io error", "[transport][pcapng]") {
  test::TempDir dir;
  auto writer = PcapngWriter::open(dir / "no" / "such" / "dir.pcapng");
  REQUIRE_FALSE(writer);
  CHECK(writer.error().code == Errc::io);
  auto shared = PcapngWriter::shared(dir / "no" / "such" / "dir.pcapng");
  REQUIRE_FALSE(shared);
  CHECK(shared.error().code == Errc::io);
  auto traced = make_traced_bus(make_memory_bus_pair().first, dir / "missing" / "x.pcapng", "vcan0");
  REQUIRE_FALSE(traced);
  CHECK(traced.error().code == Errc::io);
}

TEST_CASE("pcapng TCP stream: handshake, sequence and ack numbers per direction, FIN", "[transport][pcapng]") {
  test::TempDir dir;
  const auto file = dir / "tcp.pcapng";
  const TcpEndpoint tester{{127, 0, 0, 1}, 41234};
  const TcpEndpoint entity{{127, 0, 0, 2}, 13400};
  const Bytes request(100, 0x11);
  const Bytes response(70000, 0x22);  // beyond one IPv4 packet: split in two segments
  {
    auto writer = PcapngWriter::open(file);
    REQUIRE(writer);
    TcpStreamTrace stream(*writer, "doip", tester, entity, k_when);
    const std::array<ByteView, 2> parts{ByteView(request.data(), 8), ByteView(request.data() + 8, 92)};
    stream.segment(TcpStreamTrace::Direction::client_to_server, parts, k_when);
    const ByteView whole(response);
    stream.segment(TcpStreamTrace::Direction::server_to_client, std::span<const ByteView>(&whole, 1), k_when);
    stream.segment(TcpStreamTrace::Direction::client_to_server, parts, k_when);
  }
  std::vector<Segment> segments;
  for (const auto& block : blocks_of(read_file(file)))
    if (block.type == pcapng::k_block_enhanced_packet) segments.push_back(parse_segment(packet_of(block)));
  REQUIRE(segments.size() == 3 + 1 + 2 + 1 + 3);

  const auto& syn = segments[0];
  const auto& syn_ack = segments[1];
  CHECK(syn.flags == k_syn);
  CHECK(syn.src == tester.ipv4);
  CHECK(syn.dst == entity.ipv4);
  CHECK(syn.src_port == 41234);
  CHECK(syn.dst_port == 13400);
  CHECK(syn_ack.flags == (k_syn | k_ack));
  CHECK(syn_ack.ack == syn.seq + 1);
  CHECK(segments[2].flags == k_ack);

  const std::uint32_t client_isn = syn.seq;
  const std::uint32_t server_isn = syn_ack.seq;
  const auto& req1 = segments[3];
  CHECK(req1.flags == (k_psh | k_ack));
  CHECK(req1.seq == client_isn + 1);
  CHECK(req1.ack == server_isn + 1);
  CHECK(req1.payload == request);
  const auto& resp_a = segments[4];
  const auto& resp_b = segments[5];
  CHECK(resp_a.src_port == 13400);
  CHECK(resp_a.dst_port == 41234);
  CHECK(resp_a.seq == server_isn + 1);
  CHECK(resp_a.ack == client_isn + 1 + 100);
  CHECK(resp_a.payload.size() == 65495);
  CHECK(resp_b.seq == resp_a.seq + 65495);
  CHECK(resp_a.payload.size() + resp_b.payload.size() == response.size());
  const auto& req2 = segments[6];
  CHECK(req2.seq == client_isn + 1 + 100);
  CHECK(req2.ack == server_isn + 1 + 70000);
  CHECK(segments[7].flags == (k_fin | k_ack));
  CHECK(segments[7].seq == client_isn + 1 + 200);
  CHECK(segments[8].flags == (k_fin | k_ack));
  CHECK(segments[8].ack == client_isn + 1 + 200 + 1);
  CHECK(segments[9].flags == k_ack);
  CHECK(segments[9].ack == server_isn + 1 + 70000 + 1);
}

namespace {

struct RecordedMessage {
  DoipTraceHook::Direction direction;
  Bytes bytes;
};

class RecordingHook final : public DoipTraceHook {
 public:
  explicit RecordingHook(std::vector<RecordedMessage>& out) : m_out(out) {}
  void message(Direction direction, std::span<const ByteView> parts) override {
    Bytes whole;
    for (const auto& part : parts) whole.insert(whole.end(), part.begin(), part.end());
    m_out.push_back({direction, std::move(whole)});
  }

 private:
  std::vector<RecordedMessage>& m_out;
};

DoipServerOptions server_options() {
  DoipServerOptions options;
  options.port = 0;
  options.ecu_addresses = {0x0010};
  return options;
}

DoipOptions client_options(std::uint16_t port) {
  DoipOptions options;
  options.port = port;
  options.tester_address = 0x0E80;
  options.ecu_address = 0x0010;
  options.ack_timeout = 1000ms;
  options.connect_timeout = 1000ms;
  return options;
}

void echo(std::uint16_t, ByteView request, DoipResponder& out) {
  Bytes answer(request.begin(), request.end());
  answer[0] = static_cast<std::uint8_t>(answer[0] + 0x40);
  (void)out.send(answer);
}

}  // namespace

TEST_CASE("DoIP trace hook sees every whole message both ways", "[doip][pcapng]") {
  DoipServer server(server_options(), echo);
  REQUIRE(server.start());
  std::vector<RecordedMessage> seen;
  DoipConnectionEnds ends_seen;
  auto options = client_options(server.port());
  options.trace = [&](const DoipConnectionEnds& ends) {
    ends_seen = ends;
    return std::unique_ptr<DoipTraceHook>(std::make_unique<RecordingHook>(seen));
  };
  auto link = connect_doip(options);
  REQUIRE(link);
  REQUIRE((*link)->send(Bytes{0x22, 0xF1, 0x89}));
  auto answer = (*link)->receive(1000ms);
  REQUIRE(answer);
  CHECK(ends_seen.peer_port == server.port());
  CHECK(ends_seen.local_port != 0);
  CHECK(ends_seen.local_ipv4 == std::array<std::uint8_t, 4>{127, 0, 0, 1});

  using D = DoipTraceHook::Direction;
  auto type_of = [](const Bytes& m) { return static_cast<std::uint16_t>((m[2] << 8) | m[3]); };
  std::vector<std::pair<D, std::uint16_t>> flow;
  for (const auto& m : seen) {
    REQUIRE(m.bytes.size() >= doip::k_header_size);
    // Each recorded message is whole: its header's payload length matches what follows.
    CHECK(doip::get_u32(m.bytes.data() + 4) == m.bytes.size() - doip::k_header_size);
    flow.emplace_back(m.direction, type_of(m.bytes));
  }
  const std::vector<std::pair<D, std::uint16_t>> want{
      {D::to_entity, 0x0005},   {D::from_entity, 0x0006},  // routing activation (entity status: UDP)
      {D::to_entity, 0x8001},   {D::from_entity, 0x8002},  // diagnostic message + ack
      {D::from_entity, 0x8001},                            // the response
  };
  CHECK(flow == want);
  CHECK(Bytes(seen[2].bytes.end() - 3, seen[2].bytes.end()) == Bytes{0x22, 0xF1, 0x89});
  CHECK(Bytes(seen[4].bytes.end() - 3, seen[4].bytes.end()) == Bytes{0x62, 0xF1, 0x89});
}

TEST_CASE("DoIP pcapng trace: the connection as IPv4/TCP with the entity on its real port", "[doip][pcapng]") {
  test::TempDir dir;
  const auto file = dir / "doip.pcapng";
  DoipServer server(server_options(), echo);
  REQUIRE(server.start());
  auto writer = PcapngWriter::open(file);
  REQUIRE(writer);
  {
    auto options = client_options(server.port());
    options.trace = make_doip_pcapng_trace(*writer, "doip test");
    auto link = connect_doip(options);
    REQUIRE(link);
    REQUIRE((*link)->send(Bytes{0x10, 0x02}));
    REQUIRE((*link)->receive(1000ms));
  }
  (*writer)->flush();
  std::vector<Segment> data;
  std::size_t interfaces = 0;
  for (const auto& block : blocks_of(read_file(file))) {
    if (block.type == pcapng::k_block_interface_description) {
      ++interfaces;
      CHECK(u16_at(block.body, 8) == pcapng::k_linktype_ipv4);
    }
    if (block.type != pcapng::k_block_enhanced_packet) continue;
    auto segment = parse_segment(packet_of(block));
    if (!segment.payload.empty()) data.push_back(segment);
  }
  CHECK(interfaces == 1);
  // Routing activation and its answer, the diagnostic message, its acknowledgement, the response
  // (the entity status goes over UDP, outside this connection).
  REQUIRE(data.size() == 5);
  CHECK(data[0].dst_port == server.port());
  CHECK(data[1].src_port == server.port());
  CHECK(data[0].src_port == data[1].dst_port);
  CHECK(data[2].payload == Bytes{0x02, 0xFD, 0x80, 0x01, 0, 0, 0, 6, 0x0E, 0x80, 0x00, 0x10, 0x10, 0x02});
  // One message per segment, and the stream has no holes: each direction's seq runs on.
  for (std::size_t i = 1; i < data.size(); ++i) {
    for (std::size_t j = i; j-- > 0;) {
      if (data[j].src_port != data[i].src_port) continue;
      CHECK(data[i].seq == data[j].seq + data[j].payload.size());
      break;
    }
  }
}

TEST_CASE("trace notices are said once and wait for a handler", "[transport][pcapng]") {
  std::vector<std::string> said;
  set_trace_notice_handler(nullptr);
  trace_notice_once("pcapng-test: before a handler");
  trace_notice_once("pcapng-test: before a handler");
  set_trace_notice_handler([&](const std::string& m) { said.push_back(m); });
  trace_notice_once("pcapng-test: with a handler");
  trace_notice_once("pcapng-test: with a handler");
  set_trace_notice_handler(nullptr);
  CHECK(said == std::vector<std::string>{"pcapng-test: before a handler", "pcapng-test: with a handler"});
}
