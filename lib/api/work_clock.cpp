#include "api/work_clock.hpp"

#include "api/api.hpp"

namespace ecuup::api {

namespace {

std::atomic<std::int64_t> g_work_ns{0};

class TimedDriver final : public EcuDriver {
 public:
  explicit TimedDriver(std::unique_ptr<EcuDriver> inner) : m_inner(std::move(inner)) {}
  Result<EcuIdentity> read_identity() override {
    WorkTimer t;
    return m_inner->read_identity();
  }
  Result<void> flash(const std::filesystem::path& image, Progress& progress) override {
    WorkTimer t;
    return m_inner->flash(image, progress);
  }
  Result<std::vector<PreconditionOutcome>> check_preconditions(const std::vector<Precondition>& checks,
                                                               Progress& progress) override {
    WorkTimer t;
    return m_inner->check_preconditions(checks, progress);
  }
  bool touched() const override { return m_inner->touched(); }
  void set_recovery(bool on) override { m_inner->set_recovery(on); }
  bool retries_in_recovery() const override { return m_inner->retries_in_recovery(); }
  void set_image_version(const std::string& version) override { m_inner->set_image_version(version); }
  bool can_read_out() const override { return m_inner->can_read_out(); }
  Result<std::vector<std::string>> describe_flash(const std::filesystem::path& image) override {
    return m_inner->describe_flash(image);
  }
  Result<void> read_out(const std::filesystem::path& dest, Progress& progress) override {
    WorkTimer t;
    return m_inner->read_out(dest, progress);
  }
  std::string read_out_layout() const override { return m_inner->read_out_layout(); }
  Result<void> set_image_layout(const std::string& layout) override { return m_inner->set_image_layout(layout); }

 private:
  std::unique_ptr<EcuDriver> m_inner;
};

}  // namespace

std::chrono::nanoseconds work_clock_now() {
  return std::chrono::nanoseconds(g_work_ns.load(std::memory_order_relaxed));
}

WorkTimer::~WorkTimer() {
  const auto spent = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - m_start);
  g_work_ns.fetch_add(spent.count(), std::memory_order_relaxed);
}

std::unique_ptr<EcuDriver> timed_driver(std::unique_ptr<EcuDriver> driver) {
  return std::make_unique<TimedDriver>(std::move(driver));
}

}  // namespace ecuup::api
