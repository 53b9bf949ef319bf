// libFuzzer target: Motorola S-record text through the strict parser (fuzz/README.md).
#include "fuzz_image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ecuup::fuzz::parse_text(data, size, ecuup::ImageFormat::srec);
}
