// discover: --address, --vin, --eid, --timeout; lists the DoIP entities that answered.
#include <fmt/format.h>

#include "cli.hpp"
#include "output.hpp"

namespace ecuup::cli {

namespace {

void print_human(const api::DiscoverReport& report) {
  if (report.entities.empty()) {
    std::printf("no DoIP entity answered at %s\n", report.target.c_str());
    return;
  }
  std::vector<std::vector<std::string>> rows{{"VIN", "ADDRESS", "LOGICAL", "EID", "GID"}};
  for (const auto& e : report.entities) {
    rows.push_back({e.vin.empty() ? "-" : e.vin, fmt::format("{}:{}", e.address, e.port),
                    fmt::format("0x{:04X}", e.logical_address), e.eid, e.gid});
  }
  std::fputs(Output::table(rows).c_str(), stdout);
}

}  // namespace

std::function<Result<ExitCode>(Context&)> setup_discover(CLI::App& app) {
  auto options = std::make_shared<api::DiscoverOptions>();
  auto timeout_ms = std::make_shared<long>(options->timeout.count());
  app.add_option("--address", options->address,
                 "send the identification request to HOST[:PORT] (default: broadcast 255.255.255.255:13400)");
  app.add_option("--vin", options->vin, "only the vehicle with this VIN (17 characters)");
  app.add_option("--eid", options->eid, "only the DoIP entity with this EID (6 bytes hex, e.g. 00:1A:2B:3C:4D:5E)");
  app.add_option("--timeout", *timeout_ms, "wait this many milliseconds for answers")
      ->check(CLI::Range(1L, 60000L))
      ->capture_default_str();
  return [options, timeout_ms](Context& ctx) -> Result<ExitCode> {
    options->timeout = std::chrono::milliseconds(*timeout_ms);
    ECUUP_ASSIGN(api::DiscoverReport report, api::discover(*options));
    if (ctx.out->json()) {
      std::printf("%s\n", report.to_json().dump(2).c_str());
    } else {
      print_human(report);
    }
    return report.exit_code();
  };
}

}  // namespace ecuup::cli
