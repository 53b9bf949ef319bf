#pragma once
// The image an ECU's driver will program, checked the way that driver reads it, before anything
// touches the ECU: fetch checks every download, flash checks again before its first request.
#include <filesystem>

#include "ecu/driver.hpp"
#include "util/image.hpp"

namespace ecuup {

// How `ecu`'s driver reads an image file: `uds` in its image.format at image.base_address; `image`
// as a raw file whose ecuup image header sits at its version_offset (the ECU checks it); `command`
// (and anything else) as whatever the file is (auto-detected). Errc::config on bad settings.
Result<ImageSpec> image_spec_for(const EcuConfig& ecu, const DriverContext& context);

// check_image_file(image, image_spec_for(ecu, context)): Errc::verify (file:line:col) for an image
// the ECU must not get, Errc::config for bad driver settings, Errc::io / not_found when unreadable.
Result<ImageSummary> check_ecu_image(const EcuConfig& ecu, const DriverContext& context,
                                     const std::filesystem::path& image);

}  // namespace ecuup
