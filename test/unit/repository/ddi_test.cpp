#include <catch2/catch.hpp>

#include <cstdlib>
#include <deque>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "repository/ddi.hpp"
#include "support/temp_dir.hpp"

using namespace ecuup;
using nlohmann::json;

namespace {

const std::string k_base = "http://ddi.test/DEFAULT/controller/v1/car-1";
const std::string k_token = "s3cr3t-t0ken-value";

struct Recorded {
  std::string method;
  std::string url;
  std::string body;
};

// Answers from a script keyed by "METHOD url"; each key holds a queue, the last answer repeats.
class ScriptedTransport final : public DdiTransport {
 public:
  struct Shared {
    std::map<std::string, std::deque<Result<HttpResponse>>> script;
    std::vector<Recorded> log;
    Result<DownloadResult> download_result = DownloadResult{};
  };
  explicit ScriptedTransport(Shared& shared) : m_shared(shared) {}

  Result<HttpResponse> request(const std::string& method, const std::string& url, const std::string& body) override {
    m_shared.log.push_back({method, url, body});
    auto it = m_shared.script.find(method + " " + url);
    if (it == m_shared.script.end() || it->second.empty()) return HttpResponse{404, "{}", {}};
    Result<HttpResponse> answer = it->second.front();
    if (it->second.size() > 1) it->second.pop_front();
    return answer;
  }
  Result<DownloadResult> download(const std::string& url, const std::filesystem::path&, Progress&, std::uint64_t) override {
    m_shared.log.push_back({"DOWNLOAD", url, {}});
    return m_shared.download_result;
  }

 private:
  Shared& m_shared;
};

HttpResponse answer(long status, std::string body = {}) { return HttpResponse{status, std::move(body), {}}; }

struct Harness {
  ScriptedTransport::Shared shared;
  DdiRepository repo;
  Harness()
      : repo(
            [] {
              DdiSettings s;
              s.base_url = k_base;
              s.ecus = {{"bms", "battery"}, {"gw", "gateway"}};
              s.attributes = {{"VIN", "WVW000TEST"}};
              s.secret = k_token;
              s.conflict_attempts = 3;
              s.conflict_backoff = std::chrono::milliseconds(1);
              return s;
            }(),
            std::make_unique<ScriptedTransport>(shared)) {}
  void on(const std::string& key, std::initializer_list<Result<HttpResponse>> answers) {
    shared.script[key] = std::deque<Result<HttpResponse>>(answers);
  }
};

json deployment_body() {
  return {{"id", "5"},
          {"deployment",
           {{"download", "forced"},
            {"update", "attempt"},
            {"maintenanceWindow", "available"},
            {"chunks",
             {{{"part", "battery"},
               {"version", "1.3.0"},
               {"name", "bms"},
               {"artifacts",
                {{{"filename", "bms-1.3.0.bin"},
                  {"size", 4096},
                  {"hashes", {{"sha256", std::string(64, 'a')}, {"sha1", std::string(40, 'b')}}},
                  {"_links", {{"download-http", {{"href", "http://ddi.test/art/bms-1.3.0.bin"}}}}}}}}}}}}}};
}

json base_body(bool with_deployment, bool with_cancel, const std::string& sleep = "00:05:00") {
  json links = json::object();
  if (with_deployment) links["deploymentBase"] = {{"href", k_base + "/deploymentBase/5?c=-2127183556"}};
  if (with_cancel) links["cancelAction"] = {{"href", k_base + "/cancelAction/4"}};
  return {{"config", {{"polling", {{"sleep", sleep}}}}}, {"_links", links}};
}

}  // namespace

TEST_CASE("ddi: report uploads versions, reads the base, follows deploymentBase and cancelAction", "[ddi]") {
  Harness h;
  h.on("PUT " + k_base + "/configData", {answer(200)});
  h.on("GET " + k_base, {answer(200, base_body(true, true).dump())});
  h.on("GET " + k_base + "/deploymentBase/5?c=-2127183556", {answer(200, deployment_body().dump())});
  h.on("GET " + k_base + "/cancelAction/4", {answer(200, R"({"id":"4","cancelAction":{"stopId":"4"}})")});

  auto result = h.repo.report({{"bms", "battery", "1.2.0"}, {"gw", "gateway", "7.0"}}, {{"hwRevision", "2"}});
  REQUIRE(result.ok());
  CHECK(result->poll_interval == std::chrono::minutes(5));
  REQUIRE(result->tasks.size() == 1);
  const Task& task = result->tasks[0];
  CHECK(task.ecu == "bms");
  CHECK(task.action_id == "5");
  CHECK(task.target_version == "1.3.0");
  REQUIRE(task.artifacts.size() == 1);
  CHECK(task.artifacts[0].url == "http://ddi.test/art/bms-1.3.0.bin");
  CHECK(task.artifacts[0].size == 4096);
  REQUIRE(result->cancel_action_id);
  CHECK(*result->cancel_action_id == "4");
  CHECK(result->notes.empty());

  REQUIRE(h.shared.log.size() == 4);
  CHECK(h.shared.log[0].method == "PUT");
  json config = json::parse(h.shared.log[0].body);
  CHECK(config["mode"] == "merge");
  CHECK(config["data"] == json({{"ecu.battery.version", "1.2.0"},
                                {"ecu.gateway.version", "7.0"},
                                {"VIN", "WVW000TEST"},
                                {"hwRevision", "2"}}));
  CHECK(h.shared.log[1].url == k_base);
  CHECK(h.shared.log[2].url == k_base + "/deploymentBase/5?c=-2127183556");

  // Feedback goes to the href the server gave, without its query.
  h.on("POST " + k_base + "/deploymentBase/5/feedback", {answer(200)});
  Feedback fb;
  fb.action_id = "5";
  fb.execution = FeedbackExecution::proceeding;
  fb.progress_cnt = 1;
  fb.progress_of = 2;
  REQUIRE(h.repo.send_feedback(fb).ok());
  CHECK(h.repo.last_feedback_outcome() == FeedbackOutcome::delivered);
  CHECK(h.shared.log.back().url == k_base + "/deploymentBase/5/feedback");
  json body = json::parse(h.shared.log.back().body);
  CHECK(body["status"]["result"]["progress"]["cnt"] == 1);
  CHECK(body["timestamp"].is_number_integer());

  h.on("POST " + k_base + "/cancelAction/4/feedback", {answer(200)});
  REQUIRE(h.repo.send_feedback(ddi_cancel_accepted("4")).ok());
  CHECK(h.shared.log.back().url == k_base + "/cancelAction/4/feedback");
  json cancel = json::parse(h.shared.log.back().body);
  CHECK(cancel["status"]["execution"] == "closed");
  CHECK(cancel["status"]["result"]["finished"] == "success");
}

TEST_CASE("ddi: no deploymentBase link means no tasks", "[ddi]") {
  Harness h;
  h.on("PUT " + k_base + "/configData", {answer(200)});
  h.on("GET " + k_base, {answer(200, base_body(false, false, "PT36H").dump())});
  auto result = h.repo.report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(result.ok());
  CHECK(result->tasks.empty());
  CHECK_FALSE(result->cancel_action_id);
  CHECK(result->poll_interval == std::chrono::hours(36));
  CHECK(h.shared.log.size() == 2);
}

TEST_CASE("ddi: nothing to upload sends no configData", "[ddi]") {
  ScriptedTransport::Shared shared;
  DdiSettings s;
  s.base_url = k_base;
  DdiRepository repo(s, std::make_unique<ScriptedTransport>(shared));
  shared.script["GET " + k_base] = {answer(200, base_body(false, false).dump())};
  auto result = repo.report({{"bms", "battery", ""}}, {});
  REQUIRE(result.ok());
  REQUIRE(shared.log.size() == 1);
  CHECK(shared.log[0].method == "GET");
}

TEST_CASE("ddi: configData 404 polls the base once to register, then retries", "[ddi]") {
  Harness h;
  h.on("PUT " + k_base + "/configData", {answer(404, R"({"errorCode":"hawkbit.server.error.repo.entitiyNotFound"})"),
                                          answer(200)});
  h.on("GET " + k_base, {answer(200, base_body(false, false).dump())});
  auto result = h.repo.report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(result.ok());
  CHECK(result->notes.empty());
  REQUIRE(h.shared.log.size() == 4);
  CHECK(h.shared.log[0].method == "PUT");
  CHECK(h.shared.log[1].method == "GET");
  CHECK(h.shared.log[2].method == "PUT");
  CHECK(h.shared.log[3].method == "GET");

  Harness still;
  still.on("PUT " + k_base + "/configData", {answer(404)});
  still.on("GET " + k_base, {answer(200, base_body(false, false).dump())});
  auto noted = still.repo.report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(noted.ok());
  REQUIRE(noted->notes.size() == 1);
  CHECK_THAT(noted->notes[0], Catch::Contains("404"));
}

TEST_CASE("ddi: configData 409 is retried, then noted without failing the report", "[ddi]") {
  Harness h;
  h.on("PUT " + k_base + "/configData", {answer(409), answer(200)});
  h.on("GET " + k_base, {answer(200, base_body(false, false).dump())});
  auto result = h.repo.report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(result.ok());
  CHECK(result->notes.empty());
  CHECK(h.shared.log.size() == 3);

  Harness busy;
  busy.on("PUT " + k_base + "/configData", {answer(409)});
  busy.on("GET " + k_base, {answer(200, base_body(false, false).dump())});
  auto noted = busy.repo.report({{"bms", "battery", "1.2.0"}}, {});
  REQUIRE(noted.ok());
  REQUIRE(noted->notes.size() == 1);
  CHECK_THAT(noted->notes[0], Catch::Contains("409"));
  CHECK(busy.shared.log.size() == 4);  // 3 PUTs + the base
}

TEST_CASE("ddi: status mapping of report failures", "[ddi]") {
  SECTION("401 and 403 are auth errors") {
    for (long status : {401L, 403L}) {
      Harness h;
      h.on("PUT " + k_base + "/configData", {answer(status, "token " + k_token + " rejected")});
      auto result = h.repo.report({{"bms", "battery", "1.2.0"}}, {});
      REQUIRE_FALSE(result.ok());
      CHECK(result.error().code == Errc::auth);
      CHECK_THAT(result.error().message,
                 Catch::Contains("the server refused the token (HTTP " + std::to_string(status) + ")"));
      CHECK_THAT(result.error().message, !Catch::Contains(k_token));
    }
  }
  SECTION("5xx after the client's retries is a network error") {
    Harness h;
    h.on("PUT " + k_base + "/configData", {answer(200)});
    h.on("GET " + k_base, {answer(503)});
    auto result = h.repo.report({}, {});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Errc::network);
  }
  SECTION("a transport failure keeps its kind and gains context, without the token") {
    Harness h;
    h.on("PUT " + k_base + "/configData",
         {make_error(Errc::network, "connection refused (header Authorization: TargetToken " + k_token + ")")});
    auto result = h.repo.report({}, {});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Errc::network);
    CHECK_THAT(result.error().message, Catch::StartsWith("PUT configData: "));
    CHECK_THAT(result.error().message, !Catch::Contains(k_token));
  }
  SECTION("other 4xx is a server error with the body's message") {
    Harness h;
    h.on("PUT " + k_base + "/configData", {answer(200)});
    h.on("GET " + k_base, {answer(400, R"({"errorCode":"hawkbit.server.error.rest.param.invalid","message":"bad id"})")});
    auto result = h.repo.report({}, {});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Errc::server);
    CHECK_THAT(result.error().message, Catch::Contains("HTTP 400"));
    CHECK_THAT(result.error().message, Catch::Contains("bad id"));
  }
  SECTION("an unknown chunk part fails the report naming it") {
    Harness h;
    json d = deployment_body();
    d["deployment"]["chunks"][0]["part"] = "telematics";
    h.on("PUT " + k_base + "/configData", {answer(200)});
    h.on("GET " + k_base, {answer(200, base_body(true, false).dump())});
    h.on("GET " + k_base + "/deploymentBase/5?c=-2127183556", {answer(200, d.dump())});
    auto result = h.repo.report({}, {});
    REQUIRE_FALSE(result.ok());
    CHECK(result.error().code == Errc::server);
    CHECK_THAT(result.error().message, Catch::Contains("'telematics'"));
  }
  SECTION("an unusable polling sleep is noted, not fatal") {
    Harness h;
    h.on("PUT " + k_base + "/configData", {answer(200)});
    h.on("GET " + k_base, {answer(200, base_body(false, false, "soon").dump())});
    auto result = h.repo.report({}, {});
    REQUIRE(result.ok());
    CHECK(result->poll_interval.count() == 0);
    REQUIRE(result->notes.size() == 1);
    CHECK_THAT(result->notes[0], Catch::Contains("soon"));
  }
}

TEST_CASE("ddi: feedback outcomes", "[ddi]") {
  Harness h;
  Feedback fb;
  fb.action_id = "9";
  fb.execution = FeedbackExecution::closed;
  fb.finished = FeedbackFinished::failure;
  fb.details = {"bms: flash failed, restored"};
  const std::string url = k_base + "/deploymentBase/9/feedback";

  SECTION("an action never seen in a report goes to the documented DDI path") {
    h.on("POST " + url, {answer(200)});
    REQUIRE(h.repo.send_feedback(fb).ok());
    CHECK(h.shared.log.back().url == url);
    CHECK(json::parse(h.shared.log.back().body)["status"]["details"][0] == "bms: flash failed, restored");
  }
  SECTION("410 Gone is final: delivered, and flagged") {
    h.on("POST " + url, {answer(410)});
    REQUIRE(h.repo.send_feedback(fb).ok());
    CHECK(h.repo.last_feedback_outcome() == FeedbackOutcome::action_closed);
  }
  SECTION("409 is retried") {
    h.on("POST " + url, {answer(409), answer(200)});
    REQUIRE(h.repo.send_feedback(fb).ok());
    CHECK(h.shared.log.size() == 2);
  }
  SECTION("409 that persists stays queued (network)") {
    h.on("POST " + url, {answer(409)});
    auto r = h.repo.send_feedback(fb);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::network);
  }
  SECTION("403 is auth, 404 is server, 5xx is network") {
    h.on("POST " + url, {answer(403)});
    auto r = h.repo.send_feedback(fb);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::auth);
    h.on("POST " + url, {answer(404, R"({"message":"Target not found"})")});
    r = h.repo.send_feedback(fb);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::server);
    CHECK_THAT(r.error().message, Catch::Contains("Target not found"));
    h.on("POST " + url, {answer(502)});
    r = h.repo.send_feedback(fb);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::network);
  }
  SECTION("an action id that would change the URL is refused") {
    for (const char* bad : {"", "../5", "5?x=1", "5 6"}) {
      fb.action_id = bad;
      auto r = h.repo.send_feedback(fb);
      REQUIRE_FALSE(r.ok());
    }
    CHECK(h.shared.log.empty());
  }
  SECTION("cancel rejection") {
    h.on("POST " + k_base + "/cancelAction/9/feedback", {answer(200)});
    REQUIRE(h.repo.send_feedback(ddi_cancel_rejected("9", "bms: flashing already started")).ok());
    json body = json::parse(h.shared.log.back().body);
    CHECK(body["status"]["execution"] == "rejected");
  }
}

TEST_CASE("ddi: download passes the server's URL and checks the size", "[ddi]") {
  Harness h;
  test::TempDir dir;
  ArtifactRef a{"bms.bin", "http://ddi.test/art/bms.bin", 10, std::string(64, 'a'), {}};
  h.shared.download_result = DownloadResult{10, 10, false};
  REQUIRE(h.repo.download(a, dir / "bms.bin.part", null_progress()).ok());
  CHECK(h.shared.log.back().url == a.url);

  h.shared.download_result = DownloadResult{12, 12, false};
  auto wrong = h.repo.download(a, dir / "bms.bin.part", null_progress());
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code == Errc::verify);

  h.shared.download_result = make_error(Errc::auth, "HTTP 401");
  auto refused = h.repo.download(a, dir / "bms.bin.part", null_progress());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == Errc::auth);
  CHECK_THAT(refused.error().message, Catch::Contains("bms.bin"));
}

TEST_CASE("ddi: the token comes from the environment or a file, never into messages", "[ddi]") {
  test::TempDir dir;
  Config config;
  config.vehicle_id = "car-1";
  config.server.kind = "ddi";
  config.server.url = "https://hawkbit.example:8443/";
  config.server.token_env = "ECUUP_DDI_TEST_TOKEN_UNSET";
  ::unsetenv("ECUUP_DDI_TEST_TOKEN_UNSET");

  SECTION("missing everywhere names where it looked") {
    config.server.token_file = dir / "missing-token";
    auto repo = make_ddi_repository(config);
    REQUIRE_FALSE(repo.ok());
    CHECK(repo.error().code == Errc::config);
    CHECK_THAT(repo.error().message, Catch::Contains("ECUUP_DDI_TEST_TOKEN_UNSET"));
    CHECK_THAT(repo.error().message, Catch::Contains("missing-token"));
  }
  SECTION("nothing configured") {
    config.server.token_env.clear();
    auto repo = make_ddi_repository(config);
    REQUIRE_FALSE(repo.ok());
    CHECK(repo.error().code == Errc::config);
  }
  SECTION("from a file: first line, trimmed") {
    std::ofstream(dir / "token") << "  " << k_token << "  \nsecond line\n";
    config.server.token_file = dir / "token";
    auto token = read_ddi_token(config.server);
    REQUIRE(token.ok());
    CHECK(*token == k_token);
    auto repo = make_ddi_repository(config);
    REQUIRE(repo.ok());
    CHECK((*repo)->describe() == "hawkBit DDI https://hawkbit.example:8443/DEFAULT/controller/v1/car-1");
  }
  SECTION("an empty token file is refused") {
    std::ofstream(dir / "token") << "\n";
    config.server.token_file = dir / "token";
    auto token = read_ddi_token(config.server);
    REQUIRE_FALSE(token.ok());
    CHECK(token.error().code == Errc::config);
  }
  SECTION("from the environment, before the file") {
    ::setenv("ECUUP_DDI_TEST_TOKEN_SET", k_token.c_str(), 1);
    config.server.token_env = "ECUUP_DDI_TEST_TOKEN_SET";
    config.server.token_file = dir / "missing-token";
    auto token = read_ddi_token(config.server);
    ::unsetenv("ECUUP_DDI_TEST_TOKEN_SET");
    REQUIRE(token.ok());
    CHECK(*token == k_token);
  }
  SECTION("header and TLS options") {
    config.server.token_kind = "gateway";
    config.server.verify_tls = false;
    config.server.ca_file = "/etc/ca.pem";
    auto options = ddi_http_options(config.server, k_token);
    REQUIRE(options.ok());
    REQUIRE(options->headers.size() == 1);
    CHECK(options->headers[0] == "Authorization: GatewayToken " + k_token);
    CHECK_FALSE(options->verify_tls);
    CHECK(options->ca_file == "/etc/ca.pem");
    config.server.token_kind = "target";
    CHECK(ddi_http_options(config.server, k_token)->headers[0] == "Authorization: TargetToken " + k_token);
  }
  SECTION("a controller id that is not a path segment is refused") {
    std::ofstream(dir / "token") << k_token << "\n";
    config.server.token_file = dir / "token";
    config.vehicle_id = "car/1";
    auto repo = make_ddi_repository(config);
    REQUIRE_FALSE(repo.ok());
    CHECK(repo.error().code == Errc::config);
  }
}
