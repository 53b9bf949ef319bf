#pragma once
// The JSON side of hawkBit's Direct Device Integration API: what the server answers (controller
// base, deployment base, cancel action) mapped onto ecuup's tasks, and the bodies we send
// (configData, action feedback). No HTTP here, so every mapping rule is testable on its own.
// Shapes follow the DDI OpenAPI description (schemas Ddi*).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "repository/repository.hpp"
#include "util/result.hpp"

namespace ecuup::ddi {

// One ECU of the config: a chunk's `part` names it.
struct EcuPart {
  std::string ecu;
  std::string part;
};

// Which artifact link to take when a server offers both `download` (HTTPS) and `download-http`.
enum class DownloadScheme { https, http };

// "HH:MM:SS" (DdiPolling.sleep) or an ISO-8601 duration ("PT36H", "P1DT2H30M", "PT0.5S" rounds
// down). Errc::server naming the text on anything else.
Result<std::chrono::seconds> parse_polling_sleep(std::string_view text);

// DdiControllerBase: what the server wants from us now.
struct ControllerBase {
  std::optional<std::string> deployment_href;  // _links.deploymentBase
  std::optional<std::string> cancel_href;      // _links.cancelAction
  std::optional<std::string> config_data_href; // _links.configData: the server asks for attributes
  std::optional<std::string> poll_sleep;       // config.polling.sleep as given
};
Result<ControllerBase> parse_controller_base(std::string_view body);

// DdiDeploymentBase.
struct Deployment {
  std::string action_id;
  std::vector<Task> tasks;  // one per chunk, in the server's order
};
Result<Deployment> parse_deployment_base(std::string_view body, const std::vector<EcuPart>& ecus,
                                         DownloadScheme preferred);

// DdiCancel: `id` is the cancel action (feedback goes to cancelAction/{id}/feedback), `stop_id`
// the action to stop; hawkBit uses the same number for both.
struct CancelAction {
  std::string id;
  std::string stop_id;
};
Result<CancelAction> parse_cancel_action(std::string_view body);

// DdiConfigData {"mode":"merge","data":{"ecu.<part>.version": ..., <attributes>}}. ECUs without a
// known version are left out; an attribute never overrides a measured ECU version.
std::string config_data_body(const std::vector<ReportedEcu>& ecus,
                             const std::map<std::string, std::string>& attributes);

// DdiActionFeedback {"timestamp": ms, "status": {"execution", "result": {"finished", "progress"},
// "details"}}.
std::string feedback_body(const Feedback& feedback, std::int64_t timestamp_ms);

// The feedback resource of an action resource href: query and fragment dropped, "/feedback" added
// (DDI: deploymentBase/{id}?c=... -> deploymentBase/{id}/feedback).
std::string feedback_url(std::string_view action_href);

// A short description of an error answer: ExceptionInfo's errorCode and message when the body is
// one, else the start of the body. Empty for an empty body.
std::string error_summary(std::string_view body);

}  // namespace ecuup::ddi
