#pragma once
// Everything ecuup shows a person or a script: tables or JSON on stdout, errors and progress on
// stderr, and the optional log file.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api.hpp"
#include "util/progress.hpp"

namespace ecuup::cli {

enum class ProgressStyle { bar, plain, jsonl, none };

class Output {
 public:
  Output(bool json, ProgressStyle style, int verbose, const std::string& log_file);
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

  static std::string table(const std::vector<std::vector<std::string>>& rows);

 private:
  void step_human(const api::StepReport& report);
  bool m_json;
  int m_verbose;
  std::FILE* m_log = nullptr;
  std::unique_ptr<Progress> m_progress;
};

// auto = a bar on a terminal, plain lines otherwise.
ProgressStyle parse_progress_style(const std::string& value, bool stderr_is_tty);

}  // namespace ecuup::cli
