// inventory, report, fetch: no options beyond the common ones.
#include "cli.hpp"
#include "output.hpp"

namespace ecuup::cli {

namespace {

std::function<Result<ExitCode>(Context&)> simple(Result<api::StepReport> (*fn)(const Config&, const api::Common&)) {
  return [fn](Context& ctx) -> Result<ExitCode> {
    ECUUP_ASSIGN(api::StepReport rep, fn(*ctx.config, ctx.common));
    ctx.out->step(rep);
    return rep.exit_code();
  };
}

}  // namespace

std::function<Result<ExitCode>(Context&)> setup_inventory(CLI::App&) { return simple(&api::inventory); }
std::function<Result<ExitCode>(Context&)> setup_report(CLI::App&) { return simple(&api::report); }
std::function<Result<ExitCode>(Context&)> setup_fetch(CLI::App&) { return simple(&api::fetch); }

}  // namespace ecuup::cli
