#include <catch2/catch.hpp>

#include "ecu/preconditions.hpp"
#include "support/temp_dir.hpp"
#include "uds/client.hpp"
#include "uds/fake_ecu.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using ecuup::test::FakeEcu;

namespace {

Precondition battery() {
  Precondition p;
  p.kind = PreconditionKind::did;
  p.name = "battery";
  p.did = 0xF442;
  p.decoding.bytes = 2;
  p.decoding.scale = 0.001;
  p.decoding.unit = "V";
  p.decoding.decimals = 1;
  p.limits.min = 12.0;
  p.limits.max = 16.0;
  return p;
}

Precondition engine() {
  Precondition p;
  p.kind = PreconditionKind::did;
  p.name = "engine";
  p.did = 0x0100;
  p.limits.values = {{0, "off"}, {2, "running"}};
  p.limits.one_of = {0.0};
  return p;
}

Precondition routine() {
  Precondition p;
  p.kind = PreconditionKind::routine;
  p.name = "programming preconditions";
  p.routine = 0x0203;
  p.session = 0x03;
  p.codes = {{0x01, "engine running"}, {0x02, "vehicle moving"}};
  return p;
}

Precondition command(const std::string& text) {
  Precondition p;
  p.kind = PreconditionKind::command;
  p.name = "bench";
  p.command = text;
  p.timeout = 5s;
  return p;
}

UdsClientOptions fast() {
  UdsClientOptions o;
  o.margin = 1ms;
  o.conditions_patience = 0ms;
  return o;
}

}  // namespace

TEST_CASE("decode_did_value: bytes, sign, order, scale and offset", "[ecu][preconditions]") {
  DidDecoding d;
  d.bytes = 2;
  d.scale = 0.001;
  CHECK(*decode_did_value(d, Bytes{0x2A, 0x94}) == Approx(10.9));  // 10900 mV
  d.start = 1;
  d.bytes = 1;
  d.scale = 1;
  CHECK(*decode_did_value(d, Bytes{0x00, 0xFF}) == Approx(255));
  d.is_signed = true;
  CHECK(*decode_did_value(d, Bytes{0x00, 0xFF}) == Approx(-1));
  d.start = 0;
  d.bytes = 2;
  d.byte_order = ByteOrder::little;
  d.offset = -40;
  CHECK(*decode_did_value(d, Bytes{0x50, 0x00}) == Approx(40));  // 0x0050 = 80, minus 40
  d.bytes = 8;
  CHECK(*decode_did_value(d, Bytes(8, 0xFF)) == Approx(-41));  // all ones: -1, minus 40
  auto short_record = decode_did_value(d, Bytes{0x01});
  REQUIRE_FALSE(short_record);
  CHECK(short_record.error().code == Errc::protocol);
}

TEST_CASE("judge_did_value names the value and the limit", "[ecu][preconditions]") {
  const Precondition b = battery();
  CHECK(judge_did_value(b, 12.6).empty());
  CHECK(judge_did_value(b, 12.0).empty());  // the limit itself is met
  CHECK(judge_did_value(b, 10.9) == "10.9 V is below the minimum 12.0 V");
  CHECK(judge_did_value(b, 16.31) == "16.3 V is above the maximum 16.0 V");
  const Precondition e = engine();
  CHECK(judge_did_value(e, 0).empty());
  CHECK(judge_did_value(e, 2) == "running (2), expected off (0)");
  Precondition speed;
  speed.decoding.unit = "km/h";
  speed.decoding.scale = 0.01;
  speed.limits.max = 0;
  CHECK(judge_did_value(speed, 30) == "30.00 km/h is above the maximum 0.00 km/h");
  Precondition several = engine();
  several.limits.one_of = {0.0, 1.0};
  CHECK(judge_did_value(several, 2) == "running (2) is not one of off (0), 1");
}

TEST_CASE("judge_routine_status: ISO's empty record, an expected status, named codes", "[ecu][preconditions]") {
  Precondition r = routine();
  CHECK(judge_routine_status(r, Bytes{}).empty());
  CHECK(judge_routine_status(r, Bytes{0x02, 0x07}) ==
        "the ECU lists conditions not met: 0x02 (vehicle moving), 0x07");
  r.expect = {0x00};
  CHECK(judge_routine_status(r, Bytes{0x00}).empty());
  CHECK(judge_routine_status(r, Bytes{0x01}) == "routine status 01, expected 00 (0x01 (engine running))");
  CHECK(judge_routine_status(r, Bytes{}) == "routine status empty, expected 00");
}

TEST_CASE("command preconditions: exit status and the last line of stderr", "[ecu][preconditions]") {
  ecuup::test::TempDir dir;
  Precondition ok = command("test -d .");
  ok.work_dir = dir.path();
  auto met = check_command_precondition(ok);
  REQUIRE(met);
  CHECK(met->met);
  CHECK(met->value == "exit status 0");
  auto failed = check_command_precondition(command("echo first >&2; echo 'bench supply off' >&2; exit 3"));
  REQUIRE(failed);
  CHECK_FALSE(failed->met);
  CHECK(failed->reason == "the command ended with exit status 3: bench supply off");
  Precondition slow = command("sleep 5");
  slow.timeout = 1s;
  auto late = check_command_precondition(slow);
  REQUIRE(late);
  CHECK_FALSE(late->met);
  CHECK(late->reason == "the command did not finish within 1 s");
}

TEST_CASE("run_uds_preconditions reads DIDs, starts the routine and never writes", "[ecu][preconditions]") {
  FakeEcu ecu;
  ecu.dids[0xF442] = {0x2A, 0x94};  // 10.9 V
  ecu.dids[0x0100] = {0x00};
  UdsClient client(ecu, fast());
  NullProgress progress;
  Precondition expect_ok = routine();
  expect_ok.expect = {0x00};  // FakeEcu answers every routine with status 00
  auto out = run_uds_preconditions(client, {battery(), engine(), expect_ok, command("exit 0")}, 0x01, progress);
  REQUIRE(out);
  REQUIRE(out->size() == 4);
  CHECK_FALSE((*out)[0].met);
  CHECK((*out)[0].value == "10.9 V");
  CHECK((*out)[0].reason == "10.9 V is below the minimum 12.0 V");
  CHECK((*out)[1].met);
  CHECK((*out)[1].value == "off (0)");
  CHECK((*out)[2].met);
  CHECK((*out)[3].met);
  // 22 F442, 22 0100, 10 03 (the routine's session), 31 01 0203, 10 01 (back to default).
  std::vector<Bytes> want = {{0x22, 0xF4, 0x42}, {0x22, 0x01, 0x00}, {0x10, 0x03}, {0x31, 0x01, 0x02, 0x03}, {0x10, 0x01}};
  CHECK(ecu.requests == want);
}

TEST_CASE("run_uds_preconditions: a check that cannot be made is not met", "[ecu][preconditions]") {
  FakeEcu ecu;  // knows neither DID
  ecu.nrc_always[Bytes{0x31, 0x01, 0x02, 0x03}] = 0x22;
  UdsClient client(ecu, fast());
  NullProgress progress;
  auto out = run_uds_preconditions(client, {battery(), routine()}, 0x01, progress);
  REQUIRE(out);
  CHECK_FALSE((*out)[0].met);
  CHECK((*out)[0].reason.find("DID 0xF442 could not be read") == 0);
  CHECK_FALSE((*out)[1].met);
  CHECK((*out)[1].reason.find("routine 0x0203 could not be run") == 0);
}
