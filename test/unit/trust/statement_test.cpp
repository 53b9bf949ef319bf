#include "trust/statement.hpp"

#include <catch2/catch.hpp>

#include "trust/policy.hpp"

using namespace ecuup;

namespace {

ReleaseStatement sample() {
  ReleaseStatement st;
  st.part = "bms";
  st.version = "1.1.0";
  st.hardware = {"BMS-HW-A", "BMS-HW-B"};
  st.security_version = 3;
  st.expires = "2099-01-01T00:00:00Z";
  st.artifacts = {{"bms-1.1.0.hex", std::string(64, 'a'), 1234}};
  return st;
}

std::string with(std::string doc, const std::string& from, const std::string& to) {
  auto at = doc.find(from);
  REQUIRE(at != std::string::npos);
  return doc.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("statement: what release_statement_json writes parses back the same", "[trust]") {
  auto parsed = parse_release_statement(release_statement_json(sample()));
  REQUIRE(parsed.ok());
  CHECK(parsed->part == "bms");
  CHECK(parsed->version == "1.1.0");
  CHECK(parsed->hardware == std::vector<std::string>{"BMS-HW-A", "BMS-HW-B"});
  CHECK(parsed->security_version == 3);
  CHECK(parsed->expires_unix == 4070908800);
  REQUIRE(parsed->artifacts.size() == 1);
  CHECK(parsed->artifacts[0].size == 1234);
  CHECK(release_statement_json(*parsed) == release_statement_json(sample()));
}

TEST_CASE("statement: anything not exactly the format is refused", "[trust]") {
  std::string good = release_statement_json(sample());
  for (const std::string& bad : {
           with(good, "\"version\": \"1.1.0\"", "\"version\": \"\""),
           with(good, "\"version\": \"1.1.0\"", "\"version\": \"1.1\\u0000\""),
           with(good, "\"version\": \"1.1.0\"", "\"version\": 110"),
           with(good, "\"part\": \"bms\",", ""),
           with(good, "\"ecuup_release\": 1", "\"ecuup_release\": 2"),
           with(good, "\"security_version\": 3", "\"security_version\": -1"),
           with(good, "\"expires\": \"2099-01-01T00:00:00Z\"", "\"expires\": \"2099-01-01\""),
           with(good, "\"expires\": \"2099-01-01T00:00:00Z\"", "\"expires\": \"2099-02-30T00:00:00Z\""),
           with(good, std::string(64, 'a'), std::string(40, 'a')),
           with(good, std::string(64, 'a'), std::string(64, 'A')),
           with(good, "\"bms-1.1.0.hex\"", "\"../etc/passwd\""),
           with(good, "\"ecuup_release\": 1", "\"ecuup_release\": 1, \"extra\": true"),
           R"({"ecuup_release":1,"part":"bms","version":"1","hardware":[],"security_version":0,"expires":"2099-01-01T00:00:00Z","artifacts":[{"name":"a","sha256":")" +
               std::string(64, 'a') + R"(","size":1}]})",
           std::string("[]"),
           std::string("{"),
           std::string(k_statement_max_bytes + 1, ' '),
       }) {
    INFO(bad);
    auto r = parse_release_statement(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::verify);
  }
}

TEST_CASE("statement: UTC times", "[trust]") {
  CHECK(*parse_utc_time("1970-01-01T00:00:00Z") == 0);
  CHECK(*parse_utc_time("2024-02-29T12:00:00Z") == 1709208000);
  CHECK_FALSE(parse_utc_time("2023-02-29T12:00:00Z").ok());
  CHECK_FALSE(parse_utc_time("2024-02-29 12:00:00Z").ok());
  CHECK_FALSE(parse_utc_time("2024-02-29T12:00:00+01:00").ok());
  CHECK_FALSE(parse_utc_time("+024-02-29T12:00:00Z").ok());
}

TEST_CASE("policy: each rule refuses with its name; a matching target passes", "[trust]") {
  ReleaseStatement st = sample();
  TargetFacts t{.ecu = "bms",
                .part = "bms",
                .version = "1.1.0",
                .hardware = "BMS-HW-B",
                .installed_security_version = 3,
                .offered = {{"bms-1.1.0.hex", std::string(64, 'a'), 1234}}};
  CHECK(check_target(st, t).ok());

  auto refused_by = [&](TargetFacts changed, const std::string& rule) {
    auto r = check_target(st, changed);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::verify);
    CHECK(r.error().message.find("rule '" + rule + "'") != std::string::npos);
  };
  auto other_part = t;
  other_part.part = "gateway";
  refused_by(other_part, "part");
  auto other_version = t;
  other_version.version = "1.2.0";
  refused_by(other_version, "version");
  auto other_hw = t;
  other_hw.hardware = "GW-HW";
  refused_by(other_hw, "hardware");
  auto unknown_hw = t;
  unknown_hw.hardware = "";
  refused_by(unknown_hw, "hardware");
  auto rollback = t;
  rollback.installed_security_version = 4;
  refused_by(rollback, "security version");
  auto never_flashed = t;
  never_flashed.installed_security_version.reset();
  CHECK(check_target(st, never_flashed).ok());
  auto other_hash = t;
  other_hash.offered[0].sha256 = std::string(64, 'b');
  refused_by(other_hash, "artifacts");
  auto other_size = t;
  other_size.offered[0].size = 1235;
  refused_by(other_size, "artifacts");
  auto extra = t;
  extra.offered.push_back({"evil.bin", std::string(64, 'c'), 10});
  refused_by(extra, "artifacts");
  auto partial = t;
  partial.offered.clear();
  refused_by(partial, "artifacts");
}
