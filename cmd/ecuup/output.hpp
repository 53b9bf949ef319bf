#pragma once
// Everything ecuup shows a person or a script: tables or JSON on stdout, errors and progress on
// stderr, and the optional log file.
#include <cstdio>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "util/progress.hpp"

namespace ecuup::cli {

enum class ProgressStyle { bar, plain, jsonl, none };
// How messages (errors, notes, -vv traffic) are written to stderr and the log file: text; one JSON
// object a line; or text with syslog priority prefixes ("<3>") when systemd's journal reads stderr.
enum class LogFormat { text, json, journal };
LogFormat parse_log_format(const std::string& value);

class Output {
 public:
  Output(bool json, ProgressStyle style, int verbose, const std::string& log_file, LogFormat format = LogFormat::text);
  ~Output();

  Progress& progress() { return *m_progress; }
  bool json() const { return m_json; }

  void error(const std::string& message);  // "ecuup: error: ..." on stderr and in the log
  void info(const std::string& message);   // stderr at -v, always in the log
  void log(const std::string& line);       // log file only

  void step(const api::StepReport& report);  // table or JSON
  void status(const api::StatusReport& report);
  void update(const api::UpdateResult& result);
  void json_error(const Error& error, int exit_code);
  // status --follow: one event of a running ecuup's live log (ecuup-progress(5)): a line for
  // people (progress at most once a second per ECU, notes at -v), or the event as it is with --json.
  void live_event(const nlohmann::json& event);

  static std::string table(const std::vector<std::vector<std::string>>& rows);

 private:
  void step_human(const api::StepReport& report);
  // One message on stderr as the log format says; `priority` is syslog's (3 error, 6 info, 7 debug).
  void say(int priority, const std::string& message);
  bool m_json;
  int m_verbose;
  LogFormat m_format = LogFormat::text;
  std::FILE* m_log = nullptr;
  std::unique_ptr<Progress> m_progress;
  std::map<std::string, std::chrono::steady_clock::time_point> m_live_shown;  // per ECU: last progress line
};

// auto = a bar on a terminal, plain lines otherwise.
ProgressStyle parse_progress_style(const std::string& value, bool stderr_is_tty);

}  // namespace ecuup::cli
