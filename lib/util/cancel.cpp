#include "util/cancel.hpp"

namespace ecuup {

namespace {
std::atomic<bool> g_interrupted{false};
}

void request_interrupt() { g_interrupted.store(true); }
bool interrupt_requested() { return g_interrupted.load(); }
void clear_interrupt() { g_interrupted.store(false); }

}  // namespace ecuup
