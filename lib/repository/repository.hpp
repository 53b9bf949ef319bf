#pragma once
// The update server seam. `dir`: a local directory with releases.yaml (the embedded default);
// `ddi`: Eclipse hawkBit's Direct Device Integration API.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

struct ReportedEcu {
  std::string name;     // ECU name in the config
  std::string part;     // the server's name for it (chunk `part`)
  std::string version;  // installed version
};

struct ArtifactRef {
  std::string name;  // file name
  std::string url;   // where to download it from, exactly as the server gave it
  std::uint64_t size = 0;
  std::string sha256;  // may be empty when the server only gives sha1
  std::string sha1;
};

struct Task {
  std::string ecu;   // ECU name in the config
  std::string part;
  std::string action_id;  // the server's id for this update (DDI action id; dir: synthesized)
  std::string target_version;
  std::vector<ArtifactRef> artifacts;  // first one is the image unless package.yaml says more
  bool download_only = false;          // DDI `update: skip`: fetch, do not flash
  bool maintenance_window_open = true; // false: do not flash now
  // The signed release statement and its detached CMS signature, exactly as the server gave them
  // (empty: the release is unsigned). Never among `artifacts`: they are not software.
  std::string statement;
  std::string signature;
};

struct ReportResult {
  std::vector<Task> tasks;
  std::optional<std::string> cancel_action_id;  // the server asks to cancel this action
  std::chrono::seconds poll_interval{0};        // how long the server wants us to wait, 0 = unknown
  std::vector<std::string> notes;  // worth telling the user, did not stop the report ("configData: HTTP 409")
};

enum class FeedbackExecution { proceeding, closed, canceled, rejected, resumed, scheduled, downloaded, download };
enum class FeedbackFinished { none, success, failure };
const char* feedback_execution_name(FeedbackExecution e);
const char* feedback_finished_name(FeedbackFinished f);

struct Feedback {
  std::string action_id;
  FeedbackExecution execution = FeedbackExecution::proceeding;
  FeedbackFinished finished = FeedbackFinished::none;
  int progress_cnt = -1;  // -1: no progress object
  int progress_of = -1;
  std::vector<std::string> details;
  bool for_cancel = false;  // feedback on cancelAction/{id} rather than deploymentBase/{id}
};

// What became of a feedback that send_feedback() delivered.
enum class FeedbackOutcome {
  delivered,
  action_closed,  // the server had already closed the action (DDI 410 Gone): final, nothing to resend
};

class Repository {
 public:
  virtual ~Repository() = default;
  // Uploads the installed versions (and attributes such as a VIN); answers the target ECUs' tasks.
  virtual Result<ReportResult> report(const std::vector<ReportedEcu>& ecus,
                                      const std::map<std::string, std::string>& attributes) = 0;
  // What report() would answer, telling the server nothing (dry runs): GET requests only. A server
  // that decides on the reported versions answers for the versions it last received.
  virtual Result<ReportResult> preview(const std::vector<ReportedEcu>& ecus);
  // Downloads `artifact` into `partial`, resuming from the bytes already there.
  virtual Result<void> download(const ArtifactRef& artifact, const std::filesystem::path& partial,
                                Progress& progress) = 0;
  // Delivers one result. Errc::network means "keep it and retry later"; an action the server
  // already closed (DDI 410) counts as delivered.
  virtual Result<void> send_feedback(const Feedback& feedback) = 0;
  // The outcome of the last send_feedback() that succeeded, so the manifest can record a 410.
  virtual FeedbackOutcome last_feedback_outcome() const { return FeedbackOutcome::delivered; }
  virtual std::string describe() const = 0;
};

Result<std::unique_ptr<Repository>> make_repository(const Config& config);

}  // namespace ecuup
