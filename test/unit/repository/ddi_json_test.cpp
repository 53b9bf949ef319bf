#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "repository/ddi_json.hpp"
#include "repository/ddi_spec.hpp"

using namespace ecuup;
using namespace ecuup::ddi;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const std::vector<EcuPart> k_spec_ecus = {{"gateway", "jvm"}, {"body", "bApp"}, {"engine", "os"}};

json artifact(const std::string& name) {
  return {{"filename", name},
          {"size", 13},
          {"hashes", {{"sha1", std::string(40, 'a')}, {"sha256", std::string(64, 'b')}}},
          {"_links",
           {{"download", {{"href", "https://cdn.example/" + name}}},
            {"download-http", {{"href", "http://cdn.example/" + name}}}}}};
}

json deployment(json chunks) {
  return {{"id", "8"},
          {"deployment", {{"download", "forced"}, {"update", "forced"}, {"chunks", std::move(chunks)}}}};
}

json chunk(const std::string& part, json artifacts) {
  return {{"part", part}, {"version", "2.0.0"}, {"name", part + " firmware"}, {"artifacts", std::move(artifacts)}};
}

}  // namespace

TEST_CASE("ddi: the OpenAPI examples of controller base and deployment base parse", "[ddi]") {
  auto spec = test::load_ddi_spec();
  if (!spec) {
    WARN("skipped: DDI OpenAPI description not found at " << test::ddi_spec_path());
    return;
  }
  const json& base_example = test::ddi_schema(*spec, "DdiControllerBase").at("example");
  auto base = parse_controller_base(base_example.dump());
  REQUIRE(base.ok());
  REQUIRE(base->deployment_href);
  CHECK(*base->deployment_href == base_example["_links"]["deploymentBase"]["href"].get<std::string>());
  CHECK(base->config_data_href);
  CHECK_FALSE(base->cancel_href);
  REQUIRE(base->poll_sleep);
  auto sleep = parse_polling_sleep(*base->poll_sleep);
  REQUIRE(sleep.ok());
  CHECK(*sleep == 12h);

  const json& deploy_example = test::ddi_schema(*spec, "DdiDeploymentBase").at("example");
  auto deployment = parse_deployment_base(deploy_example.dump(), k_spec_ecus, DownloadScheme::https);
  REQUIRE(deployment.ok());
  CHECK(deployment->action_id == deploy_example["id"].get<std::string>());
  const json& chunks = deploy_example["deployment"]["chunks"];
  REQUIRE(deployment->tasks.size() == chunks.size());
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    const Task& task = deployment->tasks[i];
    CHECK(task.part == chunks[i]["part"].get<std::string>());
    CHECK(task.target_version == chunks[i]["version"].get<std::string>());
    CHECK(task.action_id == deployment->action_id);
    CHECK_FALSE(task.download_only);
    CHECK(task.maintenance_window_open);
    REQUIRE(task.artifacts.size() == chunks[i]["artifacts"].size());
    for (std::size_t k = 0; k < task.artifacts.size(); ++k) {
      const json& a = chunks[i]["artifacts"][k];
      CHECK(task.artifacts[k].name == a["filename"].get<std::string>());
      CHECK(task.artifacts[k].size == a["size"].get<std::uint64_t>());
      CHECK(task.artifacts[k].sha256 == a["hashes"]["sha256"].get<std::string>());
      CHECK(task.artifacts[k].sha1 == a["hashes"]["sha1"].get<std::string>());
      CHECK(task.artifacts[k].url == a["_links"]["download"]["href"].get<std::string>());
    }
  }
  for (const Task& task : deployment->tasks) {
    for (const EcuPart& e : k_spec_ecus)
      if (e.part == task.part) CHECK(task.ecu == e.ecu);
  }

  // The cancel schema has no example; build one from its required fields.
  json cancel = {{"id", "11"}, {"cancelAction", {{"stopId", "11"}}}};
  REQUIRE(test::validate_ddi(*spec, "DdiCancel", cancel).empty());
  auto parsed_cancel = parse_cancel_action(cancel.dump());
  REQUIRE(parsed_cancel.ok());
  CHECK(parsed_cancel->id == "11");
  CHECK(parsed_cancel->stop_id == "11");
}

TEST_CASE("ddi: configData and feedback bodies satisfy their schemas", "[ddi]") {
  auto spec = test::load_ddi_spec();
  if (!spec) {
    WARN("skipped: DDI OpenAPI description not found at " << test::ddi_spec_path());
    return;
  }
  std::vector<ReportedEcu> ecus = {{"bms", "bms", "1.2.0"}, {"gw", "gateway", "3.1"}, {"unread", "x", ""}};
  json config = json::parse(config_data_body(ecus, {{"VIN", "JH4TB2H26CC000000"}, {"ecu.bms.version", "spoof"}}));
  auto errors = test::validate_ddi(*spec, "DdiConfigData", config);
  INFO(json(errors).dump());
  CHECK(errors.empty());
  CHECK(config["mode"] == "merge");
  CHECK(config["data"]["ecu.bms.version"] == "1.2.0");
  CHECK(config["data"]["ecu.gateway.version"] == "3.1");
  CHECK(config["data"]["VIN"] == "JH4TB2H26CC000000");
  CHECK_FALSE(config["data"].contains("ecu.x.version"));

  const std::vector<FeedbackExecution> executions = {
      FeedbackExecution::proceeding, FeedbackExecution::closed,    FeedbackExecution::canceled,
      FeedbackExecution::rejected,   FeedbackExecution::resumed,   FeedbackExecution::scheduled,
      FeedbackExecution::downloaded, FeedbackExecution::download};
  const std::vector<FeedbackFinished> results = {FeedbackFinished::none, FeedbackFinished::success,
                                                 FeedbackFinished::failure};
  for (auto execution : executions) {
    for (auto finished : results) {
      Feedback fb;
      fb.action_id = "8";
      fb.execution = execution;
      fb.finished = finished;
      json body = json::parse(feedback_body(fb, 1627997501890));
      auto fb_errors = test::validate_ddi(*spec, "DdiActionFeedback", body);
      INFO(body.dump() << " " << json(fb_errors).dump());
      CHECK(fb_errors.empty());
    }
  }
  Feedback full;
  full.execution = FeedbackExecution::proceeding;
  full.progress_cnt = 2;
  full.progress_of = 5;
  full.details = {"bms: flashing block 17", "second line"};
  json body = json::parse(feedback_body(full, 1627997501890));
  CHECK(test::validate_ddi(*spec, "DdiActionFeedback", body).empty());
  CHECK(body["timestamp"] == 1627997501890);
  CHECK(body["status"]["execution"] == "proceeding");
  CHECK(body["status"]["result"]["finished"] == "none");
  CHECK(body["status"]["result"]["progress"] == json({{"cnt", 2}, {"of", 5}}));
  CHECK(body["status"]["details"].size() == 2);

  // The validator itself catches what it must.
  CHECK_FALSE(test::validate_ddi(*spec, "DdiActionFeedback", json{{"status", {{"execution", "done"}}}}).empty());
}

TEST_CASE("ddi: feedback without progress leaves the progress object out", "[ddi]") {
  Feedback fb;
  fb.execution = FeedbackExecution::closed;
  fb.finished = FeedbackFinished::success;
  json body = json::parse(feedback_body(fb, 1));
  CHECK_FALSE(body["status"]["result"].contains("progress"));
  CHECK_FALSE(body["status"].contains("details"));
  fb.progress_cnt = 3;
  body = json::parse(feedback_body(fb, 1));
  CHECK(body["status"]["result"]["progress"] == json({{"cnt", 3}}));
}

TEST_CASE("ddi: polling sleep in HH:MM:SS and ISO-8601", "[ddi]") {
  struct Case {
    const char* text;
    std::chrono::seconds expect;
  };
  for (const Case& c : std::vector<Case>{{"12:00:00", 12h},
                                         {"00:05:00", 5min},
                                         {"00:00:30", 30s},
                                         {"100:00:01", 100h + 1s},
                                         {"PT36H", 36h},
                                         {"P1DT2H30M", 26h + 30min},
                                         {"PT30S", 30s},
                                         {"PT5M", 5min},
                                         {"P2W", 14 * 24h},
                                         {"P1D", 24h},
                                         {"PT1.5M", 90s},
                                         {"PT0.5S", 0s},
                                         {"PT1H0M0S", 1h}}) {
    INFO(c.text);
    auto parsed = parse_polling_sleep(c.text);
    REQUIRE(parsed.ok());
    CHECK(*parsed == c.expect);
  }
  for (const char* bad : {"", "12:00", "1:2:3", "12:60:00", "12:00:61", "aa:bb:cc", "12:00:00:00", "P", "PT",
                          "P1M", "P1Y", "PT1H2", "PT1M1H", "P1DT", "PTH", "-PT1H", "PT1.5H30M", "PT1X", "P1H",
                          "PT9999999999H", "12h", "abc"}) {
    INFO(bad);
    auto parsed = parse_polling_sleep(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == Errc::server);
  }
}

TEST_CASE("ddi: a chunk part that names no ECU is an error naming it", "[ddi]") {
  auto body = deployment(json::array({chunk("bms", json::array({artifact("bms.bin")})),
                                      chunk("infotainment", json::array({artifact("ivi.bin")}))}));
  auto parsed = parse_deployment_base(body.dump(), {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE_FALSE(parsed.ok());
  CHECK(parsed.error().code == Errc::server);
  CHECK_THAT(parsed.error().message, Catch::Contains("'infotainment'"));

  auto twice = deployment(json::array({chunk("bms", json::array({artifact("a.bin")})),
                                       chunk("bms", json::array({artifact("b.bin")}))}));
  auto dup = parse_deployment_base(twice.dump(), {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == Errc::server);
}

TEST_CASE("ddi: chunk part maps to the ECU name; several chunks and artifacts", "[ddi]") {
  auto body = deployment(json::array({chunk("battery", json::array({artifact("bms.hex"), artifact("bms.sig")})),
                                      chunk("gateway", json::array({artifact("gw.s19")}))}));
  auto parsed =
      parse_deployment_base(body.dump(), {{"bms", "battery"}, {"gw", "gateway"}, {"idle", "idle"}}, DownloadScheme::https);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->tasks.size() == 2);
  CHECK(parsed->tasks[0].ecu == "bms");
  CHECK(parsed->tasks[0].part == "battery");
  CHECK(parsed->tasks[0].target_version == "2.0.0");
  REQUIRE(parsed->tasks[0].artifacts.size() == 2);
  CHECK(parsed->tasks[0].artifacts[1].name == "bms.sig");
  CHECK(parsed->tasks[1].ecu == "gw");
}

TEST_CASE("ddi: sha256 preferred, sha1 accepted alone, none refused", "[ddi]") {
  json only_sha1 = artifact("a.bin");
  only_sha1["hashes"] = {{"sha1", "986A1ADE8B8A2F758CE951340CC5E21335CC2A00"}, {"md5", std::string(32, 'c')}};
  auto parsed = parse_deployment_base(deployment(json::array({chunk("bms", json::array({only_sha1}))})).dump(),
                                      {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE(parsed.ok());
  const ArtifactRef& a = parsed->tasks[0].artifacts[0];
  CHECK(a.sha256.empty());
  CHECK(a.sha1 == "986a1ade8b8a2f758ce951340cc5e21335cc2a00");

  json md5_only = artifact("a.bin");
  md5_only["hashes"] = {{"md5", std::string(32, 'c')}};
  auto none = parse_deployment_base(deployment(json::array({chunk("bms", json::array({md5_only}))})).dump(),
                                    {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().code == Errc::server);

  json bad_hash = artifact("a.bin");
  bad_hash["hashes"]["sha256"] = "xyz";
  auto bad = parse_deployment_base(deployment(json::array({chunk("bms", json::array({bad_hash}))})).dump(),
                                   {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE_FALSE(bad.ok());
}

TEST_CASE("ddi: download link follows the server's scheme, falls back to the other", "[ddi]") {
  auto both = deployment(json::array({chunk("bms", json::array({artifact("a.bin")}))})).dump();
  auto http = parse_deployment_base(both, {{"bms", "bms"}}, DownloadScheme::http);
  REQUIRE(http.ok());
  CHECK(http->tasks[0].artifacts[0].url == "http://cdn.example/a.bin");
  auto https = parse_deployment_base(both, {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE(https.ok());
  CHECK(https->tasks[0].artifacts[0].url == "https://cdn.example/a.bin");

  json only_http = artifact("a.bin");
  only_http["_links"].erase("download");
  auto fallback = parse_deployment_base(deployment(json::array({chunk("bms", json::array({only_http}))})).dump(),
                                        {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE(fallback.ok());
  CHECK(fallback->tasks[0].artifacts[0].url == "http://cdn.example/a.bin");

  json no_links = artifact("a.bin");
  no_links.erase("_links");
  auto missing = parse_deployment_base(deployment(json::array({chunk("bms", json::array({no_links}))})).dump(),
                                       {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == Errc::server);
}

TEST_CASE("ddi: update skip and maintenance window", "[ddi]") {
  json body = deployment(json::array({chunk("bms", json::array({artifact("a.bin")}))}));
  body["deployment"]["update"] = "skip";
  body["deployment"]["maintenanceWindow"] = "unavailable";
  auto parsed = parse_deployment_base(body.dump(), {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE(parsed.ok());
  CHECK(parsed->tasks[0].download_only);
  CHECK_FALSE(parsed->tasks[0].maintenance_window_open);

  body["deployment"]["update"] = "attempt";
  body["deployment"]["maintenanceWindow"] = "available";
  parsed = parse_deployment_base(body.dump(), {{"bms", "bms"}}, DownloadScheme::https);
  REQUIRE(parsed.ok());
  CHECK_FALSE(parsed->tasks[0].download_only);
  CHECK(parsed->tasks[0].maintenance_window_open);
}

TEST_CASE("ddi: malformed server answers are Errc::server", "[ddi]") {
  const std::vector<EcuPart> ecus = {{"bms", "bms"}};
  for (const std::string& body :
       {std::string("not json"), std::string("[]"), json({{"deployment", {{"chunks", json::array()}}}}).dump(),
        json({{"id", "1"}}).dump(), json({{"id", "1"}, {"deployment", {{"chunks", "x"}}}}).dump(),
        deployment(json::array({json{{"part", "bms"}}})).dump(),
        deployment(json::array({chunk("bms", json::array())})).dump(),
        deployment(json::array({chunk("bms", json::array({artifact("../../etc/passwd")}))})).dump(),
        deployment(json::array({chunk("bms", json::array({json{{"filename", 5}}}))})).dump()}) {
    INFO(body);
    auto parsed = parse_deployment_base(body, ecus, DownloadScheme::https);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == Errc::server);
  }
  CHECK_FALSE(parse_controller_base("{").ok());
  CHECK_FALSE(parse_controller_base(R"({"_links":{"deploymentBase":"x"}})").ok());
  CHECK_FALSE(parse_controller_base(R"({"config":{"polling":{"sleep":5}}})").ok());
  CHECK_FALSE(parse_cancel_action(R"({"id":"3"})").ok());

  auto empty = parse_controller_base("{}");
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->deployment_href);
  CHECK_FALSE(empty->poll_sleep);

  auto numeric = parse_deployment_base(R"({"id":42,"deployment":{"chunks":[]}})", ecus, DownloadScheme::https);
  REQUIRE(numeric.ok());
  CHECK(numeric->action_id == "42");
  CHECK(numeric->tasks.empty());
}

TEST_CASE("ddi: feedback url and error summaries", "[ddi]") {
  CHECK(feedback_url("https://h/T/controller/v1/c/deploymentBase/5?c=-2127183556") ==
        "https://h/T/controller/v1/c/deploymentBase/5/feedback");
  CHECK(feedback_url("http://h/T/controller/v1/c/cancelAction/7") == "http://h/T/controller/v1/c/cancelAction/7/feedback");
  CHECK(feedback_url("http://h/x/5/#frag") == "http://h/x/5/feedback");

  CHECK(error_summary(R"({"exceptionClass":"X","errorCode":"hawkbit.server.error.repo.entitiyNotFound","message":"Target not found"})") ==
        "hawkbit.server.error.repo.entitiyNotFound: Target not found");
  CHECK(error_summary("plain\ntext") == "plain text");
  CHECK(error_summary("").empty());
  CHECK(error_summary(std::string(500, 'x')).size() < 220);
}
