#include "api/precondition_gate.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace ecuup::api {

namespace {

constexpr const char* k_default_hint = "make the vehicle safe for programming";

}  // namespace

std::string PreconditionVerdict::summary() const {
  std::string met, failed;
  for (const auto& o : outcomes) {
    std::string& list = o.met ? met : failed;
    list += (list.empty() ? "" : "; ") + (o.met ? fmt::format("{} {}", o.name, o.value) : fmt::format("{}: {}", o.name, o.reason));
  }
  std::string out;
  if (!failed.empty()) out = (overridden ? "NOT met, overridden by --force-preconditions: " : "NOT met: ") + failed;
  if (!met.empty()) out += (out.empty() ? "" : "; ") + std::string("met: ") + met;
  return "preconditions " + out;
}

nlohmann::json PreconditionVerdict::facts() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& o : outcomes) {
    nlohmann::json item = {{"name", o.name}, {"kind", precondition_kind_name(o.kind)}, {"met", o.met}, {"value", o.value}};
    if (!o.met) item["reason"] = o.reason;
    list.push_back(std::move(item));
  }
  return {{"preconditions", std::move(list)}, {"preconditions_overridden", overridden}};
}

Result<PreconditionVerdict> check_preconditions(EcuDriver& driver, const EcuConfig& ecu, PreconditionPolicy policy,
                                                Progress& progress) {
  PreconditionVerdict verdict;
  ECUUP_ASSIGN(verdict.outcomes, driver.check_preconditions(ecu.preconditions, progress));
  std::string failures;
  std::vector<std::string> hints;
  for (const auto& o : verdict.outcomes) {
    if (o.met) continue;
    failures += fmt::format("{}precondition '{}' failed: {}", failures.empty() ? "" : "; ", o.name, o.reason);
    const std::string hint = o.hint.empty() ? k_default_hint : o.hint;
    if (std::find(hints.begin(), hints.end(), hint) == hints.end()) hints.push_back(hint);
  }
  if (failures.empty()) return verdict;
  if (policy == PreconditionPolicy::force) {
    verdict.overridden = true;
    progress.note(fmt::format("{}: {} (overridden by --force-preconditions)", ecu.name, failures));
    return verdict;
  }
  std::string advice;
  for (const auto& h : hints) advice += (advice.empty() ? "" : "; ") + h;
  verdict.refusal = make_error(Errc::preconditions,
                               fmt::format("{}: {}; {}, then run again (or pass --force-preconditions); nothing on the "
                                           "ECU was changed", ecu.name, failures, advice));
  return verdict;
}

void add_planned_preconditions(EcuOutcome& outcome, const EcuConfig& ecu) {
  if (ecu.preconditions.empty()) return;
  std::string names;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& p : ecu.preconditions) {
    names += (names.empty() ? "" : ", ") + p.name;
    list.push_back({{"name", p.name}, {"kind", precondition_kind_name(p.kind)}});
  }
  outcome.detail += "; preconditions " + names + " (not run in a dry run)";
  outcome.facts["preconditions"] = std::move(list);
}

}  // namespace ecuup::api
