#pragma once
// A CAN frame from an id and its data bytes, for the transport tests.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "transport/frame_bus.hpp"

namespace ecuup::test {

inline CanFrame frame_of(std::uint32_t id, const std::vector<std::uint8_t>& bytes, bool fd = false,
                         bool extended = false, bool brs = false) {
  CanFrame f;
  f.id = id;
  f.extended = extended;
  f.fd = fd;
  f.brs = brs;
  f.len = static_cast<std::uint8_t>(bytes.size());
  std::copy(bytes.begin(), bytes.end(), f.data.begin());
  return f;
}

}  // namespace ecuup::test
