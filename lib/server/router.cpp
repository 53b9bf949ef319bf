#include "server/router.hpp"

#include <cstdint>
#include <vector>

namespace ecuup::server {

namespace {

enum MethodBit : std::uint8_t { k_get = 1, k_head = 2, k_post = 4, k_put = 8, k_other = 16 };
constexpr std::uint8_t k_get_head = k_get | k_head;

std::uint8_t method_bit(std::string_view method) {
  if (method == "GET") return k_get;
  if (method == "HEAD") return k_head;
  if (method == "POST") return k_post;
  if (method == "PUT") return k_put;
  return k_other;
}

// A capture in a pattern.
constexpr std::string_view k_capture = "*";
constexpr std::size_t k_max_segments = 8;

struct Row {
  Route route;
  std::uint8_t methods;
  // The segments after the API's prefix; "*" captures one segment.
  std::array<std::string_view, k_max_segments> pattern;
  std::size_t segments;
  BodyKind body = BodyKind::none;
  Lane lane = Lane::quick;
};

// After /{tenant}/controller/v1/{controllerId}. DDI answers HEAD like GET.
constexpr Row k_ddi_rows[] = {
    {.route = Route::ddi_base, .methods = k_get_head, .pattern = {}, .segments = 0},
    {.route = Route::ddi_config_data, .methods = k_put, .pattern = {"configData"}, .segments = 1,
     .body = BodyKind::json},
    {.route = Route::ddi_deployment_base, .methods = k_get_head, .pattern = {"deploymentBase", k_capture},
     .segments = 2},
    {.route = Route::ddi_deployment_feedback, .methods = k_post,
     .pattern = {"deploymentBase", k_capture, "feedback"}, .segments = 3, .body = BodyKind::json},
    {.route = Route::ddi_installed_base, .methods = k_get_head, .pattern = {"installedBase", k_capture},
     .segments = 2},
    {.route = Route::ddi_cancel_action, .methods = k_get_head, .pattern = {"cancelAction", k_capture},
     .segments = 2},
    {.route = Route::ddi_cancel_feedback, .methods = k_post, .pattern = {"cancelAction", k_capture, "feedback"},
     .segments = 3, .body = BodyKind::json},
    {.route = Route::ddi_artifact_list, .methods = k_get_head,
     .pattern = {"softwaremodules", k_capture, "artifacts"}, .segments = 3},
    {.route = Route::ddi_artifact, .methods = k_get_head,
     .pattern = {"softwaremodules", k_capture, "artifacts", k_capture}, .segments = 4, .lane = Lane::transfer},
};

// After /api/v1.
constexpr Row k_management_rows[] = {
    {.route = Route::api_vehicles, .methods = k_get, .pattern = {"vehicles"}, .segments = 1},
    {.route = Route::api_vehicle_add, .methods = k_post, .pattern = {"vehicles"}, .segments = 1,
     .body = BodyKind::json},
    {.route = Route::api_vehicle_cancel, .methods = k_post, .pattern = {"vehicles", k_capture, "cancel"},
     .segments = 3, .body = BodyKind::json},
    {.route = Route::api_actions, .methods = k_get, .pattern = {"actions"}, .segments = 1},
    {.route = Route::api_modules, .methods = k_get, .pattern = {"modules"}, .segments = 1},
    {.route = Route::api_module_upload, .methods = k_post, .pattern = {"modules"}, .segments = 1,
     .body = BodyKind::upload, .lane = Lane::transfer},
    {.route = Route::api_statement, .methods = k_post, .pattern = {"modules", "statement"}, .segments = 2,
     .body = BodyKind::statement},
    {.route = Route::api_assignments, .methods = k_post, .pattern = {"assignments"}, .segments = 1,
     .body = BodyKind::json},
};

constexpr std::size_t k_ddi_prefix = 4;         // {tenant} controller v1 {controllerId}
constexpr std::size_t k_management_prefix = 2;  // api v1

// The non-empty segments of `path` ("//a/b/" is a, b), at most `limit` of them (one more tells
// that there were too many).
std::size_t split(std::string_view path, std::string_view* out, std::size_t limit) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos < path.size() && n < limit) {
    std::size_t next = path.find('/', pos);
    if (next == std::string_view::npos) next = path.size();
    if (next > pos) out[n++] = path.substr(pos, next - pos);
    pos = next + 1;
  }
  return n;
}

template <std::size_t N>
void match_rows(const Row (&rows)[N], std::uint8_t method, const std::string_view* seg, std::size_t count,
                RouteMatch& out) {
  bool path_known = false;
  for (const Row& row : rows) {
    if (row.segments != count) continue;
    std::size_t captured = 0;
    std::array<std::string_view, k_max_route_captures> captures{};
    bool same = true;
    for (std::size_t i = 0; same && i < count; ++i) {
      if (row.pattern[i] == k_capture) {
        captures[captured++] = seg[i];
      } else {
        same = row.pattern[i] == seg[i];
      }
    }
    if (!same) continue;
    path_known = true;
    if ((row.methods & method) == 0) continue;
    out.route = row.route;
    out.body = row.body;
    out.lane = row.lane;
    out.captures = captures;
    out.method_allowed = true;
    return;
  }
  out.method_allowed = !path_known;
}

}  // namespace

RouteMatch match_route(std::string_view method, std::string_view path) {
  RouteMatch out;
  out.body = BodyKind::json;
  std::array<std::string_view, k_ddi_prefix + k_max_segments + 1> seg{};
  std::size_t count = split(path, seg.data(), seg.size());
  std::uint8_t bit = method_bit(method);
  if (count >= k_ddi_prefix && seg[1] == "controller" && seg[2] == "v1") {
    out.api = Api::ddi;
    out.tenant = seg[0];
    out.vehicle = seg[3];
    if (count - k_ddi_prefix <= k_max_segments) {
      match_rows(k_ddi_rows, bit, seg.data() + k_ddi_prefix, count - k_ddi_prefix, out);
    }
  } else if (count >= k_management_prefix && seg[0] == "api" && seg[1] == "v1") {
    out.api = Api::management;
    if (count - k_management_prefix <= k_max_segments) {
      match_rows(k_management_rows, bit, seg.data() + k_management_prefix, count - k_management_prefix, out);
    }
  }
  return out;
}

Lane lane_of(std::string_view method, std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  return match_route(method, path).lane;
}

}  // namespace ecuup::server
