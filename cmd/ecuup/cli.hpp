#pragma once
// The ecuup command line: a registry of subcommands (name, summary, preconditions) that main
// enforces, and one file per subcommand that parses its options and calls one api function.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/api.hpp"
#include "config/config.hpp"
#include "util/exit_code.hpp"

namespace ecuup::cli {

// Options every subcommand takes.
struct CommonOptions {
  std::string config;
  std::vector<std::string> ecus;
  bool json = false;
  std::string progress = "auto";
  int verbose = 0;
  std::string log_file;
  std::string log_format = "auto";
  bool dry_run = false;
  std::optional<std::string> wait;  // --wait[=SECONDS]: "" = wait as long as it takes
  std::string trace;
  bool trace_append = false;
};

class Output;

struct Context {
  const Config* config = nullptr;  // loaded by main when the command needs one
  api::Common common;
  CommonOptions* options = nullptr;
  Output* out = nullptr;
};

struct Command {
  const char* name;
  const char* summary;
  bool needs_config;    // main loads and validates the config first (exit 2 on error)
  bool takes_lock;      // the step holds the manifest lock (exit 7 when busy, --wait to queue)
  bool touches_network; // may talk to the update server (exit 3 on server/network errors)
  bool has_dry_run;     // changes something, so offers --dry-run
  // Adds the subcommand's own options; the returned callback runs it.
  std::function<std::function<Result<ExitCode>(Context&)>(CLI::App&)> setup;
};

const std::vector<Command>& commands();

// Per-subcommand setup functions (one file each).
std::function<Result<ExitCode>(Context&)> setup_inventory(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_report(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_fetch(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_flash(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_backup(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_status(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_update(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_restore(CLI::App& app);
std::function<Result<ExitCode>(Context&)> setup_discover(CLI::App& app);

int run(int argc, char** argv);

}  // namespace ecuup::cli
