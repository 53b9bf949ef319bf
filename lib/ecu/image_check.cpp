#include "ecu/image_check.hpp"

#include "container/load.hpp"
#include "ecu/uds_driver.hpp"

namespace ecuup {

namespace {

// The image driver's own limit for version_offset (image_driver.cpp).
constexpr long long k_max_version_offset = 1LL << 40;

}  // namespace

Result<ImageSpec> image_spec_for(const EcuConfig& ecu, const DriverContext& context) {
  ImageSpec spec;
  if (ecu.driver == "uds") {
    ECUUP_ASSIGN(UdsDriverSettings settings, parse_uds_settings(ecu, context));
    spec.format = settings.image_format;
    spec.raw_base_address = settings.image_base_address;
    spec.memory = settings.memory_ranges;
  } else if (ecu.driver == "image") {
    // The driver writes the file as it is into the ECU's memory and accepts it only with a
    // sound header at version_offset.
    ECUUP_ASSIGN(long long offset, yaml_int(ecu.config_file, ecu.settings, "version_offset", 0, 0,
                                            k_max_version_offset));
    spec.format = ImageFormat::raw;
    spec.required_header_offset = static_cast<std::uint64_t>(offset);
  }
  return spec;
}

Result<ImageSummary> check_ecu_image(const EcuConfig& ecu, const DriverContext& context,
                                     const std::filesystem::path& image) {
  ECUUP_ASSIGN(ImageSpec spec, image_spec_for(ecu, context));
  ImageFormat format = spec.format;
  if (format == ImageFormat::auto_detect) {
    ECUUP_ASSIGN(format, detect_image_format(image));
  }
  if (!is_container_format(format)) return check_image_file(image, spec);
  // An OEM container: read and verified completely (CRCs, checksums, XML, data files), and checked
  // against the ECU's memory.
  auto container = load_container(image);
  if (!container) {
    Error e = std::move(container).error();
    if (e.code == Errc::config) e.code = Errc::verify;
    return e;
  }
  ECUUP_TRY(check_container(*container, spec.memory, image.filename().string()));
  ImageSummary summary{format, 0, 0, container->version};
  for (const auto& part : container->parts) {
    summary.segments += part.blocks.size();
    for (const auto& b : part.blocks) summary.data_bytes += b.memory_size ? b.memory_size : b.data.size();
  }
  return summary;
}

}  // namespace ecuup
