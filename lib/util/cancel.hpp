#pragma once
// Cooperative interruption: the CLI's SIGINT/SIGTERM handler sets the flag; long loops (downloads,
// transfers) poll it and stop at a point where the manifest can record what happened.
#include <atomic>

namespace ecuup {

void request_interrupt();
bool interrupt_requested();
void clear_interrupt();  // tests

}  // namespace ecuup
