#pragma once
// Cooperative interruption: the CLI's SIGINT/SIGTERM handler sets the flag; long loops (downloads,
// transfers) poll it and stop at a point where the manifest can record what happened.
#include <atomic>

namespace ecuup {

// The first SIGINT/SIGTERM/SIGHUP asks long work to stop at a safe point (a block boundary, before
// an erase); the flash that was under way is then finished or restored. Work that puts an ECU back
// (a restore) runs inside an InterruptShield: there interrupt_requested() ignores that first
// request, so only a second signal (which the CLI turns into an immediate exit) can stop it.
void request_interrupt();
bool interrupt_requested();
void clear_interrupt();  // tests

class InterruptShield {
 public:
  InterruptShield();
  ~InterruptShield();
  InterruptShield(const InterruptShield&) = delete;
  InterruptShield& operator=(const InterruptShield&) = delete;
};

}  // namespace ecuup
