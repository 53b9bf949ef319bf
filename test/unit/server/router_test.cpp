#include <catch2/catch.hpp>

#include "server/router.hpp"

using namespace ecuup::server;

TEST_CASE("router: DDI resources by table", "[server][router]") {
  auto base = match_route("GET", "/DEFAULT/controller/v1/car-1");
  CHECK(base.api == Api::ddi);
  CHECK(base.route == Route::ddi_base);
  CHECK(base.tenant == "DEFAULT");
  CHECK(base.vehicle == "car-1");
  CHECK(base.lane == Lane::quick);
  CHECK(match_route("HEAD", "/DEFAULT/controller/v1/car-1").route == Route::ddi_base);

  auto deployment = match_route("GET", "/t/controller/v1/car/deploymentBase/17");
  CHECK(deployment.route == Route::ddi_deployment_base);
  CHECK(deployment.captures[0] == "17");
  CHECK(match_route("GET", "/t/controller/v1/car/installedBase/3").route == Route::ddi_installed_base);
  CHECK(match_route("GET", "/t/controller/v1/car/cancelAction/3").route == Route::ddi_cancel_action);

  auto feedback = match_route("POST", "/t/controller/v1/car/deploymentBase/17/feedback");
  CHECK(feedback.route == Route::ddi_deployment_feedback);
  CHECK(feedback.body == BodyKind::json);
  CHECK(match_route("POST", "/t/controller/v1/car/cancelAction/4/feedback").route == Route::ddi_cancel_feedback);
  CHECK(match_route("PUT", "/t/controller/v1/car/configData").route == Route::ddi_config_data);

  CHECK(match_route("GET", "/t/controller/v1/car/softwaremodules/5/artifacts").route == Route::ddi_artifact_list);
  auto artifact = match_route("GET", "/t/controller/v1/car/softwaremodules/5/artifacts/bms.bin");
  CHECK(artifact.route == Route::ddi_artifact);
  CHECK(artifact.captures[0] == "5");
  CHECK(artifact.captures[1] == "bms.bin");
  CHECK(artifact.lane == Lane::transfer);
}

TEST_CASE("router: empty segments are ignored, as before", "[server][router]") {
  auto m = match_route("GET", "//DEFAULT//controller/v1/car/");
  CHECK(m.route == Route::ddi_base);
  CHECK(m.vehicle == "car");
}

TEST_CASE("router: a known path with another method is not allowed", "[server][router]") {
  auto m = match_route("POST", "/t/controller/v1/car/configData");
  CHECK(m.api == Api::ddi);
  CHECK(m.route == Route::none);
  CHECK_FALSE(m.method_allowed);
  auto put_base = match_route("PUT", "/t/controller/v1/car");
  CHECK(put_base.route == Route::none);
  CHECK_FALSE(put_base.method_allowed);
  // Management answers GET only, not HEAD.
  CHECK_FALSE(match_route("HEAD", "/api/v1/vehicles").method_allowed);
}

TEST_CASE("router: unknown paths under an API name no route but keep the API", "[server][router]") {
  auto ddi = match_route("GET", "/t/controller/v1/car/nothing");
  CHECK(ddi.api == Api::ddi);
  CHECK(ddi.route == Route::none);
  CHECK(ddi.method_allowed);
  CHECK(match_route("GET", "/t/controller/v1/car/a/b/c/d/e/f/g/h/i/j/k").route == Route::none);
  CHECK(match_route("GET", "/api/v1/nothing").api == Api::management);
  auto none = match_route("GET", "/favicon.ico");
  CHECK(none.api == Api::none);
  CHECK(none.route == Route::none);
  CHECK(match_route("GET", "/t/controller/v2/car").api == Api::none);
  CHECK(match_route("GET", "/").api == Api::none);
}

TEST_CASE("router: management resources, their bodies and lanes", "[server][router]") {
  CHECK(match_route("GET", "/api/v1/vehicles").route == Route::api_vehicles);
  CHECK(match_route("POST", "/api/v1/vehicles").route == Route::api_vehicle_add);
  auto cancel = match_route("POST", "/api/v1/vehicles/car-9/cancel");
  CHECK(cancel.route == Route::api_vehicle_cancel);
  CHECK(cancel.captures[0] == "car-9");
  CHECK(match_route("GET", "/api/v1/actions").route == Route::api_actions);
  CHECK(match_route("GET", "/api/v1/modules").route == Route::api_modules);
  auto upload = match_route("POST", "/api/v1/modules");
  CHECK(upload.route == Route::api_module_upload);
  CHECK(upload.body == BodyKind::upload);
  CHECK(upload.lane == Lane::transfer);
  auto statement = match_route("POST", "/api/v1/modules/statement");
  CHECK(statement.route == Route::api_statement);
  CHECK(statement.body == BodyKind::statement);
  CHECK(match_route("POST", "/api/v1/assignments").route == Route::api_assignments);
  // Unknown resources take the small JSON body limit.
  CHECK(match_route("POST", "/api/v1/nothing").body == BodyKind::json);
}

TEST_CASE("router: the lane from a raw request target", "[server][router]") {
  CHECK(lane_of("GET", "/t/controller/v1/car/softwaremodules/5/artifacts/a.bin?x=1") == Lane::transfer);
  CHECK(lane_of("HEAD", "/t/controller/v1/car/softwaremodules/5/artifacts/a%20b.bin") == Lane::transfer);
  CHECK(lane_of("GET", "/t/controller/v1/car?artifacts") == Lane::quick);
  CHECK(lane_of("POST", "/api/v1/modules?part=bms&version=1") == Lane::transfer);
  CHECK(lane_of("GET", "/api/v1/modules") == Lane::quick);
  CHECK(lane_of("GET", "") == Lane::quick);
}
