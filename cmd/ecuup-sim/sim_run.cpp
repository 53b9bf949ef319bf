// `ecuup-sim run`: every ECU's model behind the DoIP server and/or an ISO-TP link on the CAN bus.
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include "sim_server.hpp"

// The transports come from lib/transport; a build without one refuses configs that need it.
#if __has_include("transport/doip_server.hpp")
#include "transport/doip_server.hpp"
#define ECUUP_SIM_HAVE_DOIP 1
#endif
#if __has_include("transport/bus.hpp") && __has_include("transport/bus_mux.hpp") && __has_include("transport/isotp.hpp")
#include "transport/bus.hpp"
#include "transport/bus_mux.hpp"
#include "transport/isotp.hpp"
#define ECUUP_SIM_HAVE_CAN 1
#endif

namespace ecuup::sim {

namespace {

constexpr std::chrono::milliseconds k_poll{200};
constexpr std::uint32_t k_doip_address_bytes = 4;  // DoIP's max data size counts SA + TA
constexpr std::uint8_t k_can_fd_data_length = 64;

#ifdef ECUUP_SIM_HAVE_CAN
// One ECU on the CAN bus: ISO-TP messages in, model, ISO-TP messages out, until `stop`.
void serve_can(EcuModel& ecu, DiagLink& link, const std::atomic<bool>& stop) {
  ReplySink sink{[&](ByteView bytes) {
                   if (auto r = link.send(bytes); !r)
                     std::fprintf(stderr, "ecuup-sim: %s: send: %s\n", ecu.config().name.c_str(), r.error().message.c_str());
                 },
                 {}};
  while (!stop.load()) {
    auto message = link.receive(k_poll);
    if (!message) {
      if (message.error().code != Errc::timeout)
        std::fprintf(stderr, "ecuup-sim: %s: receive: %s\n", ecu.config().name.c_str(), message.error().message.c_str());
      continue;
    }
    if (message->empty()) continue;
    serve_request(ecu, *message, sink);
  }
}
#endif

}  // namespace

Result<void> run_simulator(const RunOptions& options) {
  ECUUP_ASSIGN(auto config, load_with_faults(options));

  std::vector<std::unique_ptr<EcuModel>> ecus;
  for (const auto& ecu : config.ecus) {
    ECUUP_ASSIGN(auto model, EcuModel::open(ecu, options.state_dir, {}));
    ecus.push_back(std::move(model));
  }
  bool need_doip = false, need_can = false;
  for (const auto& ecu : config.ecus) {
    need_doip = need_doip || ecu.doip_address.has_value();
    need_can = need_can || ecu.can.has_value();
  }
  if (need_can && config.bus.empty())
    return make_error(Errc::config, options.config_path.string() + ": ECUs on CAN need 'bus:' (or --bus)");

  // SIGINT/SIGTERM are taken with sigwait below; every thread started from here inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

#ifdef ECUUP_SIM_HAVE_CAN
  // Declared before the threads that use them, so they outlive the join.
  std::shared_ptr<FrameBus> bus;
  std::unique_ptr<BusMux> mux;
  std::vector<std::unique_ptr<DiagLink>> links;
#endif
  std::atomic<bool> stop{false};
  // Stops and joins the CAN threads on every way out, errors included (a joinable thread must not die).
  struct Threads {
    std::atomic<bool>& stop;
    std::vector<std::thread> list;
    ~Threads() {
      stop = true;
      for (auto& t : list)
        if (t.joinable()) t.join();
    }
  } threads{stop, {}};
  std::string ready = "ready";

#ifdef ECUUP_SIM_HAVE_DOIP
  std::unique_ptr<DoipServer> doip;
  if (need_doip) {
    std::map<std::uint16_t, EcuModel*> by_address;
    DoipServerOptions doip_options;
    doip_options.bind_address = config.doip_bind;
    doip_options.port = config.doip_port;
    std::uint32_t largest_block = 0;
    for (auto& ecu : ecus) {
      if (!ecu->config().doip_address) continue;
      by_address[*ecu->config().doip_address] = ecu.get();
      doip_options.ecu_addresses.push_back(*ecu->config().doip_address);
      largest_block = std::max(largest_block, effective_max_block_length(ecu->config()));
    }
    doip_options.max_data_size =
        config.doip_max_data_size ? config.doip_max_data_size : largest_block + k_doip_address_bytes;
    doip = std::make_unique<DoipServer>(doip_options, [by_address](std::uint16_t address, ByteView request,
                                                                   DoipResponder& out) {
      auto it = by_address.find(address);
      if (it == by_address.end() || request.empty()) return;
      ReplySink sink{[&](ByteView bytes) { (void)out.send(bytes); }, [&] { out.drop_connection(); }};
      serve_request(*it->second, request, sink);
    });
    if (auto r = doip->start(); !r) return std::move(r).error().context("DoIP server");
    ready += " doip_port=" + std::to_string(doip->port());
  }
#else
  if (need_doip) return make_error(Errc::unsupported, "this ecuup-sim was built without the DoIP server");
#endif

#ifdef ECUUP_SIM_HAVE_CAN
  if (need_can) {
    BusOptions bus_options;
    bus_options.trace_file = options.trace_file;
    bus_options.bitrate = options.bitrate;
    auto opened = open_frame_bus(config.bus, bus_options);
    if (!opened) return std::move(opened).error().context("CAN bus " + config.bus);
    bus = *opened;
    mux = std::make_unique<BusMux>(bus);
    for (auto& ecu : ecus) {
      const auto& can = ecu->config().can;
      if (!can) continue;
      IsoTpOptions iso;
      iso.tx_id = can->response_id;
      iso.rx_id = can->request_id;
      iso.extended_ids = can->extended;
      iso.fd = can->fd;
      if (can->fd) iso.tx_dl = k_can_fd_data_length;
      auto link = make_isotp_link(mux->subscribe(can->request_id, can->extended), iso);
      if (!link) return std::move(link).error().context("ecu " + ecu->config().name + ": ISO-TP");
      links.push_back(std::move(*link));
      threads.list.emplace_back(serve_can, std::ref(*ecu), std::ref(*links.back()), std::cref(stop));
    }
    ready += " bus=" + config.bus;
  }
#else
  if (need_can) return make_error(Errc::unsupported, "this ecuup-sim was built without the CAN transports");
#endif

  std::cout << ready << std::endl;
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "ecuup-sim: %s, stopping\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM");

  stop = true;
#ifdef ECUUP_SIM_HAVE_DOIP
  if (doip) doip->stop();
#endif
  return success();
}

}  // namespace ecuup::sim
