#include <catch2/catch.hpp>

#include <fstream>

#include "support/temp_dir.hpp"
#include "uds/fake_ecu.hpp"
#include "uds/programming.hpp"
#include "util/cancel.hpp"
#include "util/fs.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using ecuup::test::FakeEcu;

namespace {

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7 + salt + (i >> 8));
  return b;
}

UdsClientOptions fast_options() {
  UdsClientOptions o;
  o.margin = 1ms;
  o.busy_delay = 1ms;
  o.conditions_patience = 0ms;
  o.time_delay_patience = 0ms;
  return o;
}

// Clears the process-wide interruption flag however the test ends.
struct InterruptGuard {
  InterruptGuard() { clear_interrupt(); }
  ~InterruptGuard() { clear_interrupt(); }
};

bool is_block(const Bytes& request) { return !request.empty() && request[0] == 0x36; }

UdsSequenceOptions fast_sequence() {
  UdsSequenceOptions o;
  o.flash_steps = default_flash_steps();
  o.read_steps = default_read_steps();
  o.reset_delay = 1ms;
  o.reset_timeout = 200ms;
  return o;
}

UdsSequenceHooks toy_key() {
  UdsSequenceHooks hooks;
  hooks.compute_key = [](ByteView seed, std::uint8_t level) -> Result<Bytes> { return FakeEcu::key_for(seed, level); };
  return hooks;
}

class RecordingProgress : public Progress {
 public:
  void begin(const std::string&, const std::string& phase, std::uint64_t total) override {
    phases.push_back(phase);
    total_bytes = total;
  }
  void advance(std::uint64_t done) override { done_bytes = done; }
  void end(bool ok) override { ended_ok = ok; }
  void note(const std::string& message) override { notes.push_back(message); }
  std::vector<std::string> phases;
  std::uint64_t total_bytes = 0;
  std::uint64_t done_bytes = 0;
  bool ended_ok = false;
  std::vector<std::string> notes;
};

FlashImage two_segments() {
  FlashImage image;
  image.segments.push_back({0x00010000, pattern(1000, 1)});
  image.segments.push_back({0x00020000, pattern(300, 2)});
  return image;
}

// First bytes of each request, e.g. "10 03", "31 01 ff 00".
std::vector<std::string> heads(const FakeEcu& ecu) {
  std::vector<std::string> out;
  for (const auto& r : ecu.requests) {
    std::size_t n = 2;
    if (r[0] == 0x31) n = 4;
    if (r[0] == 0x28 || r[0] == 0x22) n = 3;
    if (r[0] == 0x34 || r[0] == 0x36 || r[0] == 0x37) n = 1;
    out.push_back(to_hex(ByteView(r.data(), std::min(n, r.size())), " "));
  }
  return out;
}

}  // namespace

TEST_CASE("the default programming sequence runs in order", "[uds]") {
  FakeEcu ecu;
  ecu.version = "2.0.0";
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  auto image = ImageSource::from_memory(two_segments());
  RecordingProgress progress;
  auto version = run_flash_sequence(client, options, image, toy_key(), progress, "bms");
  REQUIRE(version);
  CHECK(std::string(version->begin(), version->end()) == "2.0.0");

  std::vector<std::string> expected = {"10 03", "85 02", "28 03 01", "10 02", "27 01", "27 02", "31 01 ff 00",
                                       "31 01 ff 00", "34"};
  auto got = heads(ecu);
  REQUIRE(got.size() > expected.size());
  CHECK(std::vector<std::string>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(expected.size())) == expected);
  std::vector<std::string> tail = {"37", "31 01 ff 01", "11 01", "10 01", "22 f1 89"};
  CHECK(std::vector<std::string>(got.end() - static_cast<std::ptrdiff_t>(tail.size()), got.end()) == tail);

  REQUIRE(ecu.erased.size() == 2);
  CHECK(ecu.erased[0] == std::make_pair(std::uint32_t{0x10000}, std::uint64_t{1000}));
  CHECK(ecu.erased[1] == std::make_pair(std::uint32_t{0x20000}, std::uint64_t{300}));
  REQUIRE(ecu.downloads.size() == 2);
  CHECK(ecu.downloads[0].address == 0x10000);
  CHECK(ecu.downloads[0].data == pattern(1000, 1));
  CHECK(ecu.downloads[0].exited);
  CHECK(ecu.downloads[1].address == 0x20000);
  CHECK(ecu.downloads[1].data == pattern(300, 2));
  CHECK(ecu.resets == 1);

  CHECK(progress.phases == std::vector<std::string>{"flash"});
  CHECK(progress.total_bytes == 1300);
  CHECK(progress.done_bytes == 1300);
  CHECK(progress.ended_ok);
}

TEST_CASE("TransferData blocks honour maxNumberOfBlockLength and the counter wraps FF to 00", "[uds]") {
  FakeEcu ecu;
  ecu.max_block_length = 18;  // 16 bytes of data per block
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  FlashImage flash;
  flash.segments.push_back({0x8000, pattern(16 * 300 + 5, 3)});
  auto image = ImageSource::from_memory(flash);
  RecordingProgress progress;
  REQUIRE(run_flash_sequence(client, options, image, toy_key(), progress, "bms"));
  REQUIRE(ecu.downloads.size() == 1);
  const auto& d = ecu.downloads[0];
  CHECK(d.data == flash.segments[0].data);
  REQUIRE(d.counters.size() == 301);
  CHECK(d.counters[0] == 0x01);
  CHECK(d.counters[254] == 0xFF);
  CHECK(d.counters[255] == 0x00);
  CHECK(d.counters[256] == 0x01);
  CHECK(d.counters[300] == static_cast<std::uint8_t>(301));
  for (const auto& r : ecu.requests) {
    if (r[0] == 0x36) CHECK(r.size() <= 18);
  }
}

TEST_CASE("block size is capped by the link and by the config", "[uds]") {
  FakeEcu ecu;
  ecu.max_block_length = 0x1002;
  auto options = fast_sequence();
  SECTION("link") { ecu.link_max = 64; }
  SECTION("config") { options.max_block_length = 64; }
  UdsClient client(ecu, fast_options());
  FlashImage flash;
  flash.segments.push_back({0x0, pattern(1000, 4)});
  auto image = ImageSource::from_memory(flash);
  REQUIRE(run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms"));
  std::size_t largest = 0;
  for (const auto& r : ecu.requests) {
    if (r[0] == 0x36) largest = std::max(largest, r.size());
  }
  CHECK(largest == 64);
  CHECK(ecu.downloads[0].data == flash.segments[0].data);
  CHECK(transfer_payload_size(0x102, 4095, 0) == 0x100);
  CHECK(transfer_payload_size(2, 4095, 0) == 0);
}

TEST_CASE("a negative response at any step stops the sequence with a named error", "[uds]") {
  struct Case {
    std::uint8_t service;
    const char* expect;
  };
  auto c = GENERATE(Case{0x10, "DiagnosticSessionControl 0x03: ECU answered conditionsNotCorrect (0x22)"},
                    Case{0x85, "ControlDTCSetting 0x02: ECU answered conditionsNotCorrect (0x22)"},
                    Case{0x28, "CommunicationControl 0x03: ECU answered conditionsNotCorrect (0x22)"},
                    Case{0x27, "SecurityAccess requestSeed 0x01: ECU answered conditionsNotCorrect (0x22)"},
                    Case{0x31, "erase segment 1 at 0x00010000: RoutineControl 0xFF00: ECU answered "
                               "conditionsNotCorrect (0x22)"},
                    Case{0x34, "segment 1 at 0x00010000: RequestDownload: ECU answered conditionsNotCorrect (0x22)"},
                    Case{0x36, "segment 1 at 0x00010000: TransferData block 1: ECU answered conditionsNotCorrect "
                               "(0x22)"},
                    Case{0x37, "segment 1 at 0x00010000: RequestTransferExit: ECU answered conditionsNotCorrect "
                               "(0x22)"},
                    Case{0x11, "ECUReset 0x01: ECU answered conditionsNotCorrect (0x22)"},
                    Case{0x22, "ReadDataByIdentifier 0xF189: ECU answered conditionsNotCorrect (0x22)"});
  FakeEcu ecu;
  ecu.fail_service[c.service] = nrc::k_conditions_not_correct;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  auto image = ImageSource::from_memory(two_segments());
  RecordingProgress progress;
  auto r = run_flash_sequence(client, options, image, toy_key(), progress, "bms");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::negative_response);
  CHECK(r.error().message == c.expect);
  CHECK_FALSE(progress.ended_ok);
}

TEST_CASE("one erase without an address record; routines answered after responsePending", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  options.erase_per_segment = false;
  ecu.pending_before[0x31] = 2;
  auto image = ImageSource::from_memory(two_segments());
  REQUIRE(run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms"));
  CHECK(ecu.erased.empty());  // one erase without an address record
  CHECK(ecu.count_sid(0x31) == 2);
}

TEST_CASE("silence in the middle of a transfer is a timeout after the retries", "[uds]") {
  FakeEcu ecu;
  ecu.max_block_length = 0x42;
  ecu.silent_from_block = 5;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  options.transfer_retries = 2;
  auto image = ImageSource::from_memory(two_segments());
  RecordingProgress progress;
  auto r = run_flash_sequence(client, options, image, toy_key(), progress, "bms");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::StartsWith("segment 1 at 0x00010000: TransferData block 5: no response"));
  CHECK(ecu.count_sid(0x36) == 4 + 3);  // block 5 sent once and repeated twice
  CHECK(progress.done_bytes == 4 * 64);
}

TEST_CASE("an ECU that resets during a block: the silence stays the cause, its later NRC is context", "[uds]") {
  FakeEcu ecu;
  ecu.max_block_length = 0x42;
  ecu.reset_at_block = 3;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  options.transfer_retries = 2;
  auto image = ImageSource::from_memory(two_segments());
  auto r = run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::StartsWith("segment 1 at 0x00010000: TransferData block 3: no response"));
  CHECK_THAT(r.error().message,
             Catch::Contains("the ECU then answered serviceNotSupportedInActiveSession (0x7F)") &&
                 Catch::Contains("reset"));
  CHECK(ecu.count_sid(0x36) == 2 + 2);  // block 3 lost once, its first repeat refused: no second repeat
  CHECK(ecu.resets == 1);
}

TEST_CASE("a read-out that meets a reset names the silence first too", "[uds]") {
  ecuup::test::TempDir dir;
  FakeEcu ecu;
  ecu.max_block_length = 0x42;
  ecu.memory_for_upload[0x4000] = pattern(1000, 5);
  ecu.reset_at_block = 2;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  options.read_regions = {{0x4000, 1000}};
  auto writer = ImageWriter::create(dir / "backup.bin", ImageFormat::raw);
  REQUIRE(writer);
  auto r = run_read_sequence(client, options, *writer, toy_key(), null_progress(), "bms");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::StartsWith("region 1 at 0x00004000: TransferData block 2: no response") &&
                                    Catch::Contains("(0x7F)"));
}

TEST_CASE("a lost TransferData answer is repaired by repeating the block", "[uds]") {
  FakeEcu ecu;
  ecu.max_block_length = 0x42;
  ecu.drop_answer_of_block = 3;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  auto image = ImageSource::from_memory(two_segments());
  RecordingProgress progress;
  REQUIRE(run_flash_sequence(client, options, image, toy_key(), progress, "bms"));
  CHECK(ecu.downloads[0].data == pattern(1000, 1));
  std::vector<Bytes> block3;
  for (const auto& r : ecu.requests) {
    if (r[0] == 0x36 && r[1] == 0x03) block3.push_back(r);
  }
  REQUIRE(block3.size() >= 2);
  CHECK(block3[0] == block3[1]);
  CHECK_FALSE(progress.notes.empty());
}

TEST_CASE("wrongBlockSequenceCounter is an error, not retried", "[uds]") {
  FakeEcu ecu;
  ecu.fail_service[0x36] = nrc::k_wrong_block_sequence_counter;
  UdsClient client(ecu, fast_options());
  auto image = ImageSource::from_memory(two_segments());
  auto r = run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::negative_response);
  CHECK_THAT(r.error().message, Catch::EndsWith("wrongBlockSequenceCounter (0x73)"));
  CHECK(ecu.count_sid(0x36) == 1);
}

TEST_CASE("security access: wrong key, no key source, already unlocked", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto image = ImageSource::from_memory(two_segments());

  SECTION("wrong key") {
    UdsSequenceHooks hooks;
    hooks.compute_key = [](ByteView, std::uint8_t) -> Result<Bytes> { return Bytes{0xDE, 0xAD}; };
    auto r = run_flash_sequence(client, fast_sequence(), image, hooks, null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "SecurityAccess sendKey 0x02: ECU answered invalidKey (0x35)");
  }
  SECTION("the key source fails") {
    UdsSequenceHooks hooks;
    hooks.compute_key = [](ByteView, std::uint8_t) -> Result<Bytes> {
      return make_error(Errc::ecu, "key_command exited with status 3");
    };
    auto r = run_flash_sequence(client, fast_sequence(), image, hooks, null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::ecu);
    CHECK(r.error().message == "SecurityAccess level 0x01: key_command exited with status 3");
    CHECK(ecu.count_sid(0x34) == 0);
  }
  SECTION("no key source") {
    auto r = run_flash_sequence(client, fast_sequence(), image, UdsSequenceHooks{}, null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
  }
  SECTION("a zero seed means unlocked") {
    ecu.unlocked = true;
    auto r = run_flash_sequence(client, fast_sequence(), image, UdsSequenceHooks{}, null_progress(), "bms");
    REQUIRE(r);
    CHECK(ecu.count_sid(0x27) == 1);
  }
}

TEST_CASE("steps can be dropped and raw requests added", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  options.flash_steps = {{UdsStepKind::programming_session, {}},
                         {UdsStepKind::security_access, {}},
                         {UdsStepKind::request, {0x3E, 0x00}},
                         {UdsStepKind::download, {}},
                         {UdsStepKind::reset, {}}};
  auto image = ImageSource::from_memory(two_segments());
  REQUIRE(run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms"));
  CHECK(ecu.count_sid(0x85) == 0);
  CHECK(ecu.count_sid(0x28) == 0);
  CHECK(ecu.count_sid(0x31) == 0);
  CHECK(ecu.count_sid(0x3E) == 1);
  CHECK(ecu.downloads.size() == 2);

  options.flash_steps = {{UdsStepKind::upload, {}}};
  auto r = run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::config);
  CHECK(parse_uds_step("erase"));
  CHECK(parse_uds_step("erase").value() == UdsStepKind::erase);
  CHECK_FALSE(parse_uds_step("flash_it"));
}

TEST_CASE("the ECU may come back slowly after the reset", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  auto image = ImageSource::from_memory(two_segments());

  SECTION("no answer to 11 01, two requests ignored while it boots") {
    ecu.reset_silence = true;
    ecu.unanswered_after_reset = 2;
    int reconnects = 0;
    auto hooks = toy_key();
    hooks.reconnect = [&]() -> Result<void> {
      ++reconnects;
      return success();
    };
    auto r = run_flash_sequence(client, options, image, hooks, null_progress(), "bms");
    REQUIRE(r);
    CHECK(reconnects == 0);  // timeouts do not need a new link
  }
  SECTION("the polls after the reset listen for less than the P2 the ECU announced") {
    ecu.p2_ms = 5000;  // a request that reaches a rebooting ECU is lost: waiting P2 for it only delays
    ecu.unanswered_after_reset = 2;
    std::vector<std::size_t> polls;  // index into receive_timeouts when each 10 01 was sent
    ecu.on_request = [&](const Bytes& req) {
      if (req == Bytes{0x10, 0x01}) polls.push_back(ecu.receive_timeouts.size());
    };
    REQUIRE(run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms"));
    REQUIRE(polls.size() == 3);  // two lost, the third answered
    for (std::size_t i = 0; i < 2; ++i) {
      REQUIRE(polls[i] < ecu.receive_timeouts.size());
      CHECK(ecu.receive_timeouts[polls[i]] < 5000ms);
    }
    // Once the ECU is back its P2 holds again (read_version after the reset).
    CHECK(ecu.receive_timeouts.back() >= 5000ms);
  }
  SECTION("the link drops on reset and is opened again") {
    ecu.broken_sends_after_reset = 1;
    int reconnects = 0;
    auto hooks = toy_key();
    hooks.reconnect = [&]() -> Result<void> {
      ++reconnects;
      return reconnects == 1 ? Result<void>(make_error(Errc::network, "connection refused")) : success();
    };
    auto r = run_flash_sequence(client, options, image, hooks, null_progress(), "bms");
    REQUIRE(r);
    CHECK(reconnects == 2);
  }
  SECTION("a dropped link without a way to reconnect fails after the reset timeout") {
    ecu.broken_sends_after_reset = 1000000;
    options.reset_timeout = 20ms;
    auto r = run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK_THAT(r.error().message, Catch::Contains("connection closed by peer"));
  }
  SECTION("never comes back") {
    ecu.unanswered_after_reset = 1000000;
    options.reset_timeout = 20ms;
    auto r = run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK_THAT(r.error().message, Catch::Contains("did not come back"));
  }
}

TEST_CASE("the first request waits for an ECU that is still booting", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  auto image = ImageSource::from_memory(two_segments());

  SECTION("answers on the third try") {
    ecu.ignore_next(2);
    REQUIRE(run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms"));
    REQUIRE(ecu.requests.size() > 3);
    CHECK(ecu.requests[0] == Bytes{0x10, 0x03});
    CHECK(ecu.requests[1] == Bytes{0x10, 0x03});
    CHECK(ecu.requests[2] == Bytes{0x10, 0x03});
    CHECK(ecu.requests[3] == Bytes{0x85, 0x02});
  }
  SECTION("never answers") {
    ecu.ignore_next(1000000);
    options.reset_timeout = 20ms;
    auto r = run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK_THAT(r.error().message, Catch::StartsWith("DiagnosticSessionControl 0x03: no response"));
    CHECK(ecu.requests.size() >= 2);
  }
  SECTION("a later step is not repeated on silence") {
    // The fake never answers a suppressed TesterPresent: a raw "3E 80" step meets silence.
    options.flash_steps.insert(options.flash_steps.begin() + 1, UdsStep{UdsStepKind::request, {0x3E, 0x80}});
    auto r = run_flash_sequence(client, options, image, toy_key(), null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK(ecu.count_sid(0x3E) == 1);
  }
}

TEST_CASE("an interruption stops between blocks", "[uds]") {
  InterruptGuard guard;
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto image = ImageSource::from_memory(two_segments());
  request_interrupt();
  UdsFlashState state;
  auto r = run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::interrupted);
  CHECK(ecu.requests.empty());
  CHECK_FALSE(state.touched);
}

TEST_CASE("an interruption: at once before the erase, at a block boundary after it, ignored after the last block",
          "[uds]") {
  InterruptGuard guard;
  FakeEcu ecu;
  ecu.max_block_length = 0x42;  // 64 bytes a block: 16 blocks in segment 1, 5 in segment 2
  UdsClient client(ecu, fast_options());
  auto image = ImageSource::from_memory(two_segments());
  UdsFlashState state;

  SECTION("during security access, before the erase: nothing touched") {
    auto hooks = toy_key();
    hooks.compute_key = [](ByteView seed, std::uint8_t level) -> Result<Bytes> {
      request_interrupt();  // while the key command runs
      return FakeEcu::key_for(seed, level);
    };
    auto r = run_flash_sequence(client, fast_sequence(), image, hooks, null_progress(), "bms", &state);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::interrupted);
    CHECK_FALSE(state.touched);
    CHECK(ecu.count_sid(0x31) == 0);
    CHECK(ecu.erased.empty());
  }
  SECTION("mid-download: the block in flight finishes, the next is not sent") {
    int blocks = 0;
    ecu.on_request = [&](const Bytes& req) {
      if (is_block(req) && ++blocks == 3) request_interrupt();
    };
    auto r = run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::interrupted);
    CHECK(state.touched);
    CHECK_FALSE(state.transferred);
    CHECK(ecu.count_sid(0x36) == 3);
    REQUIRE(ecu.downloads.size() == 1);
    CHECK(ecu.downloads[0].counters == std::vector<std::uint8_t>{1, 2, 3});  // block 3 was answered
    CHECK(ecu.count_sid(0x37) == 0);
    CHECK(ecu.resets == 0);
  }
  SECTION("during the erase: it finishes, the download does not start") {
    ecu.on_request = [&](const Bytes& req) {
      if (req[0] == 0x31) request_interrupt();
    };
    ecu.pending_before[0x31] = 2;  // a slow erase
    auto r = run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::interrupted);
    CHECK(state.touched);
    CHECK(ecu.erased.size() == 1);  // the first segment's erase was answered, the second not sent
    CHECK(ecu.count_sid(0x34) == 0);
  }
  SECTION("after the last block: the sequence finishes") {
    int blocks = 0;
    ecu.on_request = [&](const Bytes& req) {
      if (is_block(req) && ++blocks == 16 + 5) request_interrupt();
    };
    ecu.version = "2.0.0";
    auto r = run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state);
    REQUIRE(r);
    CHECK(interrupt_requested());  // still pending for the caller, which exits 130 after recording
    CHECK(state.touched);
    CHECK(state.transferred);
    CHECK(ecu.downloads.size() == 2);
    CHECK(ecu.downloads[1].exited);
    CHECK(ecu.count_sid(0x31) == 3);  // two erases and the check routine
    CHECK(ecu.resets == 1);
    CHECK(std::string(r->begin(), r->end()) == "2.0.0");
  }
}

TEST_CASE("a flash refused before it changes memory leaves the ECU untouched", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  auto image = ImageSource::from_memory(two_segments());
  UdsFlashState state;

  SECTION("the programming session refused") {
    ecu.nrc_always[{0x10, 0x02}] = nrc::k_conditions_not_correct;
    CHECK_FALSE(run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state));
    CHECK_FALSE(state.touched);
  }
  SECTION("the erase refused: not carried out") {
    ecu.nrc_always[{0x31, 0x01, 0xFF, 0x00}] = nrc::k_request_out_of_range;
    CHECK_FALSE(run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state));
    CHECK_FALSE(state.touched);
  }
  SECTION("the erase failed while erasing: generalProgrammingFailure") {
    ecu.nrc_always[{0x31, 0x01, 0xFF, 0x00}] = nrc::k_general_programming_failure;
    CHECK_FALSE(run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state));
    CHECK(state.touched);
  }
  SECTION("the erase unanswered") {
    ecu.late_answers[0x31] = 1;
    CHECK_FALSE(run_flash_sequence(client, fast_sequence(), image, toy_key(), null_progress(), "bms", &state));
    CHECK(state.touched);
  }
}

TEST_CASE("a power cut during the final ECUReset is waited out", "[uds]") {
  FakeEcu ecu;
  ecu.version = "2.0.0";
  ecu.link_drops_on_reset = true;  // no answer, the connection resets, then it is refused once
  ecu.broken_sends_after_reset = 1;
  UdsClient client(ecu, fast_options());
  auto image = ImageSource::from_memory(two_segments());
  int reconnects = 0;
  auto hooks = toy_key();
  hooks.reconnect = [&]() -> Result<void> {
    ++reconnects;
    return reconnects == 1 ? Result<void>(make_error(Errc::network, "connection refused")) : success();
  };
  auto r = run_flash_sequence(client, fast_sequence(), image, hooks, null_progress(), "bms");
  REQUIRE(r);
  CHECK(std::string(r->begin(), r->end()) == "2.0.0");
  CHECK(reconnects >= 2);
}

TEST_CASE("a raw image streams from its file", "[uds]") {
  ecuup::test::TempDir dir;
  Bytes content = pattern(70000, 9);
  REQUIRE(write_file_atomic(dir / "app.bin", content));
  auto image = ImageSource::open(dir / "app.bin", ImageFormat::auto_detect, 0x80000);
  REQUIRE(image);
  CHECK(image->format() == ImageFormat::raw);
  FakeEcu ecu;
  ecu.max_block_length = 0xFFF;
  UdsClient client(ecu, fast_options());
  REQUIRE(run_flash_sequence(client, fast_sequence(), *image, toy_key(), null_progress(), "bms"));
  REQUIRE(ecu.downloads.size() == 1);
  CHECK(ecu.downloads[0].address == 0x80000);
  CHECK(ecu.downloads[0].data == content);
}

TEST_CASE("read-out uploads the configured regions into a file", "[uds]") {
  ecuup::test::TempDir dir;
  FakeEcu ecu;
  ecu.max_block_length = 0x82;
  Bytes memory = pattern(1000, 5);
  ecu.memory_for_upload[0x4000] = memory;
  UdsClient client(ecu, fast_options());
  auto options = fast_sequence();
  options.read_regions = {{0x4000, 1000}};
  auto writer = ImageWriter::create(dir / "backup.bin", ImageFormat::raw);
  REQUIRE(writer);
  RecordingProgress progress;
  REQUIRE(run_read_sequence(client, options, *writer, toy_key(), progress, "bms"));
  REQUIRE(writer->finish());
  auto back = read_binary_file(dir / "backup.bin");
  REQUIRE(back);
  CHECK(*back == memory);
  CHECK(progress.phases == std::vector<std::string>{"read"});
  CHECK(progress.done_bytes == 1000);
  REQUIRE(ecu.count_sid(0x35) == 1);
  CHECK(ecu.requests.back() == Bytes{0x10, 0x01});

  SECTION("an upload failing is named") {
    ecu.fail_service[0x35] = nrc::k_upload_download_not_accepted;
    auto again = ImageWriter::create(dir / "b2.bin", ImageFormat::raw);
    REQUIRE(again);
    auto r = run_read_sequence(client, options, *again, toy_key(), null_progress(), "bms");
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "region 1 at 0x00004000: RequestUpload: ECU answered uploadDownloadNotAccepted (0x70)");
  }
}
