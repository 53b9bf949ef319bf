#include <catch2/catch.hpp>

#include <deque>

#include "uds/client.hpp"
#include "uds/fake_ecu.hpp"
#include "uds/nrc.hpp"
#include "util/cancel.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using ecuup::test::FakeEcu;

namespace {

// Replies are queued per request: each send() moves the next batch into the receive queue.
class ScriptedLink : public DiagLink {
 public:
  std::deque<std::vector<Bytes>> script;
  std::deque<Bytes> pending;
  std::vector<Bytes> sent;
  std::vector<std::chrono::milliseconds> timeouts;

  Result<void> send(ByteView message) override {
    sent.emplace_back(message.begin(), message.end());
    if (!script.empty()) {
      for (auto& r : script.front()) pending.push_back(r);
      script.pop_front();
    }
    return success();
  }
  Result<Bytes> receive(std::chrono::milliseconds timeout) override {
    timeouts.push_back(timeout);
    if (pending.empty()) return make_error(Errc::timeout, "silence");
    Bytes b = pending.front();
    pending.pop_front();
    return b;
  }
  std::size_t max_message_size() const override { return 4095; }
  std::string describe() const override { return "scripted"; }
};

UdsClientOptions fast_options() {
  UdsClientOptions o;
  o.margin = 5ms;
  o.busy_delay = 1ms;
  o.conditions_patience = 0ms;
  o.time_delay_patience = 0ms;
  return o;
}

}  // namespace

TEST_CASE("NRCs and services are decoded by name", "[uds]") {
  CHECK(nrc_name(0x31) == "requestOutOfRange");
  CHECK(nrc_name(0x78) == "requestCorrectlyReceivedResponsePending");
  CHECK(nrc_name(0x73) == "wrongBlockSequenceCounter");
  CHECK(nrc_name(0x22) == "conditionsNotCorrect");
  CHECK(nrc_name(0x35) == "invalidKey");
  CHECK(nrc_name(0x7F) == "serviceNotSupportedInActiveSession");
  CHECK(nrc_name(0x93) == "voltageTooLow");
  CHECK(nrc_name(0x40) == "reservedByExtendedDataLinkSecurityDocument");
  CHECK(nrc_name(0xF3) == "vehicleManufacturerSpecificConditionsNotCorrect");
  CHECK(nrc_name(0x99) == "ISOSAEReserved");
  CHECK(service_name(0x34) == "RequestDownload");
  CHECK(service_name(0x85) == "ControlDTCSetting");
  CHECK(service_name(0xA5) == "service 0xA5");
}

TEST_CASE("a negative response becomes a named error", "[uds]") {
  FakeEcu ecu;
  ecu.unlocked = true;
  ecu.fail_service[sid::k_request_download] = nrc::k_request_out_of_range;
  UdsClient client(ecu, fast_options());
  auto r = client.request_download(MemoryFormat{}, 0x1000, 0x100);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::negative_response);
  CHECK(r.error().message == "RequestDownload: ECU answered requestOutOfRange (0x31)");
  CHECK(client.last_nrc() == nrc::k_request_out_of_range);
}

TEST_CASE("P2 and P2* come from the session response", "[uds]") {
  FakeEcu ecu;
  ecu.p2_ms = 25;
  ecu.p2_star_10ms = 300;
  UdsClient client(ecu, fast_options());
  auto timing = client.diagnostic_session_control(0x03);
  REQUIRE(timing);
  CHECK(timing->p2 == 25ms);
  CHECK(timing->p2_star == 3000ms);
  CHECK(ecu.receive_timeouts.back() == 55ms);  // the default P2 (50) + margin, before the answer

  ecu.pending_before[sid::k_routine_control] = 3;
  ecu.receive_timeouts.clear();
  REQUIRE(client.routine_control(0x01, 0xFF00, {}));
  // P2 first; after each 0x78 the wait restarts with P2*.
  REQUIRE(ecu.receive_timeouts.size() == 4);
  CHECK(ecu.receive_timeouts[0] == 30ms);
  CHECK(ecu.receive_timeouts[1] == 3005ms);
  CHECK(ecu.receive_timeouts[2] == 3005ms);
  CHECK(ecu.receive_timeouts[3] == 3005ms);

  // The next request starts with P2 again.
  ecu.receive_timeouts.clear();
  REQUIRE(client.read_data_by_identifier(0xF189));
  CHECK(ecu.receive_timeouts.at(0) == 30ms);
}

TEST_CASE("silence after responsePending is a P2* timeout", "[uds]") {
  ScriptedLink link;
  link.script.push_back({{0x7F, 0x31, 0x78}, {0x7F, 0x31, 0x78}});
  UdsClient client(link, fast_options());
  auto r = client.routine_control(0x01, 0xFF01, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::Contains("RoutineControl 0xFF01") && Catch::Contains("P2*"));
  CHECK(link.timeouts.size() == 3);
}

TEST_CASE("no answer at all is a P2 timeout", "[uds]") {
  ScriptedLink link;
  UdsClient client(link, fast_options());
  auto r = client.ecu_reset(0x01);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::Contains("ECUReset") && Catch::Contains("55 ms (P2)"));
}

TEST_CASE("a response that answers another request is discarded and the wait goes on", "[uds]") {
  ScriptedLink link;
  UdsClient client(link, fast_options());

  SECTION("another SID: a late RoutineControl answer while waiting for the session") {
    link.script.push_back({{0x71, 0x01, 0xFF, 0x00, 0x00}, {0x50, 0x03, 0, 50, 1, 0xF4}});
    auto r = client.diagnostic_session_control(0x03);
    REQUIRE(r);
    CHECK(link.pending.empty());
  }
  SECTION("another DID echoed") {
    link.script.push_back({{0x62, 0xF1, 0x90, 0x41}, {0x62, 0xF1, 0x89, 0x42}});
    auto r = client.read_data_by_identifier(0xF189);
    REQUIRE(r);
    CHECK(*r == Bytes{0x42});
  }
  SECTION("another routine echoed") {
    link.script.push_back({{0x71, 0x01, 0xFF, 0x00, 0x00}, {0x71, 0x01, 0xFF, 0x01, 0x07}});
    auto r = client.routine_control(0x01, 0xFF01, {});
    REQUIRE(r);
    CHECK(*r == Bytes{0x07});
  }
  SECTION("another reset type and security level echoed") {
    link.script.push_back({{0x51, 0x03}, {0x51, 0x01}});
    link.script.push_back({{0x67, 0x03, 0x01}, {0x67, 0x01, 0xAA, 0xBB}});
    REQUIRE(client.ecu_reset(0x01));
    auto seed = client.security_access_request_seed(0x01);
    REQUIRE(seed);
    CHECK(*seed == Bytes{0xAA, 0xBB});
  }
  SECTION("the previous block's answer is skipped across the counter wrap") {
    link.script.push_back({{0x76, 0xFF}, {0x76, 0x00}});
    auto r = client.transfer_data(0x00, Bytes{1, 2, 3});
    REQUIRE(r);
  }
  SECTION("a negative response to another service") {
    link.script.push_back({{0x7F, 0x22, 0x31}, {0x71, 0x01, 0xFF, 0x00}});
    REQUIRE(client.routine_control(0x01, 0xFF00, {}));
  }
  SECTION("late answers to a suppressed TesterPresent are skipped") {
    link.script.push_back({{0x7F, 0x3E, 0x12}, {0x7E, 0x00}, {0x62, 0xF1, 0x89, 0x41}});
    auto r = client.read_data_by_identifier(0xF189);
    REQUIRE(r);
    CHECK(*r == Bytes{0x41});
  }
}

TEST_CASE("only answers that match count: the rest ends in silence", "[uds]") {
  ScriptedLink link;
  UdsClient client(link, fast_options());
  struct Case {
    const char* name;
    Bytes response;
  };
  auto c = GENERATE(Case{"wrong SID", {0x71, 0x01, 0xFF, 0x00}}, Case{"wrong DID echoed", {0x62, 0xF1, 0x89, 0x41}},
                    Case{"wrong session echoed", {0x50, 0x02, 0, 50, 1, 0xF4}},
                    Case{"negative response for another service", {0x7F, 0x31, 0x31}},
                    Case{"an answer to an older block", {0x76, 0x7F}}, Case{"a truncated echo", {0x62, 0xF1}});
  INFO(c.name);
  link.script.push_back({c.response});
  Result<Bytes> r = make_error(Errc::internal, "not run");
  if (c.response[0] == 0x76) {
    r = client.transfer_data(0x81, Bytes{1, 2, 3});
  } else if (c.response[0] == 0x50) {
    r = client.request(Bytes{0x10, 0x03});
  } else {
    r = client.read_data_by_identifier(0xF18C);
  }
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK_THAT(r.error().message, Catch::Contains("discarded 1 message"));
}

TEST_CASE("a truncated negative response to the request is a protocol error", "[uds]") {
  ScriptedLink link;
  UdsClient client(link, fast_options());
  link.script.push_back({{0x7F, 0x31}});
  auto r = client.routine_control(0x01, 0xFF00, {});
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::protocol);
}

TEST_CASE("a late answer after P2 is never taken for the next request's", "[uds]") {
  FakeEcu ecu;
  UdsClient client(ecu, fast_options());
  ecu.late_answers[sid::k_routine_control] = 1;  // the erase stalls past P2

  SECTION("it arrived before the next request: drained") {
    ecu.late_arrival = FakeEcu::LateArrival::after_the_wait;
  }
  SECTION("it arrives while the next request waits: discarded by its SID") {
    ecu.late_arrival = FakeEcu::LateArrival::with_the_next_answer;
  }
  auto erased = client.routine_control(0x01, 0xFF00, {});
  REQUIRE_FALSE(erased);
  CHECK(erased.error().code == Errc::timeout);
  auto session = client.diagnostic_session_control(0x03);
  REQUIRE(session);
  CHECK(ecu.queue.empty());
  auto version = client.read_data_by_identifier(0xF189);
  REQUIRE(version);
  CHECK(std::string(version->begin(), version->end()) == ecu.version);
}

TEST_CASE("a late duplicate TransferData answer is skipped", "[uds]") {
  ScriptedLink link;
  link.script.push_back({});                            // block 1: the answer is late...
  link.script.push_back({{0x76, 0x01}, {0x76, 0x01}});  // ...and arrives with the repeat's answer
  link.script.push_back({{0x76, 0x02}});
  UdsClient client(link, fast_options());
  CHECK_FALSE(client.transfer_data(0x01, Bytes{1}));
  REQUIRE(client.transfer_data(0x01, Bytes{1}));
  REQUIRE(client.transfer_data(0x02, Bytes{2}));
  CHECK(link.pending.empty());
}

TEST_CASE("requiredTimeDelayNotExpired is waited out", "[uds]") {
  FakeEcu ecu;
  ecu.security_delay_until = std::chrono::steady_clock::now() + 300ms;  // just powered on
  auto options = fast_options();
  options.time_delay_wait = 100ms;
  options.time_delay_patience = 5000ms;
  UdsClient client(ecu, options);
  const auto start = std::chrono::steady_clock::now();
  auto seed = client.security_access_request_seed(0x01);
  REQUIRE(seed);
  CHECK(*seed == ecu.seed);
  CHECK(std::chrono::steady_clock::now() - start >= 300ms);
  CHECK(ecu.count_sid(0x27) >= 3);

  SECTION("not longer than its patience") {
    ecu.security_delay_until = std::chrono::steady_clock::now() + 10s;
    options.time_delay_patience = 150ms;
    UdsClient impatient(ecu, options);
    auto refused = impatient.security_access_request_seed(0x01);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::negative_response);
    CHECK(impatient.last_nrc() == nrc::k_required_time_delay_not_expired);
  }
  SECTION("in recovery until the deadline") {
    ecu.security_delay_until = std::chrono::steady_clock::now() + 400ms;
    options.time_delay_patience = 0ms;
    UdsClient recovering(ecu, options);
    recovering.set_retry_deadline(std::chrono::steady_clock::now() + 5s);
    REQUIRE(recovering.security_access_request_seed(0x01));
  }
}

TEST_CASE("conditionsNotCorrect is asked again with backoff for a bounded time", "[uds]") {
  FakeEcu ecu;
  auto options = fast_options();
  options.conditions_delay = 10ms;
  options.conditions_delay_max = 40ms;
  options.conditions_patience = 300ms;

  SECTION("until the ECU agrees") {
    ecu.nrc_first[{0x10, 0x02}] = {nrc::k_conditions_not_correct, nrc::k_conditions_not_correct};
    UdsClient client(ecu, options);
    REQUIRE(client.diagnostic_session_control(0x02));
    CHECK(ecu.count_sid(0x10) == 3);
  }
  SECTION("an ECU that refuses every time: the NRC after the patience") {
    ecu.nrc_always[{0x10, 0x02}] = nrc::k_conditions_not_correct;
    UdsClient client(ecu, options);
    const auto start = std::chrono::steady_clock::now();
    auto r = client.diagnostic_session_control(0x02);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::negative_response);
    CHECK(client.last_nrc() == nrc::k_conditions_not_correct);
    CHECK(std::chrono::steady_clock::now() - start >= 300ms);
    // 10, 20, 40, 40, ... ms apart: backing off, not hammering.
    CHECK(ecu.count_sid(0x10) >= 5);
    CHECK(ecu.count_sid(0x10) <= 12);
  }
  SECTION("an interruption ends the waiting") {
    ecu.nrc_always[{0x10, 0x02}] = nrc::k_conditions_not_correct;
    options.conditions_patience = 60s;
    ecu.on_request = [](const Bytes&) { request_interrupt(); };
    UdsClient client(ecu, options);
    auto r = client.diagnostic_session_control(0x02);
    clear_interrupt();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::interrupted);
  }
}

TEST_CASE("busyRepeatRequest repeats the request", "[uds]") {
  ScriptedLink link;
  link.script.push_back({{0x7F, 0x22, 0x21}});
  link.script.push_back({{0x62, 0xF1, 0x89, 0x31}});
  UdsClient client(link, fast_options());
  auto r = client.read_data_by_identifier(0xF189);
  REQUIRE(r);
  CHECK(link.sent.size() == 2);
  CHECK(link.sent[0] == link.sent[1]);
}

TEST_CASE("maxNumberOfBlockLength is decoded from the lengthFormatIdentifier", "[uds]") {
  ScriptedLink link;
  UdsClient client(link, fast_options());
  MemoryFormat fmt;
  fmt.address_bytes = 3;
  fmt.size_bytes = 2;

  SECTION("two bytes") {
    link.script.push_back({{0x74, 0x20, 0x0F, 0xFA}});
    auto r = client.request_download(fmt, 0x012345, 0x1000);
    REQUIRE(r);
    CHECK(*r == 0x0FFA);
    CHECK(link.sent[0] == Bytes{0x34, 0x00, 0x23, 0x01, 0x23, 0x45, 0x10, 0x00});
  }
  SECTION("four bytes, upload") {
    link.script.push_back({{0x75, 0x40, 0x00, 0x01, 0x00, 0x02}});
    auto r = client.request_upload(fmt, 0x10, 0x20);
    REQUIRE(r);
    CHECK(*r == 0x10002);
  }
  SECTION("length field missing") {
    link.script.push_back({{0x74, 0x20, 0x0F}});
    auto r = client.request_download(fmt, 0x10, 0x20);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::protocol);
  }
  SECTION("a block length without room for data") {
    link.script.push_back({{0x74, 0x10, 0x02}});
    auto r = client.request_download(fmt, 0x10, 0x20);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::protocol);
  }
  SECTION("an address that does not fit the format") {
    auto r = client.request_download(fmt, 0x1000000, 0x20);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(link.sent.empty());
  }
}

TEST_CASE("memory ranges encode addressAndLengthFormatIdentifier", "[uds]") {
  auto r = encode_memory_range(MemoryFormat{}, 0x00080000, 0x1234);
  REQUIRE(r);
  CHECK(*r == Bytes{0x44, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x12, 0x34});
  MemoryFormat bad;
  bad.size_bytes = 0;
  CHECK_FALSE(encode_memory_range(bad, 0, 0));
  MemoryFormat small;
  small.size_bytes = 1;
  CHECK_FALSE(encode_memory_range(small, 0, 0x100));
}

TEST_CASE("keep_alive sends a suppressed TesterPresent only after idle time", "[uds]") {
  FakeEcu ecu;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  UdsClientOptions options = fast_options();
  options.tester_present_interval = 2000ms;
  UdsClient client(ecu, options);
  client.set_clock([&] { return now; });
  REQUIRE(client.read_data_by_identifier(0xF189));
  now += 1500ms;
  REQUIRE(client.keep_alive());
  CHECK(ecu.count_sid(0x3E) == 0);
  now += 600ms;
  REQUIRE(client.keep_alive());
  REQUIRE(ecu.count_sid(0x3E) == 1);
  CHECK(ecu.requests.back() == Bytes{0x3E, 0x80});
  CHECK(ecu.queue.empty());  // suppressed: no answer awaited
  REQUIRE(client.keep_alive());
  CHECK(ecu.count_sid(0x3E) == 1);
}

TEST_CASE("the services build the documented requests", "[uds]") {
  FakeEcu ecu;
  ecu.dids[0xF18C] = {'S', 'N', '1'};
  UdsClient client(ecu, fast_options());
  REQUIRE(client.communication_control(0x03, 0x01));
  CHECK(ecu.requests.back() == Bytes{0x28, 0x03, 0x01});
  REQUIRE(client.control_dtc_setting(0x02));
  CHECK(ecu.requests.back() == Bytes{0x85, 0x02});
  auto serial = client.read_data_by_identifier(0xF18C);
  REQUIRE(serial);
  CHECK(*serial == Bytes{'S', 'N', '1'});
  auto seed = client.security_access_request_seed(0x01);
  REQUIRE(seed);
  CHECK(*seed == ecu.seed);
  auto key = FakeEcu::key_for(*seed, 0x01);
  REQUIRE(client.security_access_send_key(0x01, key));
  CHECK(ecu.requests.back()[1] == 0x02);
  CHECK(ecu.unlocked);
  auto bad = client.security_access_send_key(0x01, Bytes{1, 2});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "SecurityAccess sendKey 0x02: ECU answered invalidKey (0x35)");
  auto status = client.routine_control(0x01, 0xFF01, Bytes{0xAA});
  REQUIRE(status);
  CHECK(*status == Bytes{0x00});
  CHECK(ecu.requests.back() == Bytes{0x31, 0x01, 0xFF, 0x01, 0xAA});
  REQUIRE(client.tester_present());
  auto reset = client.ecu_reset(0x01);
  REQUIRE(reset);
  CHECK_FALSE(reset->has_value());
  auto clear = client.clear_diagnostic_information();
  CHECK_FALSE(clear);  // the fake does not support 0x14
  CHECK(clear.error().message == "ClearDiagnosticInformation: ECU answered serviceNotSupported (0x11)");
  CHECK(ecu.requests.back() == Bytes{0x14, 0xFF, 0xFF, 0xFF});
}

TEST_CASE("WriteDataByIdentifier and ReadDTCInformation", "[uds]") {
  ScriptedLink link;
  link.script.push_back({{0x6E, 0xF1, 0x90}});
  link.script.push_back({{0x59, 0x02, 0xFF, 0x12, 0x34, 0x56, 0x09}});
  UdsClient client(link, fast_options());
  REQUIRE(client.write_data_by_identifier(0xF190, Bytes{'V', 'I', 'N'}));
  CHECK(link.sent[0] == Bytes{0x2E, 0xF1, 0x90, 'V', 'I', 'N'});
  auto dtcs = client.read_dtc_information(0x02, Bytes{0xFF});
  REQUIRE(dtcs);
  CHECK(*dtcs == Bytes{0xFF, 0x12, 0x34, 0x56, 0x09});
  CHECK(link.sent[1] == Bytes{0x19, 0x02, 0xFF});
}

TEST_CASE("ClearDiagnosticInformation: positive response for all groups and for one", "[uds]") {
  ScriptedLink link;
  link.script.push_back({{0x54}});
  link.script.push_back({{0x7F, 0x14, 0x78}, {0x54}});
  link.script.push_back({{0x7F, 0x14, 0x31}});
  UdsClient client(link, fast_options());
  REQUIRE(client.clear_diagnostic_information());
  CHECK(link.sent[0] == Bytes{0x14, 0xFF, 0xFF, 0xFF});
  REQUIRE(client.clear_diagnostic_information(0x012345));  // after responsePending
  CHECK(link.sent[1] == Bytes{0x14, 0x01, 0x23, 0x45});
  auto bad = client.clear_diagnostic_information(0xABCDEF);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::negative_response);
  CHECK(bad.error().message == "ClearDiagnosticInformation: ECU answered requestOutOfRange (0x31)");
}

// Found by fuzz/uds_fuzz.cpp: 0xFF was taken for 255 s, which the programming sequence then slept
// through after ECUReset, deaf to interrupts.
TEST_CASE("ECUReset's powerDownTime 0xFF means none was given", "[uds]") {
  ScriptedLink link;
  UdsClient client(link, fast_options());
  link.script.push_back({{0x51, 0x01, 0xFF}});
  link.script.push_back({{0x51, 0x04, 0x05}});
  auto unavailable = client.ecu_reset(0x01);
  REQUIRE(unavailable);
  CHECK_FALSE(unavailable->has_value());
  auto five = client.ecu_reset(0x04);
  REQUIRE(five);
  CHECK(*five == std::optional<std::uint8_t>{5});
}

TEST_CASE("an answer limit caps the wait for the first answer, not P2* after responsePending", "[uds]") {
  ScriptedLink link;
  auto options = fast_options();
  options.timing.p2 = 5000ms;
  options.timing.p2_star = 8000ms;
  UdsClient client(link, options);
  client.set_answer_limit(20ms);
  SECTION("silence: the wait ends at the limit") {
    auto r = client.diagnostic_session_control(0x01);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    REQUIRE(!link.timeouts.empty());
    CHECK(link.timeouts.back() <= 20ms);
  }
  SECTION("after 0x78 the ECU is up: P2* holds") {
    link.script.push_back({{0x7F, 0x10, 0x78}});
    auto r = client.diagnostic_session_control(0x01);
    REQUIRE_FALSE(r);
    REQUIRE(link.timeouts.size() >= 2);
    CHECK(link.timeouts.back() > 5000ms);
  }
  SECTION("lifted, P2 holds again") {
    client.set_answer_limit(std::nullopt);
    REQUIRE_FALSE(client.diagnostic_session_control(0x01));
    CHECK(link.timeouts.back() > 20ms);
  }
}
