#include "repository/ddi.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "net/http_status.hpp"
#include "trust/statement.hpp"
#include "util/cancel.hpp"

namespace ecuup {
namespace {

constexpr const char* k_redacted = "<redacted>";

bool is_ok(long status) { return is_http_success(status); }

// Waits before retrying a 409; false when the user interrupted meanwhile.
bool conflict_pause(std::chrono::milliseconds delay) {
  if (interrupt_requested()) return false;
  std::this_thread::sleep_for(delay);
  return !interrupt_requested();
}

std::string trim(std::string_view s) {
  auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return std::string(s);
}

bool has_control_char(std::string_view s) {
  for (char c : s)
    if (std::iscntrl(static_cast<unsigned char>(c))) return true;
  return false;
}

// An id that goes into a URL path segment unescaped: DDI action ids are int64, controller ids
// are plain names; anything that could change the URL's structure is refused.
bool plain_path_segment(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s)
    if (c == '/' || c == '?' || c == '#' || c == '%' || std::isspace(static_cast<unsigned char>(c)) ||
        std::iscntrl(static_cast<unsigned char>(c)))
      return false;
  return true;
}

// What a non-2xx status means for us. 429/5xx come back only after HttpClient's own retries.
Error status_error(const HttpResponse& response, const std::string& what) {
  long status = response.status;
  if (status == k_http_unauthorized || status == k_http_forbidden)
    return make_error(Errc::auth, fmt::format("{}: the server refused the token (HTTP {})", what, status));
  std::string summary = ddi::error_summary(response.body);
  std::string suffix = summary.empty() ? "" : ": " + summary;
  if (status == k_http_too_many_requests || status >= k_http_server_error_min)
    return make_error(Errc::network, fmt::format("{}: HTTP {}, still failing after retries{}", what, status, suffix));
  return make_error(Errc::server, fmt::format("{}: HTTP {}{}", what, status, suffix));
}

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

class HttpTransport final : public DdiTransport {
 public:
  explicit HttpTransport(HttpOptions options) : m_client(std::move(options)) {}
  Result<HttpResponse> request(const std::string& method, const std::string& url, const std::string& body) override {
    return m_client.request(method, url, body);
  }
  Result<DownloadResult> download(const std::string& url, const std::filesystem::path& partial,
                                  Progress& progress, std::uint64_t max_bytes) override {
    return m_client.download(url, partial, progress, max_bytes);
  }

 private:
  HttpClient m_client;
};

}  // namespace

std::unique_ptr<DdiTransport> make_http_transport(HttpOptions options) {
  return std::make_unique<HttpTransport>(std::move(options));
}

Result<std::string> read_ddi_token(const ServerConfig& server) {
  std::vector<std::string> looked;
  if (!server.token_env.empty()) {
    const char* value = std::getenv(server.token_env.c_str());
    std::string token = value ? trim(value) : std::string();
    if (!token.empty()) {
      if (has_control_char(token))
        return make_error(Errc::config, fmt::format("DDI token in environment variable {} contains control characters",
                                                    server.token_env));
      return token;
    }
    looked.push_back(fmt::format("environment variable {} is {}", server.token_env, value ? "empty" : "not set"));
  }
  if (!server.token_file.empty()) {
    std::ifstream in(server.token_file);
    if (!in) {
      looked.push_back(fmt::format("token file {} cannot be read", server.token_file.string()));
    } else {
      std::string line;
      std::getline(in, line);
      std::string token = trim(line);
      if (has_control_char(token))
        return make_error(Errc::config, fmt::format("DDI token in {} contains control characters",
                                                    server.token_file.string()));
      if (!token.empty()) return token;
      looked.push_back(fmt::format("token file {} has an empty first line", server.token_file.string()));
    }
  }
  if (looked.empty())
    return make_error(Errc::config, "no DDI token configured: set server.token_env or server.token_file");
  std::string where;
  for (const auto& l : looked) where += (where.empty() ? "" : " and ") + l;
  return make_error(Errc::config, "no DDI token: " + where);
}

Result<HttpOptions> ddi_http_options(const ServerConfig& server, const std::string& token) {
  HttpOptions options;
  options.ca_file = server.ca_file.string();
  options.client_cert = server.client_cert.string();
  options.client_key = server.client_key.string();
  options.verify_tls = server.verify_tls;
  options.connect_timeout = server.connect_timeout;
  options.low_speed_timeout = server.low_speed_timeout;
  options.low_speed_limit_bps = server.low_speed_limit_bps;
  options.max_attempts = server.max_attempts;
  // DDI security: "TargetToken" authenticates one controller, "GatewayToken" a whole tenant.
  std::string scheme;
  if (server.token_kind == "target") scheme = "TargetToken";
  else if (server.token_kind == "gateway") scheme = "GatewayToken";
  else
    return make_error(Errc::config, fmt::format("server.token_kind '{}' is not target or gateway", server.token_kind));
  options.headers.push_back(fmt::format("Authorization: {} {}", scheme, token));
  return options;
}

DdiRepository::DdiRepository(DdiSettings settings, std::unique_ptr<DdiTransport> transport)
    : m_settings(std::move(settings)),
      m_transport(std::move(transport)),
      m_scheme(m_settings.base_url.rfind("http://", 0) == 0 ? ddi::DownloadScheme::http : ddi::DownloadScheme::https) {}

std::string DdiRepository::describe() const { return "hawkBit DDI " + m_settings.base_url; }

Error DdiRepository::scrub(Error error) const {
  const std::string& secret = m_settings.secret;
  if (secret.empty()) return error;
  for (std::size_t at = error.message.find(secret); at != std::string::npos;
       at = error.message.find(secret, at + std::char_traits<char>::length(k_redacted)))
    error.message.replace(at, secret.size(), k_redacted);
  return error;
}

Result<HttpResponse> DdiRepository::call(const std::string& method, const std::string& url, const std::string& body,
                                         const std::string& what) {
  auto response = m_transport->request(method, url, body);
  if (!response) return scrub(std::move(response).error().context(what));
  return response;
}

Result<std::string> DdiRepository::get_ok(const std::string& url, const std::string& what) {
  ECUUP_ASSIGN(HttpResponse response, call("GET", url, {}, what));
  if (!is_ok(response.status)) return scrub(status_error(response, what));
  return std::move(response.body);
}

Result<void> DdiRepository::put_config_data(const std::string& body, ReportResult& out) {
  const std::string url = m_settings.base_url + "/configData";
  const std::string what = "PUT configData";
  bool polled = false;
  for (int attempt = 1;; ++attempt) {
    ECUUP_ASSIGN(HttpResponse response, call("PUT", url, body, what));
    if (is_ok(response.status)) return success();
    if (response.status == k_http_conflict) {
      // 409: "modified by another request at the same time. You may retry" (DDI).
      if (attempt < m_settings.conflict_attempts) {
        if (!conflict_pause(m_settings.conflict_backoff * attempt))
          return make_error(Errc::interrupted, what + ": interrupted");
        continue;
      }
      out.notes.push_back(fmt::format("{}: the server answered HTTP 409 (conflict) {} times; the versions go with "
                                      "the next report", what, attempt));
      return success();
    }
    if (response.status == k_http_not_found && !polled) {
      // hawkBit registers a controller on its first poll of the base; until then configData is 404.
      polled = true;
      ECUUP_TRY(get_ok(m_settings.base_url, "GET controller base"));
      continue;
    }
    if (response.status == k_http_not_found) {
      out.notes.push_back(scrub(status_error(response, what)).message + "; versions not uploaded");
      return success();
    }
    return scrub(status_error(response, what));
  }
}

Result<ReportResult> DdiRepository::report(const std::vector<ReportedEcu>& ecus,
                                           const std::map<std::string, std::string>& attributes) {
  ReportResult out;
  std::map<std::string, std::string> all_attributes = m_settings.attributes;
  for (const auto& [key, value] : attributes) all_attributes[key] = value;
  bool any_version = std::any_of(ecus.begin(), ecus.end(), [](const ReportedEcu& e) { return !e.version.empty(); });
  if (any_version || !all_attributes.empty()) {
    ECUUP_TRY(put_config_data(ddi::config_data_body(ecus, all_attributes), out));
  }
  ECUUP_TRY(read_actions(out));
  return out;
}

Result<ReportResult> DdiRepository::preview(const std::vector<ReportedEcu>&) {
  ReportResult out;
  ECUUP_TRY(read_actions(out));
  return out;
}

Result<void> DdiRepository::read_actions(ReportResult& out) {
  ECUUP_ASSIGN(std::string base_text, get_ok(m_settings.base_url, "GET controller base"));
  ECUUP_ASSIGN(ddi::ControllerBase base, ddi::parse_controller_base(base_text));
  if (base.poll_sleep) {
    auto interval = ddi::parse_polling_sleep(*base.poll_sleep);
    if (interval) out.poll_interval = *interval;
    else out.notes.push_back(interval.error().message);
  }
  if (base.deployment_href) {
    ECUUP_ASSIGN(std::string text, get_ok(*base.deployment_href, "GET deploymentBase"));
    ECUUP_ASSIGN(ddi::Deployment deployment, ddi::parse_deployment_base(text, m_settings.ecus, m_scheme));
    m_deployment_hrefs[deployment.action_id] = *base.deployment_href;
    for (Task& task : deployment.tasks) ECUUP_TRY(take_statement(task));
    out.tasks = std::move(deployment.tasks);
  }
  if (base.cancel_href) {
    ECUUP_ASSIGN(std::string text, get_ok(*base.cancel_href, "GET cancelAction"));
    ECUUP_ASSIGN(ddi::CancelAction cancel, ddi::parse_cancel_action(text));
    m_cancel_hrefs[cancel.id] = *base.cancel_href;
    out.cancel_action_id = cancel.id;
  }
  return success();
}

// The DDI convention (ecuup-config(5)): a software module may carry `<name>.release.json`, the
// signed release statement, and `<name>.release.json.p7s`, its signature. They are not software:
// they leave the artifact list, and are fetched (small, capped) when trust is configured.
Result<void> DdiRepository::take_statement(Task& task) {
  const ArtifactRef* statement = nullptr;
  const ArtifactRef* signature = nullptr;
  std::vector<ArtifactRef> software;
  for (const ArtifactRef& a : task.artifacts) {
    std::string_view name = a.name;
    bool is_statement = name.ends_with(k_statement_suffix);
    bool is_signature = name.size() > k_signature_suffix.size() &&
                        name.substr(0, name.size() - k_signature_suffix.size()).ends_with(k_statement_suffix) &&
                        name.ends_with(k_signature_suffix);
    const ArtifactRef*& slot = is_statement ? statement : signature;
    if (is_statement || is_signature) {
      if (slot)
        return make_error(Errc::verify, fmt::format("part '{}': two {} artifacts", task.part,
                                                    is_statement ? "release statement" : "signature"));
      slot = &a;
    } else {
      software.push_back(a);
    }
  }
  if (software.empty()) return make_error(Errc::server, fmt::format("part '{}': no software among the artifacts", task.part));
  if (m_settings.fetch_statements && statement && signature) {
    auto small = [&](const ArtifactRef& a) -> Result<std::string> {
      if (a.size > k_statement_max_bytes)
        return make_error(Errc::verify, fmt::format("part '{}': {} announces {} bytes, more than a statement may have",
                                                    task.part, a.name, a.size));
      const std::string what = fmt::format("GET {} of part '{}'", a.name, task.part);
      ECUUP_ASSIGN(HttpResponse response, call("GET", a.url, "", what));
      if (!is_ok(response.status)) return scrub(status_error(response, what));
      if (response.body.size() > k_statement_max_bytes)
        return make_error(Errc::verify, fmt::format("{}: {} bytes, more than a statement may have", what,
                                                    response.body.size()));
      return std::move(response.body);
    };
    ECUUP_ASSIGN(task.statement, small(*statement));
    ECUUP_ASSIGN(task.signature, small(*signature));
  }
  task.artifacts = std::move(software);
  return success();
}

Result<std::string> DdiRepository::action_feedback_url(const Feedback& feedback) const {
  if (!plain_path_segment(feedback.action_id))
    return make_error(Errc::manifest, fmt::format("feedback: '{}' is not a DDI action id", feedback.action_id));
  const auto& hrefs = feedback.for_cancel ? m_cancel_hrefs : m_deployment_hrefs;
  if (auto it = hrefs.find(feedback.action_id); it != hrefs.end()) return ddi::feedback_url(it->second);
  // Feedback usually comes from a later ecuup run (flash, status) that only has the action id from
  // the manifest, and hawkBit stops linking an action once it is closed; so the documented DDI path
  // /{tenant}/controller/v1/{controllerId}/{deploymentBase|cancelAction}/{actionId}/feedback is the
  // only way left to reach it.
  return fmt::format("{}/{}/{}/feedback", m_settings.base_url, feedback.for_cancel ? "cancelAction" : "deploymentBase",
                     feedback.action_id);
}

Result<void> DdiRepository::send_feedback(const Feedback& feedback) {
  ECUUP_ASSIGN(std::string url, action_feedback_url(feedback));
  const std::string body = ddi::feedback_body(feedback, now_ms());
  const std::string what =
      fmt::format("POST {} feedback for action {}", feedback.for_cancel ? "cancel" : "deployment", feedback.action_id);
  for (int attempt = 1;; ++attempt) {
    ECUUP_ASSIGN(HttpResponse response, call("POST", url, body, what));
    if (is_ok(response.status)) {
      m_last_outcome = FeedbackOutcome::delivered;
      return success();
    }
    if (response.status == k_http_gone) {
      // DDI 410: "Action is not active anymore" -- final, nothing left to deliver.
      m_last_outcome = FeedbackOutcome::action_closed;
      return success();
    }
    if (response.status == k_http_conflict) {
      if (attempt < m_settings.conflict_attempts) {
        if (!conflict_pause(m_settings.conflict_backoff * attempt))
          return make_error(Errc::interrupted, what + ": interrupted");
        continue;
      }
      // Retryable by the DDI's own word: keep it queued.
      return make_error(Errc::network, fmt::format("{}: HTTP 409 (conflict) {} times; retry later", what, attempt));
    }
    return scrub(status_error(response, what));
  }
}

Result<void> DdiRepository::download(const ArtifactRef& artifact, const std::filesystem::path& partial,
                                     Progress& progress) {
  auto result = m_transport->download(artifact.url, partial, progress, artifact.size);
  if (!result) return scrub(std::move(result).error().context("download " + artifact.name));
  if (artifact.size != 0 && result->file_size != 0 && result->file_size != artifact.size)
    return make_error(Errc::verify, fmt::format("download {}: the server sent {} bytes, the deployment said {}",
                                                artifact.name, result->file_size, artifact.size));
  return success();
}

Feedback ddi_cancel_accepted(const std::string& cancel_action_id, std::string detail) {
  Feedback fb;
  fb.action_id = cancel_action_id;
  fb.for_cancel = true;
  fb.execution = FeedbackExecution::closed;
  fb.finished = FeedbackFinished::success;
  if (!detail.empty()) fb.details.push_back(std::move(detail));
  return fb;
}

Feedback ddi_cancel_rejected(const std::string& cancel_action_id, std::string detail) {
  Feedback fb;
  fb.action_id = cancel_action_id;
  fb.for_cancel = true;
  fb.execution = FeedbackExecution::rejected;
  fb.finished = FeedbackFinished::none;
  if (!detail.empty()) fb.details.push_back(std::move(detail));
  return fb;
}

Result<std::unique_ptr<Repository>> make_ddi_repository(const Config& config) {
  const ServerConfig& server = config.server;
  if (server.url.empty()) return make_error(Errc::config, "server.url is empty (the hawkBit DDI server)");
  if (!plain_path_segment(server.tenant))
    return make_error(Errc::config, fmt::format("server.tenant '{}' cannot be a URL path segment", server.tenant));
  if (!plain_path_segment(config.vehicle_id))
    return make_error(Errc::config,
                      fmt::format("vehicle '{}' cannot be a DDI controller id (empty, or has '/', '?', '#', '%' or "
                                  "spaces)", config.vehicle_id));
  ECUUP_ASSIGN(std::string token, read_ddi_token(server));
  ECUUP_ASSIGN(HttpOptions options, ddi_http_options(server, token));

  DdiSettings settings;
  std::string url = server.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  settings.base_url = fmt::format("{}/{}/controller/v1/{}", url, server.tenant, config.vehicle_id);
  for (const EcuConfig& ecu : config.ecus) settings.ecus.push_back({ecu.name, ecu.part.empty() ? ecu.name : ecu.part});
  settings.attributes = server.attributes;
  settings.secret = token;
  settings.conflict_attempts = server.max_attempts;
  settings.conflict_backoff = options.backoff_base;
  settings.fetch_statements = !config.trust_keyring.empty();
  return std::unique_ptr<Repository>(
      std::make_unique<DdiRepository>(std::move(settings), make_http_transport(std::move(options))));
}

}  // namespace ecuup
