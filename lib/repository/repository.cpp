#include "repository/repository.hpp"

#include <fmt/format.h>

namespace ecuup {

Result<ReportResult> Repository::preview(const std::vector<ReportedEcu>&) {
  return make_error(Errc::unsupported, fmt::format("{} cannot answer without being told the versions", describe()));
}

const char* feedback_execution_name(FeedbackExecution e) {
  switch (e) {
    case FeedbackExecution::proceeding: return "proceeding";
    case FeedbackExecution::closed: return "closed";
    case FeedbackExecution::canceled: return "canceled";
    case FeedbackExecution::rejected: return "rejected";
    case FeedbackExecution::resumed: return "resumed";
    case FeedbackExecution::scheduled: return "scheduled";
    case FeedbackExecution::downloaded: return "downloaded";
    case FeedbackExecution::download: return "download";
  }
  return "proceeding";
}

const char* feedback_finished_name(FeedbackFinished f) {
  switch (f) {
    case FeedbackFinished::none: return "none";
    case FeedbackFinished::success: return "success";
    case FeedbackFinished::failure: return "failure";
  }
  return "none";
}

}  // namespace ecuup
