#pragma once
// ecuup-server's resources as a table: each row names a route, its path pattern (literal segments
// and {captures}), the methods it answers and how its request body is taken. A request path is
// split into segments once and compared row by row, segment by segment: no regular expression
// runs per request.
#include <array>
#include <cstddef>
#include <string_view>

namespace ecuup::server {

enum class Route {
  none,  // the path names no resource of its API
  // hawkBit DDI device API: /{tenant}/controller/v1/{controllerId}/...
  ddi_base,
  ddi_config_data,
  ddi_deployment_base,
  ddi_deployment_feedback,
  ddi_installed_base,
  ddi_cancel_action,
  ddi_cancel_feedback,
  ddi_artifact_list,
  ddi_artifact,
  // Management API: /api/v1/...
  api_vehicles,
  api_vehicle_add,
  api_vehicle_cancel,
  api_actions,
  api_modules,
  api_module_upload,
  api_statement,
  api_assignments,
};

// Which API a path belongs to, decided by its prefix alone (before authentication).
enum class Api { none, ddi, management };

// How a route takes its request body: not at all, as a small JSON document read whole, or
// streamed to a file (an artifact upload).
enum class BodyKind { none, json, statement, upload };

// Where a request runs: `quick` on the core-sized worker pool; `transfer` on the pool for
// requests that stream large bodies (artifact downloads and uploads), so a slow client never
// holds a worker that polls need.
enum class Lane { quick, transfer };

inline constexpr std::size_t k_max_route_captures = 2;

struct RouteMatch {
  Api api = Api::none;
  Route route = Route::none;
  // The path matched a row, but not for this method (DDI answers 405, management 404).
  bool method_allowed = true;
  BodyKind body = BodyKind::none;
  Lane lane = Lane::quick;
  // DDI: the tenant and controller id segments.
  std::string_view tenant;
  std::string_view vehicle;
  // The row's {captures} after the fixed prefix, in order (an action id, a module id, a file name).
  std::array<std::string_view, k_max_route_captures> captures{};
};

// Matches a decoded request path (no query string) for `method` ("GET", "POST", ...).
RouteMatch match_route(std::string_view method, std::string_view path);

// The lane of a raw request target ("/x/y?query", not yet percent-decoded), known from the
// request line alone so a request can be put on its lane before it is parsed.
Lane lane_of(std::string_view method, std::string_view target);

}  // namespace ecuup::server
