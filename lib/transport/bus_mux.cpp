#include "transport/bus_mux.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <vector>

namespace ecuup {

namespace {
constexpr std::size_t k_view_queue_limit = 1 << 14;  // frames queued for an unread view; oldest dropped
}

struct BusMuxSubscriber {
  std::uint32_t id = 0;
  bool extended = false;
  std::deque<CanFrame> frames;
};

// One view at a time reads the bus (the "reader") and hands frames for others to their queues;
// the rest wait on the condition variable for a frame of their own or for the reader role.
struct BusMux::Shared {
  std::shared_ptr<FrameBus> bus;
  mutable std::mutex mutex;
  std::condition_variable changed;
  bool reading = false;
  std::vector<BusMuxSubscriber*> subscribers;
  std::uint64_t unclaimed = 0;

  // Queues `frame` for every matching subscriber except `reader`; returns whether `reader` matches.
  bool dispatch(const CanFrame& frame, const BusMuxSubscriber& reader) {
    const bool mine = reader.id == frame.id && reader.extended == frame.extended;
    bool claimed = mine;
    for (BusMuxSubscriber* s : subscribers) {
      if (s == &reader || s->id != frame.id || s->extended != frame.extended) continue;
      if (s->frames.size() >= k_view_queue_limit) s->frames.pop_front();
      s->frames.push_back(frame);
      claimed = true;
    }
    if (!claimed) ++unclaimed;
    return mine;
  }

  Result<CanFrame> receive_for(BusMuxSubscriber& me, std::chrono::microseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock lock(mutex);
    for (;;) {
      if (!me.frames.empty()) {
        CanFrame frame = me.frames.front();
        me.frames.pop_front();
        return frame;
      }
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return make_error(Errc::timeout, bus->name() + ": no frame received");
      if (reading) {
        changed.wait_until(lock, deadline);
        continue;
      }
      reading = true;
      lock.unlock();
      auto frame = bus->receive(std::chrono::duration_cast<std::chrono::microseconds>(deadline - now));
      lock.lock();
      reading = false;
      changed.notify_all();
      if (frame) {
        // Our own queue was empty when we started reading, so handing the frame over directly
        // keeps the order and spares the queue.
        if (dispatch(*frame, me)) return frame;
      } else if (frame.error().code != Errc::timeout) {
        return std::move(frame).error();
      }
    }
  }
};

namespace {

class MuxView final : public FrameBus {
 public:
  MuxView(std::shared_ptr<BusMux::Shared> shared, std::uint32_t id, bool extended) : m_shared(std::move(shared)) {
    m_subscriber.id = id;
    m_subscriber.extended = extended;
    std::lock_guard lock(m_shared->mutex);
    m_shared->subscribers.push_back(&m_subscriber);
  }
  ~MuxView() override {
    std::lock_guard lock(m_shared->mutex);
    auto& subs = m_shared->subscribers;
    subs.erase(std::remove(subs.begin(), subs.end(), &m_subscriber), subs.end());
  }
  MuxView(const MuxView&) = delete;
  MuxView& operator=(const MuxView&) = delete;

  Result<void> send(const CanFrame& frame) override { return m_shared->bus->send(frame); }
  Result<CanFrame> receive(std::chrono::microseconds timeout) override {
    return m_shared->receive_for(m_subscriber, timeout);
  }
  std::string name() const override { return m_shared->bus->name(); }

 private:
  std::shared_ptr<BusMux::Shared> m_shared;
  BusMuxSubscriber m_subscriber;
};

}  // namespace

BusMux::BusMux(std::shared_ptr<FrameBus> bus) : m_shared(std::make_shared<Shared>()) { m_shared->bus = std::move(bus); }

BusMux::~BusMux() = default;

std::shared_ptr<FrameBus> BusMux::subscribe(std::uint32_t rx_id, bool extended) {
  return std::make_shared<MuxView>(m_shared, rx_id, extended);
}

std::uint64_t BusMux::unclaimed_frames() const {
  std::lock_guard lock(m_shared->mutex);
  return m_shared->unclaimed;
}

}  // namespace ecuup
