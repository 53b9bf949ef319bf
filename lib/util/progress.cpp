#include "util/progress.hpp"

#include <mutex>

namespace ecuup {

namespace {

// The default lane: phases of concurrent jobs cannot share one renderer's state, notes can.
class NotesOnlyLane final : public Progress {
 public:
  explicit NotesOnlyLane(Progress& owner) : m_owner(owner) {}
  void begin(const std::string&, const std::string&, std::uint64_t) override {}
  void advance(std::uint64_t) override {}
  void end(bool) override {}
  void note(const std::string& message) override {
    static std::mutex mutex;
    std::lock_guard<std::mutex> lock(mutex);
    m_owner.note(message);
  }

 private:
  Progress& m_owner;
};

}  // namespace

std::unique_ptr<Progress> Progress::concurrent_lane() { return std::make_unique<NotesOnlyLane>(*this); }

Progress& null_progress() {
  static NullProgress p;
  return p;
}

}  // namespace ecuup
