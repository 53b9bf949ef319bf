#include "util/cancel.hpp"

namespace ecuup {

namespace {
std::atomic<bool> g_interrupted{false};
thread_local int t_shield_depth = 0;
}

void request_interrupt() { g_interrupted.store(true); }
bool interrupt_requested() { return t_shield_depth == 0 && g_interrupted.load(); }
void clear_interrupt() { g_interrupted.store(false); }

InterruptShield::InterruptShield() { ++t_shield_depth; }
InterruptShield::~InterruptShield() { --t_shield_depth; }

}  // namespace ecuup
