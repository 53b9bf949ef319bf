// The DDI client over real HTTP against test/support/ddi_fixture.py on 127.0.0.1.
#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "repository/ddi.hpp"
#include "support/port_process.hpp"
#include "support/temp_dir.hpp"
#include "util/hash.hpp"

using namespace ecuup;
using nlohmann::json;

namespace {

const std::string k_token = "fixture-token-4f1c9e";
const std::string k_token_env = "ECUUP_DDI_HTTP_TEST_TOKEN";
const std::string k_controller = "car-7";
const std::string k_base_path = "/DEFAULT/controller/v1/car-7";

// One ddi_fixture.py process for one test; stopped (SIGTERM) on destruction.
class DdiFixture {
 public:
  DdiFixture(const test::TempDir& dir, const json& scenario) : m_log(dir / "requests.jsonl") {
    std::ofstream(dir / "scenario.json") << scenario.dump(2);
    std::vector<std::string> args = {"python3", std::string(ECUUP_SOURCE_DIR) + "/test/support/ddi_fixture.py",
                                     "--scenario", (dir / "scenario.json").string(), "--log", m_log.string()};
    m_process = std::make_unique<test::PortProcess>(std::move(args));
  }
  DdiFixture(const DdiFixture&) = delete;
  DdiFixture& operator=(const DdiFixture&) = delete;

  bool running() const { return m_process->port() > 0; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_process->port()); }
  std::vector<json> requests() const {
    std::vector<json> out;
    std::ifstream in(m_log);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }

 private:
  std::filesystem::path m_log;
  std::unique_ptr<test::PortProcess> m_process;
};

json scenario() {
  const std::string image = "BMS image 1.3.0\n";
  return {{"controller", k_controller},
          {"auth", "TargetToken " + k_token},
          {"base",
           {{"config", {{"polling", {{"sleep", "00:10:00"}}}}},
            {"_links",
             {{"deploymentBase", {{"href", "{base}/deploymentBase/12?c=-1"}}},
              {"configData", {{"href", "{base}/configData"}}}}}}},
          {"deployments",
           {{"12",
             {{"id", "12"},
              {"deployment",
               {{"download", "forced"},
                {"update", "forced"},
                {"maintenanceWindow", "available"},
                {"chunks",
                 {{{"part", "battery"},
                   {"version", "1.3.0"},
                   {"name", "bms firmware"},
                   {"artifacts",
                    {{{"filename", "bms-1.3.0.bin"},
                      {"size", image.size()},
                      {"hashes", {{"sha256", sha256_hex(std::string_view(image))}}},
                      {"_links",
                       {{"download", {{"href", "https://cdn.invalid/bms-1.3.0.bin"}}},
                        {"download-http", {{"href", "{server}/artifacts/bms-1.3.0.bin"}}}}}}}}}}}}}}}}},
          {"artifacts", {{"bms-1.3.0.bin", image}}}};
}

Config config_for(const DdiFixture& fixture) {
  Config config;
  config.vehicle_id = k_controller;
  config.server.kind = "ddi";
  config.server.url = fixture.url();
  config.server.token_env = k_token_env;
  config.server.max_attempts = 3;
  EcuConfig bms;
  bms.name = "bms";
  bms.part = "battery";
  config.ecus.push_back(bms);
  return config;
}

// The same client as make_ddi_repository builds, with short backoffs so retries stay quick.
std::unique_ptr<Repository> quick_client(const DdiFixture& fixture, const std::string& token) {
  Config config = config_for(fixture);
  auto options = ddi_http_options(config.server, token);
  REQUIRE(options.ok());
  options->backoff_base = std::chrono::milliseconds(20);
  options->backoff_max = std::chrono::milliseconds(100);
  DdiSettings settings;
  settings.base_url = fixture.url() + k_base_path;
  settings.ecus = {{"bms", "battery"}};
  settings.secret = token;
  settings.conflict_backoff = std::chrono::milliseconds(10);
  return std::make_unique<DdiRepository>(std::move(settings), make_http_transport(std::move(*options)));
}

bool python_available() {
  static const bool available = std::system("python3 -c 'import http.server' >/dev/null 2>&1") == 0;
  return available;
}

struct TokenEnv {
  explicit TokenEnv(const std::string& value) { ::setenv(k_token_env.c_str(), value.c_str(), 1); }
  ~TokenEnv() { ::unsetenv(k_token_env.c_str()); }
};

}  // namespace

TEST_CASE("ddi over HTTP: full report, download and feedback", "[ddi]") {
  if (!python_available()) {
    WARN("skipped: python3 not available for ddi_fixture.py");
    return;
  }
  test::TempDir dir;
  DdiFixture fixture(dir, scenario());
  REQUIRE(fixture.running());
  TokenEnv env(k_token);
  auto repo = make_ddi_repository(config_for(fixture));
  REQUIRE(repo.ok());

  auto report = (*repo)->report({{"bms", "battery", "1.2.0"}}, {{"VIN", "WVW000TEST"}});
  REQUIRE(report.ok());
  CHECK(report->poll_interval == std::chrono::minutes(10));
  REQUIRE(report->tasks.size() == 1);
  const Task& task = report->tasks[0];
  CHECK(task.ecu == "bms");
  CHECK(task.action_id == "12");
  REQUIRE(task.artifacts.size() == 1);
  // The server URL is plain http, so the download-http link is the one taken.
  CHECK(task.artifacts[0].url == fixture.url() + "/artifacts/bms-1.3.0.bin");

  auto requests = fixture.requests();
  REQUIRE(requests.size() == 3);
  CHECK(requests[0]["method"] == "PUT");
  CHECK(requests[0]["path"] == k_base_path + "/configData");
  CHECK(requests[0]["headers"]["authorization"] == "TargetToken " + k_token);
  CHECK(requests[0]["headers"]["content-type"].get<std::string>().rfind("application/json", 0) == 0);
  json config_data = json::parse(requests[0]["body"].get<std::string>());
  CHECK(config_data == json({{"mode", "merge"}, {"data", {{"ecu.battery.version", "1.2.0"}, {"VIN", "WVW000TEST"}}}}));
  CHECK(requests[1]["method"] == "GET");
  CHECK(requests[1]["path"] == k_base_path);
  CHECK(requests[2]["path"] == k_base_path + "/deploymentBase/12");
  CHECK(requests[2]["query"] == "c=-1");

  auto partial = dir / "bms.part";
  REQUIRE((*repo)->download(task.artifacts[0], partial, null_progress()).ok());
  auto digest = sha256_file(partial);
  REQUIRE(digest.ok());
  CHECK(*digest == task.artifacts[0].sha256);

  Feedback fb;
  fb.action_id = "12";
  fb.execution = FeedbackExecution::closed;
  fb.finished = FeedbackFinished::success;
  fb.details = {"bms: 1.3.0 installed"};
  REQUIRE((*repo)->send_feedback(fb).ok());
  CHECK((*repo)->last_feedback_outcome() == FeedbackOutcome::delivered);
  requests = fixture.requests();
  const json& post = requests.back();
  CHECK(post["method"] == "POST");
  CHECK(post["path"] == k_base_path + "/deploymentBase/12/feedback");
  CHECK(post["status"] == 200);
  json body = json::parse(post["body"].get<std::string>());
  CHECK(body["status"]["execution"] == "closed");
  CHECK(body["status"]["result"]["finished"] == "success");
}

TEST_CASE("ddi over HTTP: 429 and 503 are retried", "[ddi]") {
  if (!python_available()) {
    WARN("skipped: python3 not available for ddi_fixture.py");
    return;
  }
  test::TempDir dir;
  json sc = scenario();
  sc["faults"] = {{{"method", "PUT"}, {"path", k_base_path + "/configData"}, {"status", 429}, {"retry_after", 0}},
                  {{"method", "GET"}, {"path", k_base_path}, {"status", 503}, {"count", 2}}};
  DdiFixture fixture(dir, sc);
  REQUIRE(fixture.running());
  auto repo = quick_client(fixture, k_token);
  auto report = repo->report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(report.ok());
  CHECK(report->tasks.size() == 1);
  std::vector<long> statuses;
  for (const auto& r : fixture.requests()) statuses.push_back(r["status"].get<long>());
  CHECK(statuses == std::vector<long>{429, 200, 503, 503, 200, 200});
}

TEST_CASE("ddi over HTTP: a server that stays unavailable is a network error", "[ddi]") {
  if (!python_available()) {
    WARN("skipped: python3 not available for ddi_fixture.py");
    return;
  }
  test::TempDir dir;
  json sc = scenario();
  sc["faults"] = {{{"method", "GET"}, {"path", k_base_path}, {"status", 503}, {"count", 100}}};
  DdiFixture fixture(dir, sc);
  REQUIRE(fixture.running());
  auto repo = quick_client(fixture, k_token);
  auto report = repo->report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE_FALSE(report.ok());
  CHECK(report.error().code == Errc::network);
}

TEST_CASE("ddi over HTTP: a wrong token is Errc::auth and never shows in the error", "[ddi]") {
  if (!python_available()) {
    WARN("skipped: python3 not available for ddi_fixture.py");
    return;
  }
  test::TempDir dir;
  DdiFixture fixture(dir, scenario());
  REQUIRE(fixture.running());
  const std::string wrong = "wrong-token-77aa";
  TokenEnv env(wrong);
  auto repo = make_ddi_repository(config_for(fixture));
  REQUIRE(repo.ok());
  auto report = (*repo)->report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE_FALSE(report.ok());
  CHECK(report.error().code == Errc::auth);
  CHECK_THAT(report.error().message, Catch::Contains("the server refused the token (HTTP 401)"));
  CHECK_THAT(report.error().message, !Catch::Contains(wrong));
  CHECK_THAT((*repo)->describe(), !Catch::Contains(wrong));

  Feedback fb;
  fb.action_id = "12";
  auto sent = (*repo)->send_feedback(fb);
  REQUIRE_FALSE(sent.ok());
  CHECK(sent.error().code == Errc::auth);
  CHECK_THAT(sent.error().message, !Catch::Contains(wrong));
}

TEST_CASE("ddi over HTTP: 410 on feedback means the action is over", "[ddi]") {
  if (!python_available()) {
    WARN("skipped: python3 not available for ddi_fixture.py");
    return;
  }
  test::TempDir dir;
  json sc = scenario();
  sc["feedback_status"] = {{"12", 410}};
  sc["cancel_feedback_status"] = {{"13", 200}};
  DdiFixture fixture(dir, sc);
  REQUIRE(fixture.running());
  auto repo = quick_client(fixture, k_token);
  Feedback fb;
  fb.action_id = "12";
  fb.execution = FeedbackExecution::closed;
  fb.finished = FeedbackFinished::failure;
  REQUIRE(repo->send_feedback(fb).ok());
  CHECK(repo->last_feedback_outcome() == FeedbackOutcome::action_closed);
  CHECK(fixture.requests().back()["status"] == 410);

  REQUIRE(repo->send_feedback(ddi_cancel_accepted("13")).ok());
  CHECK(repo->last_feedback_outcome() == FeedbackOutcome::delivered);
  CHECK(fixture.requests().back()["path"] == k_base_path + "/cancelAction/13/feedback");
}

TEST_CASE("ddi over HTTP: a cancel request is reported with its id", "[ddi]") {
  if (!python_available()) {
    WARN("skipped: python3 not available for ddi_fixture.py");
    return;
  }
  test::TempDir dir;
  json sc = scenario();
  sc["base"]["_links"] = {{"cancelAction", {{"href", "{base}/cancelAction/12"}}}};
  sc["cancels"] = {{"12", {{"id", "12"}, {"cancelAction", {{"stopId", "12"}}}}}};
  DdiFixture fixture(dir, sc);
  REQUIRE(fixture.running());
  auto repo = quick_client(fixture, k_token);
  auto report = repo->report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(report.ok());
  CHECK(report->tasks.empty());
  REQUIRE(report->cancel_action_id);
  CHECK(*report->cancel_action_id == "12");
}
