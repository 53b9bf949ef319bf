// libFuzzer target: a DDI server's answer (repository/ddi_json.hpp) as a controller base, a
// deployment base and a cancel action, and as an error body. Whatever a server sends, the result
// is a task list the rest of ecuup may trust, or Errc::server (Errc::verify for links and
// versions refused as unsafe).
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "repository/ddi_json.hpp"
#include "util/version.hpp"

using namespace ecuup;
using namespace ecuup::ddi;
using ecuup::fuzz::require;

namespace {

// The parts of fuzz/corpus/ddi's deployments: the OpenAPI examples and ecuup-server's.
const std::vector<EcuPart> k_ecus = {{"gateway", "jvm"}, {"body", "bApp"}, {"engine", "os"},
                                     {"bms", "bms"},     {"gw", "gateway"}};

bool lower_hex(const std::string& s, std::size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

void check_href(const std::optional<std::string>& href) {
  if (!href) return;
  require(!href->empty());
  const std::string feedback = feedback_url(*href);
  require(feedback.size() >= 9 && feedback.compare(feedback.size() - 9, 9, "/feedback") == 0);
}

void check_sleep(std::string_view text) {
  auto sleep = parse_polling_sleep(text);
  if (sleep) {
    require(sleep->count() >= 0);
  } else {
    require(sleep.error().code == Errc::server);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body = fuzz::as_text(data, size);

  auto base = parse_controller_base(body);
  if (base) {
    check_href(base->deployment_href);
    check_href(base->cancel_href);
    check_href(base->config_data_href);
    if (base->poll_sleep) check_sleep(*base->poll_sleep);
  } else {
    require(base.error().code == Errc::server);
  }

  for (auto scheme : {DownloadScheme::https, DownloadScheme::http}) {
    auto deployment = parse_deployment_base(body, k_ecus, scheme);
    if (!deployment) {
      // verify: links and versions refused as unsafe to follow or to flash.
      require(deployment.error().code == Errc::server || deployment.error().code == Errc::verify);
      break;
    }
    require(!deployment->action_id.empty());
    std::set<std::string> parts;
    for (const auto& task : deployment->tasks) {
      require(task.action_id == deployment->action_id);
      require(parts.insert(task.part).second);
      require(std::any_of(k_ecus.begin(), k_ecus.end(),
                          [&](const EcuPart& e) { return e.part == task.part && e.ecu == task.ecu; }));
      require(check_version_text(task.target_version).ok());
      require(!task.artifacts.empty());
      for (const auto& artifact : task.artifacts) {
        // The name becomes a file name under downloads/: it must stay there.
        require(!artifact.name.empty() && artifact.name != "." && artifact.name != "..");
        require(artifact.name.find_first_of(std::string("/\\\0", 3)) == std::string::npos);
        require(artifact.url.starts_with("http://") || artifact.url.starts_with("https://"));
        require(!artifact.sha256.empty() || !artifact.sha1.empty());
        require(artifact.sha256.empty() || lower_hex(artifact.sha256, 64));
        require(artifact.sha1.empty() || lower_hex(artifact.sha1, 40));
      }
    }
  }

  auto cancel = parse_cancel_action(body);
  if (cancel) {
    require(!cancel->id.empty() && !cancel->stop_id.empty());
  } else {
    require(cancel.error().code == Errc::server);
  }

  (void)error_summary(body);
  if (size <= 64) check_sleep(body);
  return 0;
}
