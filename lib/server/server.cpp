#include "server/server.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <limits>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/auth_limiter.hpp"
#include "server/base64.hpp"
#include "server/http_loop.hpp"
#include "server/router.hpp"
#include "server/store.hpp"
#include "server/store_pool.hpp"
#include "server/token_hash.hpp"
#include "trust/keyring.hpp"
#include "server/url.hpp"
#include "util/hash.hpp"
#include "server/views.hpp"

namespace ecuup::server {

namespace {

using nlohmann::json;

constexpr const char* k_json_type = "application/json";
constexpr std::size_t k_read_block = 1024 * 1024;  // one pread and one send per MiB of artifact
// A keep-alive connection is closed after this many requests or this long idle. It holds no
// thread while idle (http_loop.hpp).
constexpr std::size_t k_keep_alive_max_count = 1000;
constexpr time_t k_keep_alive_timeout_s = 5;
// Threads that stream artifact downloads and uploads (Lane::transfer): they mostly wait on the
// network, so they are not counted against the cores.
constexpr std::size_t k_transfer_threads = 16;
constexpr int k_malloc_trim_threshold = 8 * 1024 * 1024;
constexpr const char* k_md5sum_suffix = ".MD5SUM";
constexpr std::size_t k_base_etag_hex_chars = 32;
// Request bodies other than artifact uploads (ecuup-server(1) LIMITS): configData, feedback and
// management JSON are small; a statement upload carries two base64 documents of up to 64 KiB.
constexpr std::size_t k_json_body_max = 64 * 1024;
constexpr std::size_t k_statement_body_max = 256 * 1024;

// HTTP status codes used below.
constexpr int k_ok = 200;
constexpr int k_partial = 206;
constexpr int k_not_modified = 304;
constexpr int k_bad_request = 400;
constexpr int k_unauthorized = 401;
constexpr int k_not_found = 404;
constexpr int k_method_not_allowed = 405;
constexpr int k_conflict = 409;
constexpr int k_gone = 410;
constexpr int k_payload_too_large = 413;
constexpr int k_range_not_satisfiable = 416;
constexpr int k_too_many_requests = 429;
constexpr int k_internal_error = 500;

struct Context {
  Context(const ServerOptions& server_options, std::string url_scheme, StorePool& store_pool)
      : options(server_options), scheme(std::move(url_scheme)),
        limiter(server_options.auth_failure_limit,
                std::chrono::seconds(std::max(1, server_options.auth_failure_window_s))),
        pool(store_pool) {}
  ServerOptions options;
  std::string scheme;
  // Counts failed authentications per client address; shared by every worker.
  mutable AuthLimiter limiter;
  StorePool& pool;
};

// Runs `f` on a read-only Store lent for this one step.
template <class F>
auto with_reader(StorePool& pool, F&& f) -> decltype(f(std::declval<Store&>())) {
  auto lease = pool.read();
  if (!lease) return std::move(lease).error();
  return f(**lease);
}

// Runs `f` on the one writing Store, after the writes of other requests before it.
template <class F>
auto with_writer(StorePool& pool, F&& f) -> decltype(f(std::declval<Store&>())) {
  auto lease = pool.write();
  return f(*lease);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// Constant-time comparison so a token cannot be guessed byte by byte from response times.
bool token_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size() || a.empty()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), k_json_type);
}

// hawkBit's error body (ExceptionInfo).
void send_error(httplib::Response& res, int status, const std::string& code, const std::string& message) {
  send_json(res, status,
            {{"exceptionClass", "ecuup.server." + code}, {"errorCode", "hawkbit.server.error." + code},
             {"message", message}});
}

void send_store_error(httplib::Response& res, const Error& error) {
  int status = k_internal_error;
  if (error.code == Errc::not_found) status = k_not_found;
  if (error.code == Errc::usage || error.code == Errc::config || error.code == Errc::verify) status = k_bad_request;
  send_error(res, status, errc_name(error.code), error.message);
}

// A refusal sent before the body was read: the client is told to close, since what it may still
// send of the body is not a next request. `complete`: also write Content-Length, which httplib
// leaves out of an answer to "Expect: 100-continue".
void finish_refusal(httplib::Response& res, bool complete) {
  res.set_header("Connection", "close");
  if (complete) res.set_header("Content-Length", std::to_string(res.body.size()));
}

void send_too_large(httplib::Response& res, std::uint64_t limit) {
  send_error(res, k_payload_too_large, "rest.body.tooLarge",
             "the request body exceeds this resource's limit of " + std::to_string(limit) + " bytes");
}

void send_too_many_failures(httplib::Response& res, std::chrono::seconds wait) {
  res.set_header("Retry-After", std::to_string(wait.count()));
  send_error(res, k_too_many_requests, "auth.tooManyFailures",
             "too many failed authentications from this address; retry after " + std::to_string(wait.count()) +
                 " s");
}

// The most a request body may hold on this resource (ecuup-server(1) LIMITS).
std::uint64_t body_limit(const Context& ctx, const httplib::Request& req) {
  switch (match_route(req.method, req.path).body) {
    case BodyKind::upload: return ctx.options.max_upload_bytes;
    case BodyKind::statement: return k_statement_body_max;
    case BodyKind::none:
    case BodyKind::json: return k_json_body_max;
  }
  return k_json_body_max;
}

void record_auth_failure(const Context& ctx, const httplib::Request& req) {
  ctx.limiter.record_failure(req.remote_addr, AuthLimiter::Clock::now());
}

// What is refused before any byte of the body is read: an address with too many failed
// authentications (429, the token not even looked at) and a declared body over the resource's
// limit (413). Runs for "Expect: 100-continue" (then the body is never sent) and before routing.
bool refuse_early(const Context& ctx, const httplib::Request& req, httplib::Response& res, bool complete) {
  if (auto wait = ctx.limiter.refused_for(req.remote_addr, AuthLimiter::Clock::now())) {
    send_too_many_failures(res, *wait);
    finish_refusal(res, complete);
    return true;
  }
  if (req.has_header("Content-Length")) {
    std::string text = req.get_header_value("Content-Length");
    std::uint64_t length = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    if (ec == std::errc::result_out_of_range) {
      length = std::numeric_limits<std::uint64_t>::max();
    } else if (ec != std::errc() || end != text.data() + text.size()) {
      send_error(res, k_bad_request, "rest.body.notReadable", "bad Content-Length '" + text + "'");
      finish_refusal(res, complete);
      return true;
    }
    std::uint64_t limit = body_limit(ctx, req);
    if (length > limit) {
      send_too_large(res, limit);
      finish_refusal(res, complete);
      return true;
    }
  }
  return false;
}

// Reads the request body, at most body_limit() bytes (chunked bodies too, which declare no
// length): nullopt when the answer (413 or 400) is already made.
std::optional<std::string> read_body(const Context& ctx, const httplib::Request& req, httplib::Response& res,
                                     const httplib::ContentReader& reader) {
  std::uint64_t limit = body_limit(ctx, req);
  std::string body;
  bool too_large = false;
  bool complete = reader([&](const char* data, std::size_t len) {
    if (len > limit - body.size()) {
      too_large = true;
      return false;
    }
    body.append(data, len);
    return true;
  });
  if (too_large) {
    send_too_large(res, limit);
    finish_refusal(res, false);
    return std::nullopt;
  }
  if (!complete) {
    send_error(res, k_bad_request, "rest.body.notReadable", "request body incomplete");
    return std::nullopt;
  }
  return body;
}

std::string base_url(const Context& ctx, const httplib::Request& req) {
  if (!ctx.options.public_url.empty()) return ctx.options.public_url;
  std::string host = req.get_header_value("Host");
  if (host.empty()) host = req.local_addr + ":" + std::to_string(req.local_port);
  return ctx.scheme + "://" + host;
}

std::optional<std::int64_t> parse_id(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

enum class Auth { none, target, gateway };

Auth authenticate(const Context& ctx, const httplib::Request& req, const std::optional<PollState>& state) {
  std::string header = req.get_header_value("Authorization");
  auto space = header.find(' ');
  if (space == std::string::npos) return Auth::none;
  std::string_view scheme(header.data(), space);
  std::string_view token = std::string_view(header).substr(space + 1);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (iequals(scheme, "TargetToken") && state && token_matches(state->token_hash, token)) return Auth::target;
  if (iequals(scheme, "GatewayToken") && !ctx.options.gateway_token.empty() &&
      token_equal(ctx.options.gateway_token, token)) {
    return Auth::gateway;
  }
  return Auth::none;
}

// Parses DdiActionFeedback; nullopt and `why` when it does not match the schema.
std::optional<FeedbackInput> parse_feedback(const std::string& body, std::string& why) {
  static const std::set<std::string> executions{"closed",   "proceeding", "canceled",   "scheduled",
                                                "rejected", "resumed",    "downloaded", "download"};
  static const std::set<std::string> finished{"success", "failure", "none"};
  auto j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("status") || !j["status"].is_object()) {
    why = "body must be a JSON object with a \"status\" object";
    return std::nullopt;
  }
  const auto& status = j["status"];
  FeedbackInput f;
  if (!status.contains("execution") || !status["execution"].is_string() ||
      !executions.count(status["execution"].get<std::string>())) {
    why = "status.execution must be one of closed, proceeding, canceled, scheduled, rejected, resumed, "
          "downloaded, download";
    return std::nullopt;
  }
  f.execution = status["execution"].get<std::string>();
  if (!status.contains("result") || !status["result"].is_object()) {
    why = "status.result must be an object";
    return std::nullopt;
  }
  const auto& result = status["result"];
  if (!result.contains("finished") || !result["finished"].is_string() ||
      !finished.count(result["finished"].get<std::string>())) {
    why = "status.result.finished must be one of success, failure, none";
    return std::nullopt;
  }
  f.finished = result["finished"].get<std::string>();
  if (result.contains("progress")) {
    const auto& p = result["progress"];
    if (!p.is_object() || !p.contains("cnt") || !p["cnt"].is_number_integer() ||
        (p.contains("of") && !p["of"].is_number_integer())) {
      why = "status.result.progress must be {\"cnt\": int, \"of\": int}";
      return std::nullopt;
    }
    f.progress_cnt = p["cnt"].get<std::int64_t>();
    if (p.contains("of")) f.progress_of = p["of"].get<std::int64_t>();
  }
  if (status.contains("details")) {
    if (!status["details"].is_array()) {
      why = "status.details must be an array of strings";
      return std::nullopt;
    }
    for (const auto& d : status["details"]) {
      if (!d.is_string()) {
        why = "status.details must be an array of strings";
        return std::nullopt;
      }
      f.details.push_back(d.get<std::string>());
    }
  }
  return f;
}

class DdiRequest {
 public:
  DdiRequest(const Context& ctx, const httplib::Request& req, const std::string& body, httplib::Response& res,
             std::string tenant, std::string vehicle)
      : m_ctx(ctx), m_req(req), m_body(body), m_res(res), m_pool(ctx.pool), m_tenant(std::move(tenant)),
        m_vehicle(std::move(vehicle)) {
    m_self = base_url(ctx, req) + "/" + percent_encode(m_tenant) + "/controller/v1/" +
             percent_encode(m_vehicle);
  }

  void base(const PollState& state) {
    json links = json::object();
    if (state.open_action != 0) {
      std::string id = std::to_string(state.open_action);
      if (state.open_state == ActionState::canceling) {
        links["cancelAction"]["href"] = m_self + "/cancelAction/" + id;
      } else {
        links["deploymentBase"]["href"] = m_self + "/deploymentBase/" + id;
      }
    }
    if (state.attributes_wanted) links["configData"]["href"] = m_self + "/configData";
    if (state.installed_action != 0) {
      links["installedBase"]["href"] = m_self + "/installedBase/" + std::to_string(state.installed_action);
    }
    json body{{"config", {{"polling", {{"sleep", m_ctx.options.polling_sleep}}}}}, {"_links", links}};
    // hawkBit's base resource supports ETag checks: an unchanged answer costs a 304 only.
    std::string text = body.dump();
    std::string etag = "\"" + sha256_hex(std::string_view(text)).substr(0, k_base_etag_hex_chars) + "\"";
    m_res.set_header("ETag", etag);
    if (m_req.get_header_value("If-None-Match") == etag) {
      m_res.status = k_not_modified;
      return;
    }
    m_res.status = k_ok;
    m_res.set_content(text, k_json_type);
  }

  void config_data() {
    auto j = json::parse(m_body, nullptr, false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_object()) {
      return send_error(m_res, k_bad_request, "rest.body.notReadable",
                        "configData body must be {\"mode\": ..., \"data\": {\"key\": \"value\"}}");
    }
    ConfigMode mode = ConfigMode::merge;
    if (j.contains("mode")) {
      std::string m = j["mode"].is_string() ? j["mode"].get<std::string>() : "";
      if (m == "merge") {
        mode = ConfigMode::merge;
      } else if (m == "replace") {
        mode = ConfigMode::replace;
      } else if (m == "remove") {
        mode = ConfigMode::remove;
      } else {
        return send_error(m_res, k_bad_request, "rest.body.notReadable",
                          "configData mode must be merge, replace or remove");
      }
    }
    std::map<std::string, std::string> data;
    for (const auto& [key, value] : j["data"].items()) {
      if (!value.is_string()) {
        return send_error(m_res, k_bad_request, "rest.body.notReadable",
                          "configData value of \"" + key + "\" must be a string");
      }
      data[key] = value.get<std::string>();
    }
    auto put = with_writer(m_pool, [&](Store& store) { return store.put_config_data(m_vehicle, mode, data); });
    if (!put) return send_store_error(m_res, put.error());
    m_res.status = k_ok;
  }

  void deployment_base(const std::string& id_text, bool installed) {
    auto id = parse_id(id_text);
    int history = 0;
    if (m_req.has_param("actionHistory")) {
      try {
        history = std::stoi(m_req.get_param_value("actionHistory"));
      } catch (const std::exception&) {
        return send_error(m_res, k_bad_request, "rest.param.invalid", "actionHistory must be an integer");
      }
    }
    if (!id) return action_not_found(id_text);
    auto read_action = [&] {
      return with_reader(m_pool, [&](Store& store) { return store.action(m_vehicle, *id, history); });
    };
    auto action = read_action();
    if (!action) return send_store_error(m_res, action.error());
    if (*action) {
      auto signed_now = sign_pending(**action);
      if (!signed_now) return send_store_error(m_res, signed_now.error());
      if (*signed_now) action = read_action();
      if (!action) return send_store_error(m_res, action.error());
    }
    const auto& a = *action;
    if (!a || (installed && !(a->state == ActionState::closed && a->result == "success"))) {
      return action_not_found(id_text);
    }
    send_json(m_res, k_ok, deployment_json(*a, history));
  }

  // A deployment's or a cancel's feedback: the same checks, a different store call.
  template <typename Record>
  void feedback(const std::string& id_text, Record record) {
    auto id = parse_id(id_text);
    if (!id) return action_not_found(id_text);
    std::string why;
    auto parsed = parse_feedback(m_body, why);
    if (!parsed) return send_error(m_res, k_bad_request, "rest.body.notReadable", why);
    auto outcome = with_writer(m_pool, [&](Store& store) { return record(store, *id, *parsed); });
    finish_feedback(outcome, id_text);
  }

  void deployment_feedback(const std::string& id_text) {
    feedback(id_text,
             [this](Store& store, auto id, const auto& fb) { return store.deployment_feedback(m_vehicle, id, fb); });
  }

  void cancel_action(const std::string& id_text) {
    auto id = parse_id(id_text);
    if (!id) return action_not_found(id_text);
    auto action = with_reader(m_pool, [&](Store& store) { return store.action(m_vehicle, *id, 0); });
    if (!action) return send_store_error(m_res, action.error());
    const auto& a = *action;
    bool was_canceled = a && a->state == ActionState::closed && a->result == "canceled";
    if (!a || (a->state != ActionState::canceling && !was_canceled)) return action_not_found(id_text);
    send_json(m_res, k_ok, {{"id", id_text}, {"cancelAction", {{"stopId", id_text}}}});
  }

  void cancel_feedback(const std::string& id_text) {
    feedback(id_text,
             [this](Store& store, auto id, const auto& fb) { return store.cancel_feedback(m_vehicle, id, fb); });
  }

  void artifact_list(const std::string& module_text) {
    auto module_id = parse_id(module_text);
    if (!module_id) return send_error(m_res, k_not_found, "repo.entitiyNotFound", "no such software module");
    auto read_artifacts = [&] {
      return with_reader(m_pool, [&](Store& store) { return store.module_artifacts(*module_id); });
    };
    auto artifacts = read_artifacts();
    if (!artifacts) return send_store_error(m_res, artifacts.error());
    if (!artifacts->empty()) {
      // Visible to the vehicle exactly when its artifacts are downloadable by it.
      auto allowed = with_reader(m_pool, [&](Store& store) {
        return store.artifact_for(m_vehicle, *module_id, artifacts->front().filename, m_auth == Auth::gateway);
      });
      if (!allowed) return send_store_error(m_res, allowed.error());
      if (*allowed) {
        auto signed_now = sign_pending_module(*module_id);
        if (!signed_now) return send_store_error(m_res, signed_now.error());
        if (*signed_now) artifacts = read_artifacts();
        if (!artifacts) return send_store_error(m_res, artifacts.error());
        json list = json::array();
        for (const auto& a : *artifacts) list.push_back(artifact_json(a));
        return send_json(m_res, k_ok, list);
      }
    }
    send_error(m_res, k_not_found, "repo.entitiyNotFound",
               "software module " + module_text + " is not assigned to " + m_vehicle);
  }

  void artifact(const std::string& module_text, const std::string& filename) {
    auto module_id = parse_id(module_text);
    if (!module_id) return send_error(m_res, k_not_found, "repo.entitiyNotFound", "no such software module");
    bool gateway = m_auth == Auth::gateway;
    auto artifact_for = [&](const std::string& name) {
      return with_reader(m_pool, [&](Store& store) { return store.artifact_for(m_vehicle, *module_id, name, gateway); });
    };
    auto found = artifact_for(filename);
    if (!found) return send_store_error(m_res, found.error());
    std::string suffix = k_md5sum_suffix;
    if (!*found && filename.size() > suffix.size() && filename.ends_with(suffix)) {
      std::string real = filename.substr(0, filename.size() - suffix.size());
      auto md5 = artifact_for(real);
      if (!md5) return send_store_error(m_res, md5.error());
      if (*md5) {
        // The md5sum(1) file format: "<hex>  <name>\n".
        m_res.status = k_ok;
        return m_res.set_content((*md5)->md5 + "  " + real + "\n", "text/plain");
      }
    }
    if (!*found) {
      return send_error(m_res, k_not_found, "repo.entitiyNotFound",
                        "artifact " + filename + " of software module " + module_text +
                            " is not assigned to " + m_vehicle);
    }
    send_file(**found);
  }

  void set_auth(Auth auth) { m_auth = auth; }

 private:
  // A module whose statement facts came through `admin --data` while this server ran is signed
  // when a vehicle first sees it. Returns whether anything was signed.
  Result<bool> sign_pending(const ActionDetails& action) {
    bool any = false;
    for (const auto& chunk : action.chunks) {
      if (chunk.statement != StatementState::pending) continue;
      ECUUP_ASSIGN(bool signed_now, with_writer(m_pool, [&](Store& store) { return store.sign_pending(chunk.id); }));
      any = any || signed_now;
    }
    return any;
  }

  // The writer is only taken when the module's statement waits for a signature.
  Result<bool> sign_pending_module(std::int64_t module_id) {
    if (!m_ctx.options.signing_key) return false;
    ECUUP_ASSIGN(ModuleInfo module, with_reader(m_pool, [&](Store& store) { return store.module(module_id); }));
    if (module.statement != StatementState::pending) return false;
    return with_writer(m_pool, [&](Store& store) { return store.sign_pending(module_id); });
  }

  void action_not_found(const std::string& id_text) {
    send_error(m_res, k_not_found, "repo.entitiyNotFound",
               "action " + id_text + " not found for " + m_vehicle);
  }

  void finish_feedback(const Result<FeedbackOutcome>& outcome, const std::string& id_text) {
    if (!outcome) return send_store_error(m_res, outcome.error());
    switch (*outcome) {
      case FeedbackOutcome::recorded: m_res.status = k_ok; return;
      case FeedbackOutcome::not_found: return action_not_found(id_text);
      case FeedbackOutcome::gone:
        return send_error(m_res, k_gone, "action.closed", "action " + id_text + " is closed");
      case FeedbackOutcome::conflict:
        return send_error(m_res, k_conflict, "action.notCanceling", "action " + id_text + " is not being canceled");
    }
  }

  json artifact_json(const ArtifactInfo& a) const {
    std::string href = m_self + "/softwaremodules/" + std::to_string(a.module_id) + "/artifacts/" +
                       percent_encode(a.filename);
    // hawkBit names its links by scheme (download = HTTPS, download-http = HTTP); this server has
    // one listener, so both point at it.
    return {{"filename", a.filename},
            {"hashes", {{"sha1", a.sha1}, {"md5", a.md5}, {"sha256", a.sha256}}},
            {"size", a.size},
            {"_links",
             {{"download", {{"href", href}}},
              {"download-http", {{"href", href}}},
              {"md5sum", {{"href", href + k_md5sum_suffix}}},
              {"md5sum-http", {{"href", href + k_md5sum_suffix}}}}}};
  }

  json deployment_json(const ActionDetails& a, int history) const {
    json chunks = json::array();
    for (const auto& m : a.chunks) {
      json artifacts = json::array();
      for (const auto& art : m.artifacts) artifacts.push_back(artifact_json(art));
      chunks.push_back({{"part", m.part}, {"version", m.version}, {"name", m.part}, {"artifacts", artifacts}});
    }
    std::string download = a.mode == UpdateMode::attempt ? "attempt" : "forced";
    std::string update = a.mode == UpdateMode::forced ? "forced"
                         : a.mode == UpdateMode::attempt ? "attempt"
                                                         : "skip";
    json j{{"id", std::to_string(a.id)},
           {"deployment", {{"download", download}, {"update", update}, {"chunks", chunks}}}};
    if (history != 0) {
      std::string status = a.state == ActionState::canceling ? "CANCELING"
                           : a.state == ActionState::open    ? "RUNNING"
                           : a.result == "success"           ? "FINISHED"
                           : a.result == "canceled"          ? "CANCELED"
                                                             : "ERROR";
      json messages = json::array();
      // DdiActionHistory.messages are newest first.
      for (auto it = a.history.rbegin(); it != a.history.rend(); ++it) messages.push_back(feedback_line(*it));
      j["actionHistory"] = {{"status", status}, {"messages", messages}};
    }
    return j;
  }

  // Streams the artifact; answers Range requests itself (single range, If-Range with the strong
  // ETag, 416 for unsatisfiable ranges) so a 1 GiB file never sits in memory.
  void send_file(const ArtifactInfo& a) {
    auto path = m_ctx.options.data_dir / Store::k_artifact_dir / a.sha256;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      if (fd >= 0) ::close(fd);
      return send_error(m_res, k_internal_error, "artifact.missing", "artifact file " + path.string() + " is missing");
    }
    auto file = std::shared_ptr<int>(new int(fd), [](int* p) {
      ::close(*p);
      delete p;
    });
    const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    const std::string etag = "\"" + a.sha256 + "\"";
    m_res.set_header("ETag", etag);
    m_res.set_header("Accept-Ranges", "bytes");
    m_res.set_header("Content-Disposition", "attachment; filename=\"" + a.filename + "\"");

    std::uint64_t first = 0;
    std::uint64_t length = size;
    m_res.status = k_ok;
    // httplib would apply req.ranges again after this handler; this handler owns range
    // handling (If-Range, 416), so it consumes them. The Request object itself is not const.
    auto& ranges = const_cast<httplib::Request&>(m_req).ranges;
    bool if_range_ok = !m_req.has_header("If-Range") || m_req.get_header_value("If-Range") == etag;
    // RFC 7233: a server may ignore Range; a multi-range request gets the whole file.
    if (ranges.size() == 1 && if_range_ok) {
      auto [lo, hi] = ranges.front();
      bool satisfiable = true;
      if (lo < 0) {  // suffix range: the last `hi` bytes
        if (hi <= 0) {
          satisfiable = false;
        } else {
          length = std::min<std::uint64_t>(static_cast<std::uint64_t>(hi), size);
          first = size - length;
        }
      } else if (static_cast<std::uint64_t>(lo) >= size) {
        satisfiable = false;
      } else {
        first = static_cast<std::uint64_t>(lo);
        std::uint64_t last = hi < 0 ? size - 1 : std::min<std::uint64_t>(static_cast<std::uint64_t>(hi), size - 1);
        if (last < first) {
          satisfiable = false;
        } else {
          length = last - first + 1;
        }
      }
      if (!satisfiable) {
        ranges.clear();
        m_res.status = k_range_not_satisfiable;
        m_res.set_header("Content-Range", "bytes */" + std::to_string(size));
        return m_res.set_content("", "text/plain");
      }
      m_res.status = k_partial;
      m_res.set_header("Content-Range", "bytes " + std::to_string(first) + "-" +
                                            std::to_string(first + length - 1) + "/" + std::to_string(size));
    }
    ranges.clear();
    if (length == 0) return m_res.set_content("", "application/octet-stream");
    m_res.set_content_provider(
        static_cast<std::size_t>(length), "application/octet-stream",
        [file, first, buf = std::make_shared<std::vector<char>>(std::min<std::uint64_t>(length, k_read_block))](
            std::size_t offset, std::size_t want, httplib::DataSink& sink) {
          ssize_t n = ::pread(*file, buf->data(), std::min(want, buf->size()), static_cast<off_t>(first + offset));
          if (n <= 0) return false;
          return sink.write(buf->data(), static_cast<std::size_t>(n));
        });
  }

  const Context& m_ctx;
  const httplib::Request& m_req;
  const std::string& m_body;
  httplib::Response& m_res;
  StorePool& m_pool;
  std::string m_tenant;
  std::string m_vehicle;
  std::string m_self;
  Auth m_auth = Auth::none;
};

void handle_ddi(const Context& ctx, const httplib::Request& req, const std::string& body, httplib::Response& res,
                const RouteMatch& match) {
  if (!iequals(match.tenant, ctx.options.tenant)) {
    return send_error(res, k_not_found, "tenant.notFound", "unknown tenant " + std::string(match.tenant));
  }
  const std::string vehicle(match.vehicle);
  auto read_state = [&] { return with_reader(ctx.pool, [&](Store& store) { return store.poll_state(vehicle); }); };
  auto state_r = read_state();
  if (!state_r) return send_store_error(res, state_r.error());
  auto state = std::move(*state_r);
  Auth auth = authenticate(ctx, req, state);
  if (auth == Auth::none) {
    record_auth_failure(ctx, req);
    return send_error(res, k_unauthorized, "auth.unauthorized",
                      "TargetToken or GatewayToken authorization required for " + vehicle);
  }
  if (!state) {
    // A gateway may bring vehicles the server has not seen yet (hawkBit creates them on first poll).
    auto reg = with_writer(ctx.pool, [&](Store& store) { return store.register_vehicle_if_missing(vehicle); });
    if (!reg) return send_store_error(res, reg.error());
    auto again = read_state();
    if (!again || !*again) return send_error(res, k_internal_error, "internal", "register " + vehicle);
    state = std::move(*again);
  }
  if (match.route == Route::none) return send_error(res, k_not_found, "rest.notFound", "no resource " + req.path);
  if (!match.method_allowed) {
    return send_error(res, k_method_not_allowed, "rest.methodNotAllowed", req.method + " not allowed on " + req.path);
  }
  DdiRequest ddi(ctx, req, body, res, std::string(match.tenant), vehicle);
  ddi.set_auth(auth);
  const std::string first(match.captures[0]);
  switch (match.route) {
    case Route::ddi_base: return ddi.base(*state);
    case Route::ddi_config_data: return ddi.config_data();
    case Route::ddi_deployment_base: return ddi.deployment_base(first, false);
    case Route::ddi_deployment_feedback: return ddi.deployment_feedback(first);
    case Route::ddi_installed_base: return ddi.deployment_base(first, true);
    case Route::ddi_cancel_action: return ddi.cancel_action(first);
    case Route::ddi_cancel_feedback: return ddi.cancel_feedback(first);
    case Route::ddi_artifact_list: return ddi.artifact_list(first);
    case Route::ddi_artifact: return ddi.artifact(first, std::string(match.captures[1]));
    default: break;
  }
  send_error(res, k_not_found, "rest.notFound", "no resource " + req.path);
}

bool admin_authorized(const Context& ctx, const httplib::Request& req, httplib::Response& res) {
  std::string header = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  if (!ctx.options.admin_token.empty() && header.size() > prefix.size() &&
      iequals(header.substr(0, prefix.size()), prefix) &&
      token_equal(header.substr(prefix.size()), ctx.options.admin_token)) {
    return true;
  }
  record_auth_failure(ctx, req);
  send_error(res, k_unauthorized, "auth.unauthorized",
             ctx.options.admin_token.empty() ? "the management API is disabled (no admin token configured)"
                                             : "Bearer admin token required");
  return false;
}

// POST /api/v1/modules/statement: statement facts for the server to sign, or a ready-made
// statement and signature (base64).
void handle_statement(StorePool& pool, const json& body, httplib::Response& res) {
  auto str = [&](const char* key) {
    return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : std::string();
  };
  std::string part = str("part");
  std::string version = str("version");
  if (part.empty() || version.empty()) {
    return send_error(res, k_bad_request, "rest.param.invalid", "part and version are required");
  }
  Result<ModuleInfo> module = make_error(Errc::internal, "no statement");
  if (body.contains("statement")) {
    auto statement = base64_decode(str("statement"));
    auto signature = base64_decode(str("signature"));
    if (!statement || !signature) {
      return send_error(res, k_bad_request, "rest.body.notReadable", "statement and signature must be base64");
    }
    module = with_writer(
        pool, [&](Store& store) { return store.upload_statement(part, version, str("filename"), *statement, *signature); });
  } else {
    std::vector<std::string> hardware;
    if (body.contains("hardware") && body["hardware"].is_array()) {
      for (const auto& h : body["hardware"]) {
        if (h.is_string()) hardware.push_back(h.get<std::string>());
      }
    }
    std::string security_version;
    if (body.contains("security_version") && body["security_version"].is_number_unsigned()) {
      security_version = std::to_string(body["security_version"].get<std::uint64_t>());
    } else if (body.contains("security_version")) {
      return send_error(res, k_bad_request, "rest.body.notReadable", "security_version must be a whole number");
    }
    auto facts = make_statement_facts(hardware, security_version, str("expires"));
    if (!facts) return send_store_error(res, facts.error());
    module = with_writer(pool, [&](Store& store) { return store.set_statement_facts(part, version, *facts); });
  }
  if (!module) return send_store_error(res, module.error());
  send_json(res, k_ok, module_json(*module));
}

void handle_admin(const Context& ctx, const httplib::Request& req, const std::string& request_body,
                  httplib::Response& res, const RouteMatch& match) {
  if (!admin_authorized(ctx, req, res)) return;
  const std::string& m = req.method;
  auto body = json::parse(request_body.empty() ? "{}" : request_body, nullptr, false);
  if (m == "POST" && !body.is_object()) {
    return send_error(res, k_bad_request, "rest.body.notReadable", "body must be a JSON object");
  }
  auto str = [&](const char* key) {
    return body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : std::string();
  };
  switch (match.route) {
    case Route::api_vehicles: {
      auto list = with_reader(ctx.pool, [](Store& store) { return store.vehicles(); });
      if (!list) return send_store_error(res, list.error());
      json out = json::array();
      for (const auto& v : *list) out.push_back(vehicle_json(v));
      return send_json(res, k_ok, out);
    }
    case Route::api_vehicle_add: {
      auto token = with_writer(ctx.pool, [&](Store& store) { return store.add_vehicle(str("id"), str("token")); });
      if (!token) return send_store_error(res, token.error());
      return send_json(res, k_ok, {{"id", str("id")}, {"token", *token}});
    }
    case Route::api_vehicle_cancel: {
      const std::string vehicle(match.captures[0]);
      auto action = with_writer(ctx.pool, [&](Store& store) { return store.cancel(vehicle); });
      if (!action) return send_store_error(res, action.error());
      return send_json(res, k_ok, {{"vehicle", vehicle}, {"action", *action}});
    }
    case Route::api_actions: {
      std::optional<std::string> vehicle;
      if (req.has_param("vehicle")) vehicle = req.get_param_value("vehicle");
      auto list = with_reader(ctx.pool, [&](Store& store) { return store.actions(vehicle); });
      if (!list) return send_store_error(res, list.error());
      json out = json::array();
      for (const auto& a : *list) out.push_back(action_json(a));
      return send_json(res, k_ok, out);
    }
    case Route::api_modules: {
      auto list = with_reader(ctx.pool, [](Store& store) { return store.modules(); });
      if (!list) return send_store_error(res, list.error());
      json out = json::array();
      for (const auto& mod : *list) out.push_back(module_json(mod));
      return send_json(res, k_ok, out);
    }
    case Route::api_statement: return handle_statement(ctx.pool, body, res);
    case Route::api_assignments: {
      auto selector = make_selector(str("vehicle"), body.value("all", false), str("match"));
      if (!selector) return send_store_error(res, selector.error());
      auto mode = parse_update_mode(str("mode").empty() ? "forced" : str("mode"));
      if (!mode) return send_store_error(res, mode.error());
      auto out = with_writer(ctx.pool,
                             [&](Store& store) { return store.assign(str("part"), str("version"), *selector, *mode); });
      if (!out) return send_store_error(res, out.error());
      json list = json::array();
      for (const auto& o : *out) {
        list.push_back({{"vehicle", o.vehicle_id}, {"action", o.action ? json(o.action) : json(nullptr)}});
      }
      return send_json(res, k_ok, list);
    }
    default: break;
  }
  send_error(res, k_not_found, "rest.notFound", m + " " + req.path + " is not a management resource");
}

// POST /api/v1/modules?part=P&version=V&filename=F[&hardware=H&security_version=N&expires=T]
// with the artifact as the raw body, streamed to a temporary file first (at most
// --max-upload-size bytes).
void handle_upload(const Context& ctx, const httplib::Request& req, httplib::Response& res,
                   const httplib::ContentReader& reader) {
  // Each refusal before the reader runs leaves the body on the connection (finish_refusal).
  if (!admin_authorized(ctx, req, res)) return finish_refusal(res, false);
  std::string part = req.get_param_value("part");
  std::string version = req.get_param_value("version");
  std::string filename = req.get_param_value("filename");
  if (part.empty() || version.empty() || filename.empty()) {
    send_error(res, k_bad_request, "rest.param.invalid", "part, version and filename are required");
    return finish_refusal(res, false);
  }
  std::optional<StatementFacts> facts;
  if (req.has_param("hardware") || req.has_param("security_version") || req.has_param("expires")) {
    std::vector<std::string> hardware;
    for (std::size_t i = 0; i < req.get_param_value_count("hardware"); ++i) {
      hardware.push_back(req.get_param_value("hardware", i));
    }
    auto made = make_statement_facts(hardware, req.get_param_value("security_version"), req.get_param_value("expires"));
    if (!made) {
      send_store_error(res, made.error());
      return finish_refusal(res, false);
    }
    facts = std::move(*made);
  }
  std::string tmpl = (ctx.options.data_dir / Store::k_artifact_dir / ".incoming-XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) {
    send_error(res, k_internal_error, "io", "cannot create a temporary file");
    return finish_refusal(res, false);
  }
  const std::uint64_t limit = ctx.options.max_upload_bytes;
  std::uint64_t received = 0;
  bool too_large = false;
  bool ok = reader([&](const char* data, std::size_t len) {
    if (len > limit - received) {
      too_large = true;
      return false;
    }
    received += len;
    while (len > 0) {
      ssize_t n = ::write(fd, data, len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      data += n;
      len -= static_cast<std::size_t>(n);
    }
    return true;
  });
  ::close(fd);
  if (too_large) {
    ::unlink(tmpl.c_str());
    send_too_large(res, limit);
    return finish_refusal(res, false);
  }
  if (!ok) {
    ::unlink(tmpl.c_str());
    return send_error(res, k_bad_request, "rest.body.notReadable", "upload body incomplete");
  }
  // Copying and hashing the file holds no database connection; only recording it takes the writer.
  auto staged = Store::stage_upload(ctx.options.data_dir, tmpl, filename);
  ::unlink(tmpl.c_str());
  if (!staged) return send_store_error(res, staged.error());
  auto module = with_writer(ctx.pool, [&](Store& store) { return store.commit_upload(part, version, *staged, facts); });
  if (!module) return send_store_error(res, module.error());
  send_json(res, k_ok, module_json(*module));
}

// Dispatches a request by the route table (router.hpp); `body` is the request body read whole.
void dispatch(const Context& ctx, const httplib::Request& req, const std::string& body, httplib::Response& res,
              const RouteMatch& match) {
  switch (match.api) {
    case Api::ddi: return handle_ddi(ctx, req, body, res, match);
    case Api::management: return handle_admin(ctx, req, body, res, match);
    case Api::none: break;
  }
  send_error(res, k_not_found, "rest.notFound", "no resource " + req.path);
}

// Whether the request carries a body for cpp-httplib to read (Content-Length > 0 or chunked).
bool has_body(const httplib::Request& req) {
  if (req.has_header("Transfer-Encoding")) return true;
  std::string length = req.get_header_value("Content-Length");
  return !length.empty() && length != "0";
}

// Methods with a handler; another is answered 405 before its body (if any) is read.
bool known_method(const std::string& method) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    if (method == m) return true;
  }
  return false;
}

// Signs what waits for the key, and checks the key can sign at all before the server listens.
Result<void> prepare_signing(const ServerOptions& options, StorePool& pool) {
  auto lease = pool.write();
  Store& store = *lease;
  ECUUP_ASSIGN(auto pending, store.pending_statements());
  if (!options.signing_key) {
    if (!pending.empty()) {
      std::fprintf(stderr,
                   "ecuup-server: warning: %zu module(s) have release statement facts but no statement: give "
                   "--sign-cert and --sign-key to sign them\n",
                   pending.size());
    }
    return success();
  }
  const SigningKey& key = *options.signing_key;
  auto probe = sign_detached("ecuup-server signing check", key.cert, key.key);
  if (!probe) {
    return make_error(Errc::config, "--sign-cert " + key.cert.string() + " / --sign-key " + key.key.string() +
                                        ": cannot sign: " + probe.error().message);
  }
  pool.set_signing_key(&key);
  for (auto id : pending) ECUUP_TRY(store.sign_pending(id));
  return success();
}

std::string display_host(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

// The handlers on cpp-httplib's request processing. Requests without a body are routed by the
// table in the pre-routing handler; httplib only dispatches those with a body, which it reads
// through the content reader, to the one catch-all handler per method.
void install_handlers(RequestProcessor& svr, const Context& ctx) {
  svr.set_keep_alive_max_count(k_keep_alive_max_count);
  svr.set_keep_alive_timeout(k_keep_alive_timeout_s);
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unexpected error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, k_internal_error, "internal", what);
  });
  if (ctx.options.log_requests) {
    svr.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      std::fprintf(stderr, "%s %s %s %d\n", req.remote_addr.c_str(), req.method.c_str(), req.path.c_str(),
                   res.status);
    });
  }
  // Refusals that need no body come first; httplib's own limit is only a backstop for bodies no
  // handler reads itself.
  svr.set_payload_max_length(static_cast<std::size_t>(
      std::max<std::uint64_t>({ctx.options.max_upload_bytes, k_statement_body_max, k_json_body_max})));
  svr.set_expect_100_continue_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    return refuse_early(ctx, req, res, true) ? res.status : 100;
  });
  svr.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (!known_method(req.method)) {
      send_error(res, k_method_not_allowed, "rest.methodNotAllowed", req.method + " is not served here");
      finish_refusal(res, false);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (refuse_early(ctx, req, res, false)) return httplib::Server::HandlerResponse::Handled;
    if (has_body(req)) return httplib::Server::HandlerResponse::Unhandled;
    dispatch(ctx, req, "", res, match_route(req.method, req.path));
    return httplib::Server::HandlerResponse::Handled;
  });
  auto with_body = [&ctx](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    RouteMatch match = match_route(req.method, req.path);
    if (match.route == Route::api_module_upload) return handle_upload(ctx, req, res, reader);
    auto body = read_body(ctx, req, res, reader);
    if (body) dispatch(ctx, req, *body, res, match);
  };
  // A GET with a body: httplib has read it into req.body.
  svr.Get(".*", [&ctx](const httplib::Request& req, httplib::Response& res) {
    dispatch(ctx, req, "", res, match_route(req.method, req.path));
  });
  svr.Put(".*", with_body);
  svr.Post(".*", with_body);
  svr.Delete(".*", with_body);
  svr.Patch(".*", with_body);
}

}  // namespace

Result<void> run_server(const ServerOptions& options) {
  // glibc gives the top of a thread's heap back to the kernel once 128 KiB of it are free, and a
  // request that then needs it takes page faults and TLB flushes again; a few MiB kept is cheaper.
  mallopt(M_TRIM_THRESHOLD, k_malloc_trim_threshold);
  // Create or upgrade the schema once, before any reader opens.
  const std::size_t workers = options.threads > 0 ? static_cast<std::size_t>(options.threads)
                                                 : std::max(1u, std::thread::hardware_concurrency());
  ECUUP_ASSIGN(auto pool, StorePool::open(options.data_dir, workers + 2));
  Context ctx{options, options.tls_cert.empty() ? "http" : "https", *pool};
  if (ctx.options.public_url.ends_with("/")) ctx.options.public_url.pop_back();
  ECUUP_TRY(prepare_signing(ctx.options, *pool));

  std::shared_ptr<SSL_CTX> tls;
  if (!options.tls_cert.empty()) {
    if (options.tls_key.empty()) return make_error(Errc::usage, "--tls-cert needs --tls-key");
    ECUUP_ASSIGN(tls, make_tls_context(options.tls_cert.string(), options.tls_key.string()));
  }
  RequestProcessor processor;
  install_handlers(processor, ctx);
  LoopOptions loop_options{.workers = workers,
                           .transfer_workers = k_transfer_threads,
                           .keep_alive_timeout = std::chrono::seconds(k_keep_alive_timeout_s),
                           .keep_alive_max_count = k_keep_alive_max_count};
  HttpLoop loop(processor, loop_options, lane_of, tls);
  ECUUP_ASSIGN(int port, loop.bind(options.host, options.port));

  // SIGINT/SIGTERM are taken by one thread with sigwait; the pool threads inherit the mask.
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::atomic<bool> done{false};
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    // stop() before run() has set up its loop would be lost: repeat until it returns.
    while (!done.load()) {
      loop.stop();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });

  std::printf("listening on %s://%s:%d\n", ctx.scheme.c_str(), display_host(options.host).c_str(), port);
  std::fflush(stdout);
  auto served = loop.run();
  done = true;
  if (stopper.joinable()) {
    // Wake the stopper if the server ended without a signal.
    pthread_kill(stopper.native_handle(), SIGTERM);
    stopper.join();
  }
  if (!served) return std::move(served).error();
  std::fprintf(stderr, "ecuup-server: stopped\n");
  return success();
}

}  // namespace ecuup::server
