#pragma once
// The seam between UDS and a transport: one diagnostic message in, one out. ISO-TP over a frame
// bus and DoIP both implement it; unit tests of UDS use a scripted fake.
#include <chrono>
#include <cstddef>
#include <string>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

class DiagLink {
 public:
  virtual ~DiagLink() = default;
  virtual Result<void> send(ByteView message) = 0;
  // Next complete message from the ECU; Errc::timeout when none arrived within `timeout`.
  virtual Result<Bytes> receive(std::chrono::milliseconds timeout) = 0;
  // Largest message this link can carry to the ECU (sizes UDS TransferData blocks).
  virtual std::size_t max_message_size() const = 0;
  virtual std::string describe() const = 0;
  // false for a stand-in for a link that could not be opened: nothing sent over it reaches an ECU.
  virtual bool can_reach_ecu() const { return true; }
};

}  // namespace ecuup
