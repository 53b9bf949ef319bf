#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "transport/bus.hpp"
#include "transport/bus_mux.hpp"
#include "transport/bus_timing.hpp"
#include "transport/isotp.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// A single-threaded fake bus: the test queues what the peer "sends", and a hook answers frames
// the link sends (e.g. flow control). An empty queue times out at once: no test waits for real.
class ScriptedBus final : public FrameBus {
 public:
  Result<void> send(const CanFrame& frame) override {
    if (send_delay.count() > 0) std::this_thread::sleep_for(send_delay);
    sent.push_back(frame);
    sent_at.push_back(Clock::now());
    popped_before_send.push_back(popped);
    if (on_send) on_send(frame);
    return success();
  }
  Result<CanFrame> receive(std::chrono::microseconds) override {
    if (incoming.empty()) return make_error(Errc::timeout, "scripted bus: nothing queued");
    CanFrame frame = incoming.front();
    incoming.pop_front();
    ++popped;
    return frame;
  }
  std::string name() const override { return "scripted"; }

  std::deque<CanFrame> incoming;
  std::vector<CanFrame> sent;
  std::vector<Clock::time_point> sent_at;
  std::vector<std::size_t> popped_before_send;  // frames the link had read when it sent each frame
  std::size_t popped = 0;
  std::chrono::microseconds send_delay{0};
  std::function<void(const CanFrame&)> on_send;
};

CanFrame make_frame(std::uint32_t id, std::vector<std::uint8_t> bytes, bool fd = false, bool extended = false) {
  CanFrame f;
  f.id = id;
  f.extended = extended;
  f.fd = fd;
  f.brs = fd;
  f.len = static_cast<std::uint8_t>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), f.data.begin());
  return f;
}

std::vector<std::uint8_t> payload(const CanFrame& f) { return {f.data.begin(), f.data.begin() + f.len}; }

Bytes pattern(std::size_t size, std::uint8_t seed = 0) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + seed + i / 251);
  return b;
}

IsoTpOptions tester_options() {
  IsoTpOptions o;
  o.tx_id = 0x7E0;
  o.rx_id = 0x7E8;
  // Generous: the threaded tests share two busy cores; the scripted bus times out at once anyway.
  o.n_as = 3000ms;
  o.n_bs = 3000ms;
  o.n_cr = 3000ms;
  return o;
}

IsoTpOptions ecu_options(IsoTpOptions o) {
  std::swap(o.tx_id, o.rx_id);
  return o;
}

std::unique_ptr<DiagLink> link_on(std::shared_ptr<FrameBus> bus, const IsoTpOptions& o) {
  auto made = make_isotp_link(std::move(bus), o);
  REQUIRE(made.ok());
  return std::move(made).value();
}

CanFrame flow_control(std::uint8_t status, std::uint8_t bs, std::uint8_t st_min, std::uint32_t id = 0x7E8) {
  return make_frame(id, {static_cast<std::uint8_t>(0x30 | status), bs, st_min, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC});
}

// Answers a first frame with CTS(bs, st_min) and every bs-th consecutive frame with another CTS.
void answer_flow_control(ScriptedBus& bus, std::uint8_t bs, std::uint8_t st_min) {
  auto cfs = std::make_shared<unsigned>(0);
  bus.on_send = [&bus, bs, st_min, cfs](const CanFrame& f) {
    const std::uint8_t type = f.data[0] & 0xF0;
    if (type == 0x10) bus.incoming.push_back(flow_control(0, bs, st_min));
    if (type == 0x20 && bs != 0 && ++*cfs % bs == 0) bus.incoming.push_back(flow_control(0, bs, st_min));
  };
}

// Reassembles what a link sent, checking sequence numbers, for the sender-side tests.
Bytes reassemble(const std::vector<CanFrame>& frames) {
  Bytes out;
  std::size_t length = 0;
  std::uint8_t sn = 1;
  for (const CanFrame& f : frames) {
    const std::uint8_t type = f.data[0] & 0xF0;
    if (type == 0x00) {
      if ((f.data[0] & 0x0F) != 0) return Bytes(f.data.begin() + 1, f.data.begin() + 1 + (f.data[0] & 0x0F));
      return Bytes(f.data.begin() + 2, f.data.begin() + 2 + f.data[1]);
    }
    if (type == 0x10) {
      length = static_cast<std::size_t>(f.data[0] & 0x0F) << 8 | f.data[1];
      std::size_t header = 2;
      if (length == 0) {
        length = static_cast<std::size_t>(f.data[2]) << 24 | f.data[3] << 16 | f.data[4] << 8 | f.data[5];
        header = 6;
      }
      out.assign(f.data.begin() + static_cast<std::ptrdiff_t>(header), f.data.begin() + f.len);
    } else if (type == 0x20) {
      REQUIRE((f.data[0] & 0x0F) == sn);
      sn = (sn + 1) & 0x0F;
      const std::size_t take = std::min<std::size_t>(length - out.size(), f.len - 1u);
      out.insert(out.end(), f.data.begin() + 1, f.data.begin() + 1 + static_cast<std::ptrdiff_t>(take));
    }
  }
  return out;
}

std::vector<std::size_t> sizes_to_test() {
  std::vector<std::size_t> sizes;
  for (std::size_t s = 1; s <= 200; ++s) sizes.push_back(s);
  for (std::size_t s = 201; s < 5000; s += 97) sizes.push_back(s);
  for (std::size_t s : {4094u, 4095u, 4096u, 4097u, 5000u}) sizes.push_back(s);
  return sizes;
}

// Sends every size from one link and receives it on the other, over a memory bus in two threads.
void round_trip_all(const IsoTpOptions& tester, const IsoTpOptions& ecu) {
  auto [a, b] = make_memory_bus_pair();
  auto sender = link_on(a, tester);
  auto receiver = link_on(b, ecu);
  const auto sizes = sizes_to_test();
  Result<void> send_result = success();
  std::thread thread([&] {
    for (std::size_t size : sizes) {
      send_result = sender->send(pattern(size, static_cast<std::uint8_t>(size)));
      if (!send_result) return;
    }
  });
  for (std::size_t size : sizes) {
    auto got = receiver->receive(5000ms);
    if (!got) FAIL("size " << size << ": " << got.error().message);
    if (*got != pattern(size, static_cast<std::uint8_t>(size))) FAIL("size " << size << " arrived different");
  }
  thread.join();
  REQUIRE(send_result.ok());
}

}  // namespace

TEST_CASE("ISO-TP round trip of 1..5000 byte messages, classic and FD", "[transport][isotp]") {
  IsoTpOptions tester = tester_options();
  SECTION("classic, padded") { round_trip_all(tester, ecu_options(tester)); }
  SECTION("classic, unpadded, block size 3 and STmin announced by the receiver") {
    tester.padding.reset();
    IsoTpOptions ecu = ecu_options(tester);
    ecu.block_size = 3;
    round_trip_all(tester, ecu);
  }
  SECTION("CAN FD, tx_dl 64") {
    tester.fd = true;
    tester.tx_dl = 64;
    round_trip_all(tester, ecu_options(tester));
  }
  SECTION("CAN FD, tx_dl 20, unpadded") {
    tester.fd = true;
    tester.tx_dl = 20;
    tester.padding.reset();
    round_trip_all(tester, ecu_options(tester));
  }
}

TEST_CASE("ISO-TP segments and reassembles every size from 1 to 5000 bytes", "[transport][isotp]") {
  // Single-threaded: frames the sender puts on a scripted bus are fed to a receiving link.
  for (const bool fd : {false, true}) {
    IsoTpOptions tester = tester_options();
    tester.fd = fd;
    tester.tx_dl = fd ? 64 : 8;
    auto tx_bus = std::make_shared<ScriptedBus>();
    auto rx_bus = std::make_shared<ScriptedBus>();
    answer_flow_control(*tx_bus, 0, 0);
    auto sender = link_on(tx_bus, tester);
    auto receiver = link_on(rx_bus, ecu_options(tester));
    for (std::size_t size = 1; size <= 5000; ++size) {
      const Bytes message = pattern(size, static_cast<std::uint8_t>(size));
      tx_bus->sent.clear();
      tx_bus->sent_at.clear();
      tx_bus->popped_before_send.clear();
      REQUIRE(sender->send(message).ok());
      for (CanFrame f : tx_bus->sent) {
        f.id = 0x7E0;
        rx_bus->incoming.push_back(f);
      }
      auto got = receiver->receive(100ms);
      if (!got || *got != message) FAIL((fd ? "FD" : "classic") << " size " << size << " did not survive the trip");
      const std::size_t first_payload = fd ? 62 : 7;
      if (size <= first_payload) REQUIRE(tx_bus->sent.size() == 1);
    }
  }
}

TEST_CASE("ISO-TP single frames: padding, no padding, CAN FD escape", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  IsoTpOptions o = tester_options();
  SECTION("padded classic frame is 8 bytes of 0xCC fill") {
    REQUIRE(link_on(bus, o)->send(Bytes{0x22, 0xF1, 0x90}).ok());
    REQUIRE(bus->sent.size() == 1);
    CHECK(bus->sent[0].id == 0x7E0);
    CHECK_FALSE(bus->sent[0].fd);
    CHECK(payload(bus->sent[0]) == std::vector<std::uint8_t>{0x03, 0x22, 0xF1, 0x90, 0xCC, 0xCC, 0xCC, 0xCC});
  }
  SECTION("another padding byte") {
    o.padding = 0x55;
    REQUIRE(link_on(bus, o)->send(Bytes{0x3E, 0x00}).ok());
    CHECK(payload(bus->sent[0]) == std::vector<std::uint8_t>{0x02, 0x3E, 0x00, 0x55, 0x55, 0x55, 0x55, 0x55});
  }
  SECTION("without padding classic frames are shortened") {
    o.padding.reset();
    REQUIRE(link_on(bus, o)->send(Bytes{0x3E, 0x00}).ok());
    CHECK(payload(bus->sent[0]) == std::vector<std::uint8_t>{0x02, 0x3E, 0x00});
  }
  SECTION("7 bytes still fit a classic single frame") {
    REQUIRE(link_on(bus, o)->send(pattern(7)).ok());
    REQUIRE(bus->sent.size() == 1);
    CHECK(bus->sent[0].data[0] == 0x07);
  }
  SECTION("CAN FD: up to 7 bytes use the short PCI") {
    o.fd = true;
    o.tx_dl = 64;
    REQUIRE(link_on(bus, o)->send(pattern(5)).ok());
    CHECK(bus->sent[0].fd);
    CHECK(bus->sent[0].brs);
    CHECK(bus->sent[0].len == 8);
    CHECK(bus->sent[0].data[0] == 0x05);
  }
  SECTION("CAN FD: 8..62 bytes use the 00 LL escape and pad to the next DLC length") {
    o.fd = true;
    o.tx_dl = 64;
    o.padding.reset();  // padding above 8 bytes is mandatory anyway
    auto link = link_on(bus, o);
    REQUIRE(link->send(pattern(20)).ok());
    const CanFrame& f = bus->sent.back();
    CHECK(f.len == 24);
    CHECK(f.data[0] == 0x00);
    CHECK(f.data[1] == 20);
    CHECK(Bytes(f.data.begin() + 2, f.data.begin() + 22) == pattern(20));
    CHECK(f.data[22] == 0xCC);
    CHECK(f.data[23] == 0xCC);
    REQUIRE(link->send(pattern(62)).ok());
    CHECK(bus->sent.back().len == 64);
    CHECK(bus->sent.back().data[1] == 62);
    REQUIRE(link->send(pattern(8)).ok());
    CHECK(bus->sent.back().len == 12);
    CHECK(bus->sent.back().data[1] == 8);
  }
}

TEST_CASE("ISO-TP first frames: 12-bit up to 4095, 32-bit escape above", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  answer_flow_control(*bus, 0, 0);
  auto link = link_on(bus, tester_options());
  SECTION("8 bytes need a first frame") {
    REQUIRE(link->send(pattern(8)).ok());
    REQUIRE(bus->sent.size() == 2);
    CHECK(payload(bus->sent[0]) == std::vector<std::uint8_t>{0x10, 0x08, 0, 7, 14, 21, 28, 35});
    CHECK(payload(bus->sent[1]) == std::vector<std::uint8_t>{0x21, 42, 49, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC});
  }
  SECTION("4095 bytes") {
    REQUIRE(link->send(pattern(4095)).ok());
    CHECK(bus->sent[0].data[0] == 0x1F);
    CHECK(bus->sent[0].data[1] == 0xFF);
    CHECK(bus->sent.size() == 1 + (4095 - 6 + 6) / 7);
    CHECK(reassemble(bus->sent) == pattern(4095));
  }
  SECTION("4096 bytes escape to a 32-bit length") {
    REQUIRE(link->send(pattern(4096)).ok());
    CHECK(payload(bus->sent[0]) == std::vector<std::uint8_t>{0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0, 7});
    CHECK(reassemble(bus->sent) == pattern(4096));
  }
  SECTION("sequence numbers wrap 15 -> 0") {
    REQUIRE(link->send(pattern(200)).ok());
    CHECK((bus->sent[15].data[0]) == 0x2F);
    CHECK((bus->sent[16].data[0]) == 0x20);
    CHECK((bus->sent[17].data[0]) == 0x21);
  }
}

TEST_CASE("ISO-TP over CAN FD pads the last consecutive frame to a valid DLC length", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  answer_flow_control(*bus, 0, 0);
  IsoTpOptions o = tester_options();
  o.fd = true;
  o.tx_dl = 64;
  auto link = link_on(bus, o);
  // FF carries 62 bytes, then CFs of 63: 62 + 63 + 10 -> last CF has 11 bytes -> DLC length 12.
  REQUIRE(link->send(pattern(135)).ok());
  REQUIRE(bus->sent.size() == 3);
  CHECK(bus->sent[0].len == 64);
  CHECK(bus->sent[1].len == 64);
  CHECK(bus->sent[2].len == 12);
  CHECK(bus->sent[2].data[11] == 0xCC);
  CHECK(reassemble(bus->sent) == pattern(135));
  // 32-bit escape in FD: the first frame carries 58 bytes.
  bus->sent.clear();
  REQUIRE(link->send(pattern(5000)).ok());
  CHECK(bus->sent[0].data[1] == 0x00);
  CHECK(reassemble(bus->sent) == pattern(5000));
  for (const CanFrame& f : bus->sent) CHECK(valid_frame_length(f.len, true));
}

TEST_CASE("ISO-TP sender honours the receiver's block size", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  answer_flow_control(*bus, 2, 0);
  REQUIRE(link_on(bus, tester_options())->send(pattern(100)).ok());
  // 100 bytes = FF(6) + 14 CFs; FC k must have been read before CF 2k-1.
  std::size_t cf = 0;
  for (std::size_t i = 0; i < bus->sent.size(); ++i) {
    if ((bus->sent[i].data[0] & 0xF0) != 0x20) continue;
    ++cf;
    CHECK(bus->popped_before_send[i] == 1 + (cf - 1) / 2);
  }
  CHECK(cf == 14);
  CHECK(reassemble(bus->sent) == pattern(100));
}

TEST_CASE("ISO-TP sender honours STmin in ms and in 100 µs steps", "[transport][isotp]") {
  auto check_gaps = [](std::uint8_t st_min, std::chrono::microseconds expected) {
    auto bus = std::make_shared<ScriptedBus>();
    answer_flow_control(*bus, 0, st_min);
    REQUIRE(link_on(bus, tester_options())->send(pattern(40)).ok());
    REQUIRE(bus->sent.size() == 6);
    for (std::size_t i = 2; i < bus->sent.size(); ++i) CHECK(bus->sent_at[i] - bus->sent_at[i - 1] >= expected);
  };
  check_gaps(0x03, 3ms);
  check_gaps(0xF5, 500us);
  check_gaps(0xF1, 100us);
}

TEST_CASE("STmin decoding", "[transport][isotp]") {
  CHECK(decode_st_min(0x00) == 0us);
  CHECK(decode_st_min(0x01) == 1ms);
  CHECK(decode_st_min(0x7F) == 127ms);
  CHECK(decode_st_min(0xF1) == 100us);
  CHECK(decode_st_min(0xF9) == 900us);
  // Reserved values count as the longest STmin.
  CHECK(decode_st_min(0x80) == 127ms);
  CHECK(decode_st_min(0xF0) == 127ms);
  CHECK(decode_st_min(0xFA) == 127ms);
  CHECK(decode_st_min(0xFF) == 127ms);
}

TEST_CASE("ISO-TP flow control WAIT, OVFLW and invalid status", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  IsoTpOptions o = tester_options();
  o.max_wait_frames = 3;
  SECTION("WAIT frames up to the limit, then CTS") {
    bus->on_send = [&](const CanFrame& f) {
      if ((f.data[0] & 0xF0) != 0x10) return;
      for (int i = 0; i < 3; ++i) bus->incoming.push_back(flow_control(1, 0, 0));
      bus->incoming.push_back(flow_control(0, 0, 0));
    };
    REQUIRE(link_on(bus, o)->send(pattern(30)).ok());
    CHECK(reassemble(bus->sent) == pattern(30));
  }
  SECTION("too many WAIT frames give up") {
    bus->on_send = [&](const CanFrame& f) {
      if ((f.data[0] & 0xF0) != 0x10) return;
      for (int i = 0; i < 4; ++i) bus->incoming.push_back(flow_control(1, 0, 0));
    };
    auto r = link_on(bus, o)->send(pattern(30));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message.find("WAIT") != std::string::npos);
  }
  SECTION("OVFLW aborts with a protocol error") {
    bus->on_send = [&](const CanFrame& f) {
      if ((f.data[0] & 0xF0) == 0x10) bus->incoming.push_back(flow_control(2, 0, 0));
    };
    auto r = link_on(bus, o)->send(pattern(30));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::protocol);
    CHECK(bus->sent.size() == 1);
  }
  SECTION("an invalid flow status aborts") {
    bus->on_send = [&](const CanFrame& f) {
      if ((f.data[0] & 0xF0) == 0x10) bus->incoming.push_back(flow_control(5, 0, 0));
    };
    auto r = link_on(bus, o)->send(pattern(30));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::protocol);
  }
}

TEST_CASE("ISO-TP timeouts name the timer", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  IsoTpOptions o = tester_options();
  SECTION("N_Bs: no flow control after the first frame") {
    auto r = link_on(bus, o)->send(pattern(30));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message.find("N_Bs") != std::string::npos);
  }
  SECTION("N_Bs: no flow control after a block") {
    bus->on_send = [&](const CanFrame& f) {
      if ((f.data[0] & 0xF0) == 0x10) bus->incoming.push_back(flow_control(0, 2, 0));
    };
    auto r = link_on(bus, o)->send(pattern(30));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("N_Bs") != std::string::npos);
    CHECK(bus->sent.size() == 3);
  }
  SECTION("N_Cr: consecutive frames stop") {
    bus->incoming.push_back(make_frame(0x7E8, {0x10, 0x20, 1, 2, 3, 4, 5, 6}));
    bus->incoming.push_back(make_frame(0x7E8, {0x21, 1, 2, 3, 4, 5, 6, 7}));
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message.find("N_Cr") != std::string::npos);
  }
  SECTION("N_As: the bus takes too long to send a frame") {
    o.n_as = 5ms;
    bus->send_delay = 20ms;
    auto r = link_on(bus, o)->send(Bytes{0x3E, 0x00});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::timeout);
    CHECK(r.error().message.find("N_As") != std::string::npos);
  }
  SECTION("no message at all") {
    auto r = link_on(bus, o)->receive(10ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::timeout);
  }
}

TEST_CASE("ISO-TP receiver: flow control, block size, sequence numbers, overflow", "[transport][isotp]") {
  auto bus = std::make_shared<ScriptedBus>();
  IsoTpOptions o = tester_options();
  SECTION("announces our block size and STmin, and a new FC after each block") {
    o.block_size = 2;
    o.st_min = 0xF3;
    bus->incoming.push_back(make_frame(0x7E8, {0x10, 0x1B, 1, 2, 3, 4, 5, 6}));
    for (std::uint8_t sn = 1; sn <= 2; ++sn) bus->incoming.push_back(make_frame(0x7E8, {static_cast<std::uint8_t>(0x20 | sn), 7, 8, 9, 10, 11, 12, 13}));
    bus->incoming.push_back(make_frame(0x7E8, {0x23, 14, 15, 16, 17, 18, 19, 20}));
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE(r.ok());
    CHECK(r->size() == 27);
    CHECK((*r)[26] == 20);
    REQUIRE(bus->sent.size() == 2);
    CHECK(payload(bus->sent[0]) == std::vector<std::uint8_t>{0x30, 0x02, 0xF3, 0xCC, 0xCC, 0xCC, 0xCC, 0xCC});
    CHECK(bus->sent[0].id == 0x7E0);
    CHECK(bus->popped_before_send[1] == 3);  // second FC after FF + 2 CFs
  }
  SECTION("a wrong sequence number aborts") {
    bus->incoming.push_back(make_frame(0x7E8, {0x10, 0x14, 1, 2, 3, 4, 5, 6}));
    bus->incoming.push_back(make_frame(0x7E8, {0x22, 7, 8, 9, 10, 11, 12, 13}));
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::protocol);
    CHECK(r.error().message.find("sequence") != std::string::npos);
  }
  SECTION("a message above max_rx_message is answered with OVFLW") {
    o.max_rx_message = 100;
    bus->incoming.push_back(make_frame(0x7E8, {0x10, 0xC8, 1, 2, 3, 4, 5, 6}));
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::protocol);
    REQUIRE(bus->sent.size() == 1);
    CHECK(bus->sent[0].data[0] == 0x32);
  }
  SECTION("a 32-bit first frame") {
    bus->incoming.push_back(make_frame(0x7E8, {0x10, 0x00, 0x00, 0x00, 0x10, 0x01, 0xAA, 0xBB}));
    std::uint8_t sn = 1;
    std::size_t have = 2;
    while (have < 0x1001) {
      std::vector<std::uint8_t> cf{static_cast<std::uint8_t>(0x20 | sn)};
      for (int i = 0; i < 7; ++i) cf.push_back(static_cast<std::uint8_t>(have + static_cast<std::size_t>(i)));
      bus->incoming.push_back(make_frame(0x7E8, cf));
      sn = (sn + 1) & 0x0F;
      have += 7;
    }
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE(r.ok());
    CHECK(r->size() == 0x1001);
    CHECK((*r)[0] == 0xAA);
    CHECK((*r)[4096] == static_cast<std::uint8_t>(4096));
  }
  SECTION("frames with other ids, stray CF and FC are ignored") {
    bus->incoming.push_back(make_frame(0x7E9, {0x02, 0x7F, 0x10}));
    bus->incoming.push_back(make_frame(0x7E8, {0x21, 1, 2}));
    bus->incoming.push_back(make_frame(0x7E8, {0x30, 0, 0}));
    bus->incoming.push_back(make_frame(0x7E8, {0x02, 0x7E, 0x00}, false, true));  // same number, 29-bit
    bus->incoming.push_back(make_frame(0x7E8, {0x03, 0x50, 0x03, 0x00}));
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE(r.ok());
    CHECK(*r == Bytes{0x50, 0x03, 0x00});
  }
  SECTION("a new single frame during a reception replaces it") {
    bus->incoming.push_back(make_frame(0x7E8, {0x10, 0x14, 1, 2, 3, 4, 5, 6}));
    bus->incoming.push_back(make_frame(0x7E8, {0x02, 0x51, 0x01}));
    auto r = link_on(bus, o)->receive(100ms);
    REQUIRE(r.ok());
    CHECK(*r == Bytes{0x51, 0x01});
  }
  SECTION("CAN FD escape single frame and FD consecutive frames") {
    o.fd = true;
    o.tx_dl = 64;
    std::vector<std::uint8_t> sf{0x00, 10};
    for (std::uint8_t i = 0; i < 10; ++i) sf.push_back(i);
    sf.resize(12, 0xCC);
    bus->incoming.push_back(make_frame(0x7E8, sf, true));
    auto link = link_on(bus, o);
    auto r = link->receive(100ms);
    REQUIRE(r.ok());
    CHECK(r->size() == 10);
    std::vector<std::uint8_t> ff{0x10, 100};
    for (std::uint8_t i = 0; i < 62; ++i) ff.push_back(i);
    std::vector<std::uint8_t> cf{0x21};
    for (std::uint8_t i = 62; i < 100; ++i) cf.push_back(i);
    cf.resize(48, 0xCC);
    bus->incoming.push_back(make_frame(0x7E8, ff, true));
    bus->incoming.push_back(make_frame(0x7E8, cf, true));
    r = link->receive(100ms);
    REQUIRE(r.ok());
    CHECK(r->size() == 100);
    CHECK((*r)[99] == 99);
    CHECK(bus->sent.back().fd);
  }
}

TEST_CASE("ISO-TP normal-fixed addressing derives 29-bit ids", "[transport][isotp]") {
  IsoTpOptions o;
  o.addressing = IsoTpAddressing::normal_fixed;
  o.source_address = 0xF1;
  o.target_address = 0x10;
  auto resolved = resolve_isotp_options(o);
  REQUIRE(resolved.ok());
  CHECK(resolved->tx_id == 0x18DA10F1);
  CHECK(resolved->rx_id == 0x18DAF110);
  CHECK(resolved->extended_ids);
  auto bus = std::make_shared<ScriptedBus>();
  REQUIRE(link_on(bus, o)->send(Bytes{0x3E, 0x00}).ok());
  CHECK(bus->sent[0].id == 0x18DA10F1);
  CHECK(bus->sent[0].extended);
}

TEST_CASE("ISO-TP normal-fixed addressing receives a multi-frame message on 29-bit ids", "[transport][isotp]") {
  IsoTpOptions o;
  o.addressing = IsoTpAddressing::normal_fixed;
  o.source_address = 0xF1;
  o.target_address = 0x10;
  o.block_size = 2;
  auto bus = std::make_shared<ScriptedBus>();
  constexpr std::uint32_t k_from_ecu = 0x18DAF110;
  const Bytes message = pattern(27, 3);
  auto from_ecu = [&](std::vector<std::uint8_t> bytes) { return make_frame(k_from_ecu, std::move(bytes), false, true); };
  // Another ECU answering the same tester, and an 11-bit frame, must not mix into the reception.
  bus->incoming.push_back(make_frame(0x18DAF111, {0x02, 0x7E, 0x00}, false, true));
  bus->incoming.push_back(make_frame(0x7E8, {0x03, 0x7F, 0x22, 0x31}));
  bus->incoming.push_back(from_ecu({0x10, 27, message[0], message[1], message[2], message[3], message[4], message[5]}));
  bus->incoming.push_back(make_frame(0x18DAF111, {0x21, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE}, false, true));
  std::uint8_t sn = 1;
  for (std::size_t at = 6; at < message.size(); at += 7, ++sn) {
    std::vector<std::uint8_t> cf{static_cast<std::uint8_t>(0x20 | sn)};
    for (std::size_t i = at; i < std::min(at + 7, message.size()); ++i) cf.push_back(message[i]);
    cf.resize(8, 0xCC);
    bus->incoming.push_back(from_ecu(cf));
  }

  auto r = link_on(bus, o)->receive(100ms);
  REQUIRE(r.ok());
  CHECK(*r == message);
  // FF, a block of two CFs, and the last CF: an FC after the FF and one after the block, on 29 bits.
  REQUIRE(bus->sent.size() == 2);
  for (const CanFrame& fc : bus->sent) {
    CHECK(fc.id == 0x18DA10F1);
    CHECK(fc.extended);
    CHECK((fc.data[0] & 0xF0) == 0x30);
    CHECK(fc.data[1] == 2);
  }
}

TEST_CASE("ISO-TP functional requests: 18DB ids and single frames only", "[transport][isotp]") {
  IsoTpOptions o;
  o.addressing = IsoTpAddressing::normal_fixed;
  o.target = IsoTpTarget::functional;
  o.source_address = 0xF1;
  o.target_address = 0x33;
  auto resolved = resolve_isotp_options(o);
  REQUIRE(resolved.ok());
  CHECK(resolved->tx_id == 0x18DB33F1);
  CHECK(resolved->rx_id == 0x18DAF133);
  auto bus = std::make_shared<ScriptedBus>();
  auto link = link_on(bus, o);
  REQUIRE(link->send(Bytes{0x3E, 0x80}).ok());
  CHECK(bus->sent[0].id == 0x18DB33F1);
  auto too_long = link->send(pattern(8));
  REQUIRE_FALSE(too_long.ok());
  CHECK(too_long.error().code == Errc::protocol);
  CHECK(bus->sent.size() == 1);
}

TEST_CASE("ISO-TP rejects invalid options", "[transport][isotp]") {
  auto bad = [](auto change) {
    IsoTpOptions o = tester_options();
    change(o);
    auto r = make_isotp_link(std::make_shared<ScriptedBus>(), o);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::config);
  };
  bad([](IsoTpOptions& o) { o.tx_dl = 64; });           // FD length without FD
  bad([](IsoTpOptions& o) { o.fd = true; o.tx_dl = 13; });
  bad([](IsoTpOptions& o) { o.fd = true; o.tx_dl = 7; });
  bad([](IsoTpOptions& o) { o.tx_id = 0x800; });         // 11-bit
  bad([](IsoTpOptions& o) { o.extended_ids = true; o.rx_id = 0x20000000; });
  bad([](IsoTpOptions& o) { o.rx_id = o.tx_id; });
  bad([](IsoTpOptions& o) { o.st_min = 0x80; });
  bad([](IsoTpOptions& o) { o.n_cr = 0ms; });
  CHECK_FALSE(make_isotp_link(nullptr, tester_options()).ok());
}

TEST_CASE("ISO-TP links for two ECUs share one bus through a mux", "[transport][isotp][bus_mux]") {
  auto [tester_bus, ecu_bus] = make_memory_bus_pair();
  auto tester_mux = std::make_shared<BusMux>(tester_bus);
  BusMux ecu_mux(ecu_bus);
  IsoTpOptions t1 = tester_options();
  IsoTpOptions t2 = tester_options();
  t2.tx_id = 0x7E1;
  t2.rx_id = 0x7E9;
  auto tester1 = link_on(tester_mux->subscribe(t1.rx_id, false), t1);
  auto tester2 = link_on(tester_mux->subscribe(t2.rx_id, false), t2);
  std::vector<std::thread> ecus;
  for (const IsoTpOptions& t : {t1, t2}) {
    // Subscribe before the tester sends: the mux drops frames for ids nobody listens to.
    const IsoTpOptions ecu = ecu_options(t);
    auto view = ecu_mux.subscribe(ecu.rx_id, false);
    ecus.emplace_back([view, ecu] {
      auto link = link_on(view, ecu);
      for (int i = 0; i < 3; ++i) {
        auto request = link->receive(2000ms);
        if (!request) return;
        Bytes answer = *request;
        answer.push_back(static_cast<std::uint8_t>(ecu.tx_id));
        if (!link->send(answer)) return;
      }
    });
  }
  for (int i = 0; i < 3; ++i) {
    const Bytes big = pattern(300 + static_cast<std::size_t>(i));
    REQUIRE(tester1->send(big).ok());
    REQUIRE(tester2->send(Bytes{0x22, 0xF1, 0x89}).ok());
    auto r2 = tester2->receive(2000ms);
    auto r1 = tester1->receive(2000ms);
    if (!r1 || !r2) {
      for (auto& t : ecus) t.join();
      FAIL((r1 ? std::string() : r1.error().message) << " / " << (r2 ? std::string() : r2.error().message));
    }
    CHECK(r1->size() == big.size() + 1);
    CHECK(r1->back() == 0xE8);
    CHECK(*r2 == Bytes{0x22, 0xF1, 0x89, 0xE9});
  }
  for (auto& t : ecus) t.join();
}
