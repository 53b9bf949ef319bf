#pragma once
// Eclipse hawkBit's Direct Device Integration API as a Repository. The controller base is
// {url}/{tenant}/controller/v1/{vehicle_id}; every other resource is reached through the hrefs the
// server hands out (deploymentBase, cancelAction, artifact downloads), never by building URLs.
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "net/http.hpp"
#include "repository/ddi_json.hpp"
#include "repository/repository.hpp"
#include "util/result.hpp"

namespace ecuup {

// The HTTP calls the DDI client makes. The real one is HttpClient (which retries 429/5xx and
// connection loss itself); tests may swap in a scripted one.
class DdiTransport {
 public:
  virtual ~DdiTransport() = default;
  virtual Result<HttpResponse> request(const std::string& method, const std::string& url, const std::string& body) = 0;
  // `max_bytes` (0: none) cuts off a body that runs past the announced size.
  virtual Result<DownloadResult> download(const std::string& url, const std::filesystem::path& partial,
                                          Progress& progress, std::uint64_t max_bytes) = 0;
};

std::unique_ptr<DdiTransport> make_http_transport(HttpOptions options);

struct DdiSettings {
  std::string base_url;                  // {url}/{tenant}/controller/v1/{controllerId}
  std::vector<ddi::EcuPart> ecus;        // chunk `part` -> ECU name
  std::map<std::string, std::string> attributes;  // config's extra configData
  std::string secret;                    // the token: only to scrub it from any error text
  int conflict_attempts = 4;             // 409 Conflict: hawkBit says "you may retry"
  std::chrono::milliseconds conflict_backoff{500};
  bool fetch_statements = false;         // `trust:` configured: GET each chunk's signed statement
};

// The token from server.token_env (an environment variable) or server.token_file (its first line,
// trimmed). Errc::config naming where it looked; the token itself never appears in a message.
Result<std::string> read_ddi_token(const ServerConfig& server);

// "Authorization: TargetToken <t>" or "GatewayToken <t>" plus TLS and timeouts from the config.
Result<HttpOptions> ddi_http_options(const ServerConfig& server, const std::string& token);

class DdiRepository final : public Repository {
 public:
  DdiRepository(DdiSettings settings, std::unique_ptr<DdiTransport> transport);

  // PUT configData (versions as "ecu.<part>.version" + attributes), GET the controller base, then
  // GET its deploymentBase and cancelAction links.
  Result<ReportResult> report(const std::vector<ReportedEcu>& ecus,
                              const std::map<std::string, std::string>& attributes) override;
  Result<ReportResult> preview(const std::vector<ReportedEcu>& ecus) override;
  Result<void> download(const ArtifactRef& artifact, const std::filesystem::path& partial,
                        Progress& progress) override;
  // POST {action href}/feedback. 410 Gone counts as delivered (see last_feedback_outcome()).
  Result<void> send_feedback(const Feedback& feedback) override;
  FeedbackOutcome last_feedback_outcome() const override { return m_last_outcome; }
  std::string describe() const override;

 private:
  Result<HttpResponse> call(const std::string& method, const std::string& url, const std::string& body,
                            const std::string& what);
  Result<void> put_config_data(const std::string& body, ReportResult& out);
  Result<std::string> get_ok(const std::string& url, const std::string& what);
  // The GET half of report(): the controller base, its deployment and cancel action.
  Result<void> read_actions(ReportResult& out);
  Result<void> take_statement(Task& task);
  Result<std::string> action_feedback_url(const Feedback& feedback) const;
  Error scrub(Error error) const;

  DdiSettings m_settings;
  std::unique_ptr<DdiTransport> m_transport;
  ddi::DownloadScheme m_scheme;
  // Action id -> the href the server gave for it in the last report, for feedback.
  std::map<std::string, std::string> m_deployment_hrefs;
  std::map<std::string, std::string> m_cancel_hrefs;
  FeedbackOutcome m_last_outcome = FeedbackOutcome::delivered;
};

// Feedback for a cancel request: accepted (closed + success) before flashing began, rejected once
// it has (DDI: the device may reject a cancellation of an action it already started).
Feedback ddi_cancel_accepted(const std::string& cancel_action_id, std::string detail = {});
Feedback ddi_cancel_rejected(const std::string& cancel_action_id, std::string detail);

Result<std::unique_ptr<Repository>> make_ddi_repository(const Config& config);

}  // namespace ecuup
