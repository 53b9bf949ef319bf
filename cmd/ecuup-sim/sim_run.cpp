// `ecuup-sim run`: the transports. Each is compiled in once its library part exists in lib/transport.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "sim_server.hpp"

namespace ecuup::sim {

Result<void> run_simulator(const RunOptions& options) {
  ECUUP_ASSIGN(auto config, load_with_faults(options));
  (void)config;
  return make_error(Errc::unsupported, "run: the DoIP and CAN transports are not in this build yet");
}

}  // namespace ecuup::sim
