#pragma once
// A running ecuup's progress, published for other programs: one JSON object a line in
// state_dir/progress.jsonl (ecuup-progress(5) is the stable interface). Only the writer holding the
// manifest lock writes it; `ecuup status --follow` and dashboards read it while it grows.
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "util/progress.hpp"
#include "util/progress_tally.hpp"
#include "util/result.hpp"

namespace ecuup::api {

inline constexpr int k_live_schema = 1;

// Where a phase stands, as the live log and `--progress jsonl` write it (ecuup-progress(5)):
// event, ecu, phase, stage, done, total and rate_bps (whole bytes a second since the stage began).
nlohmann::json progress_position(const char* event, const ProgressTally& tally);

// The file's name in the state dir.
std::filesystem::path live_log_path(const std::filesystem::path& state_dir);

// Passes everything on to the CLI's renderer and, once start() was called, writes it to the live
// log too. Before start() (a dry run, a reader, a writer still waiting for the lock) it only passes on.
class LiveLog final : public Progress {
 public:
  LiveLog(Progress& inner, std::string command);
  ~LiveLog() override;
  LiveLog(const LiveLog&) = delete;
  LiveLog& operator=(const LiveLog&) = delete;

  // The manifest lock is ours: empties the log and writes the run's first event. Later calls
  // (the steps of `update`) do nothing. A log that cannot be written is a note, never a failure.
  void start(const std::filesystem::path& state_dir);
  // The run's last event: its exit status. Nothing when start() never ran.
  void finish(int exit_code);

  void begin(const std::string& ecu, const std::string& phase, std::uint64_t total) override;
  void advance(std::uint64_t done) override;
  void stage(const std::string& name) override;
  void end(bool ok) override;
  void note(const std::string& message) override;
  void on_bytes(std::uint64_t offset, ByteView data) override;
  std::unique_ptr<Progress> concurrent_lane() override;

  struct Shared;
  class Lane;

 private:
  std::shared_ptr<Shared> m_shared;
  std::unique_ptr<Lane> m_main;
};

// What a follower learns from the live log.
struct FollowEnd {
  bool followed = false;              // a run was in progress when following began
  std::optional<int> exit_code;       // the run's exit status, when it wrote one
  bool vanished = false;              // the writer is gone without an exit event (killed)
};

// Follows the live log of `state_dir` while a run is in progress: calls on_event with each event
// of the current run, from its first, until the run's exit event or until its process is gone.
// Returns at once (followed = false) when no run is in progress.
Result<FollowEnd> follow_live_log(const std::filesystem::path& state_dir,
                                  const std::function<void(const nlohmann::json&)>& on_event,
                                  std::chrono::milliseconds poll = std::chrono::milliseconds(100));

}  // namespace ecuup::api
