#pragma once
// Several ISO-TP endpoints on one bus: each subscriber gets a FrameBus view that receives only
// the frames with its id, while sends go straight to the shared bus. The simulator serves N ECUs
// on one bus this way; functional ids (0x7DF) may have several subscribers, each gets a copy.
#include <cstdint>
#include <memory>

#include "transport/frame_bus.hpp"

namespace ecuup {

class BusMux {
 public:
  explicit BusMux(std::shared_ptr<FrameBus> bus);
  ~BusMux();
  BusMux(const BusMux&) = delete;
  BusMux& operator=(const BusMux&) = delete;

  // A view: receive() yields only frames with that id; send() goes to the bus. Views may be used
  // from different threads (one thread per view) and stay valid after the mux is gone. Frames
  // arriving before a view is read are queued for it; a view's destruction unsubscribes it.
  std::shared_ptr<FrameBus> subscribe(std::uint32_t rx_id, bool extended);

  // Frames that arrived for no subscriber and were dropped.
  std::uint64_t unclaimed_frames() const;

  struct Shared;

 private:
  std::shared_ptr<Shared> m_shared;
};

}  // namespace ecuup
