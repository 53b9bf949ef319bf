// `ecuup-sim run`: every ECU's model behind a DoIP entity and/or an ISO-TP link on the CAN bus,
// with the control socket through which a harness cuts their power.
#include <pthread.h>
#include <sys/prctl.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "sim/control.hpp"
#include "sim/sim_server.hpp"
#include "util/fs.hpp"

// The transports come from lib/transport; a build without one refuses configs that need it.
#if __has_include("transport/doip_server.hpp")
#include "transport/doip.hpp"
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

using std::chrono::milliseconds;

// How often a transport looks at its ECUs' power: a power cut or a boot shows within this.
constexpr milliseconds k_network_tick{10};
constexpr milliseconds k_retry_open{200};
constexpr unsigned long k_timer_slack_ns = 1;  // PR_SET_TIMERSLACK: 0 would mean "the default"
constexpr std::uint32_t k_doip_address_bytes = 4;  // DoIP's max data size counts SA + TA
constexpr std::uint8_t k_can_fd_data_length = 64;
constexpr std::string_view k_all_ecus = "*";

#ifdef ECUUP_SIM_HAVE_CAN
constexpr std::uint8_t k_pci_single_frame = 0x0;
constexpr std::uint8_t k_pci_first_frame = 0x1;

// The ECU's end of the bus, under its ISO-TP link. ISO 15765-2 9.8.3: a sender waiting for flow
// control that receives a SingleFrame or FirstFrame takes it as the start of a new reception; the
// tester gave up on the answer (it died, or timed out). The link ignores such frames while it
// waits, which would lose a new tester's first requests for N_Bs; this view ends the send instead
// and hands the frame to the link's next receive.
class EcuBusEnd final : public FrameBus {
 public:
  explicit EcuBusEnd(std::shared_ptr<FrameBus> bus) : m_bus(std::move(bus)) {}

  void set_sending(bool sending) { m_sending = sending; }
  void forget() { m_held.reset(); }

  Result<void> send(const CanFrame& frame) override { return m_bus->send(frame); }
  Result<CanFrame> receive(std::chrono::microseconds timeout) override {
    if (m_held) {
      CanFrame frame = *m_held;
      m_held.reset();
      return frame;
    }
    auto frame = m_bus->receive(timeout);
    if (frame && m_sending && frame->len > 0) {
      const std::uint8_t pci_type = frame->data[0] >> 4;
      if (pci_type == k_pci_single_frame || pci_type == k_pci_first_frame) {
        m_held = *frame;
        return make_error(Errc::protocol, "the tester sent a new request instead of flow control");
      }
    }
    return frame;
  }
  std::string name() const override { return m_bus->name(); }

 private:
  std::shared_ptr<FrameBus> m_bus;  // a BusMux view: only the frames the ECU receives
  bool m_sending = false;
  std::optional<CanFrame> m_held;
};

// One ECU on the CAN bus: ISO-TP messages in, model, ISO-TP messages out, until `stop`. While the
// ECU is off the network its node is off the bus: no ISO-TP link (so no flow control answers a
// first frame), and the frames sent to it meanwhile are read and lost.
void serve_can(EcuModel& ecu, std::shared_ptr<FrameBus> view, const IsoTpOptions& iso, const std::atomic<bool>& stop) {
  const std::string& name = ecu.config().name;
  auto end = std::make_shared<EcuBusEnd>(std::move(view));
  std::unique_ptr<DiagLink> link;
  ReplySink sink{[&](ByteView bytes) {
                   end->set_sending(true);
                   auto r = link->send(bytes);
                   end->set_sending(false);
                   if (!r) std::fprintf(stderr, "ecuup-sim: %s: send: %s\n", name.c_str(), r.error().message.c_str());
                 },
                 {}};
  while (!stop.load()) {
    if (!ecu.on_network(Clock::now())) {
      link.reset();
      end->forget();
      (void)end->receive(k_network_tick);
      continue;
    }
    if (!link) {
      auto opened = make_isotp_link(end, iso);
      if (!opened) {
        std::fprintf(stderr, "ecuup-sim: %s: ISO-TP: %s\n", name.c_str(), opened.error().message.c_str());
        std::this_thread::sleep_for(k_retry_open);
        continue;
      }
      link = std::move(*opened);
    }
    auto message = link->receive(k_network_tick);
    if (!message) {
      if (message.error().code != Errc::timeout)
        std::fprintf(stderr, "ecuup-sim: %s: receive: %s\n", name.c_str(), message.error().message.c_str());
      continue;
    }
    if (message->empty()) continue;
    serve_request(ecu, *message, sink);
  }
}
#endif

#ifdef ECUUP_SIM_HAVE_DOIP
// One DoIP entity: a TCP port and the ECUs behind it. It is up while any of them is on the
// network; when all are off (power cut, booting) its listener and connections are closed, so
// testers meet "connection refused", and it reopens on the same port when one is back.
class DoipEntity {
 public:
  DoipEntity(DoipServerOptions options, std::map<std::uint16_t, EcuModel*> ecus)
      : m_options(std::move(options)), m_ecus(std::move(ecus)) {}

  Result<void> open() {
    auto ecus = m_ecus;
    auto server = std::make_unique<DoipServer>(m_options, [ecus](std::uint16_t address, ByteView request,
                                                                 DoipResponder& out) {
      auto it = ecus.find(address);
      if (it == ecus.end() || request.empty()) return;
      ReplySink sink{[&](ByteView bytes) { (void)out.send(bytes); }, [&] { out.drop_connection(); }};
      serve_request(*it->second, request, sink);
    });
    ECUUP_TRY(server->start());
    m_options.port = server->port();  // a reopened entity keeps its port
    m_server = std::move(server);
    m_open_failed = false;
    return success();
  }

  // Opens or closes the listener as the ECUs' power says.
  void follow_power(Clock::time_point now) {
    bool wanted = false;
    for (auto& [address, ecu] : m_ecus) wanted = wanted || ecu->on_network(now);
    if (!wanted && m_server) {
      m_server->stop();
      m_server.reset();
    } else if (wanted && !m_server) {
      if (auto r = open(); !r && !m_open_failed) {
        std::fprintf(stderr, "ecuup-sim: DoIP port %u: %s (retrying)\n", static_cast<unsigned>(m_options.port),
                     r.error().message.c_str());
        m_open_failed = true;
      }
    }
  }

  void close() {
    if (m_server) m_server->stop();
    m_server.reset();
  }
  std::uint16_t port() const { return m_options.port; }
  const std::map<std::uint16_t, EcuModel*>& ecus() const { return m_ecus; }

 private:
  DoipServerOptions m_options;
  std::map<std::uint16_t, EcuModel*> m_ecus;
  std::unique_ptr<DoipServer> m_server;
  bool m_open_failed = false;
};
#endif

// Counts the passes of the thread that opens and closes the DoIP listeners, so that power-cut
// answers only once its ECUs are off the network.
struct NetworkPasses {
  std::atomic<std::uint64_t> count{0};
  std::atomic<bool> running{false};

  void wait_for_next() const {
    if (!running.load()) return;
    // Two more passes: the next one may have begun before the cut.
    const std::uint64_t target = count.load() + 2;
    const auto deadline = Clock::now() + milliseconds(1000);
    while (count.load() < target && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(1));
  }
};

// The control socket's requests (see control.hpp).
std::string control_answer(std::string_view request, const std::vector<std::unique_ptr<EcuModel>>& ecus,
                           const NetworkPasses& passes) {
  std::istringstream in{std::string(request)};
  std::string verb;
  in >> verb;
  const auto now = Clock::now();
  if (verb == "status") {
    std::string out = "ok";
    for (const auto& ecu : ecus) out += " " + ecu->config().name + "=" + power_state_name(ecu->power_state(now));
    return out;
  }
  if (verb == "power-cut") {
    std::string name, ms_text, extra;
    in >> name >> ms_text >> extra;
    auto ms = parse_number(ms_text);
    if (name.empty() || !ms || !extra.empty()) return "error usage: power-cut NAME|* MS";
    std::vector<EcuModel*> targets;
    for (const auto& ecu : ecus)
      if (name == k_all_ecus || ecu->config().name == name) targets.push_back(ecu.get());
    if (targets.empty()) return "error no ECU named '" + name + "'";
    for (auto* ecu : targets) ecu->power_cut(now, milliseconds(*ms));
    passes.wait_for_next();
    return "ok";
  }
  return "error unknown request '" + verb + "' (power-cut, status)";
}

}  // namespace

Result<void> run_simulator(const RunOptions& options) {
  ECUUP_ASSIGN(auto config, load_with_faults(options));
  // Two simulators on one state directory would write the same flash files.
  if (control_request(options.state_dir, "status"))
    return make_error(Errc::usage, options.state_dir.string() + ": another ecuup-sim runs on this state directory");

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

  // The bus-timing model sleeps for a frame's wire time (about 0.1 ms for a CAN FD flow control or
  // a TransferData answer) before the frame goes out. Linux lets such a sleep run 50 us long by
  // default (timer slack), half the modelled time again on every answer: ask for none. Threads
  // started from here inherit it.
  (void)::prctl(PR_SET_TIMERSLACK, k_timer_slack_ns, 0, 0, 0);
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
  std::vector<IsoTpOptions> link_options;
  link_options.reserve(ecus.size());
#endif
#ifdef ECUUP_SIM_HAVE_DOIP
  std::vector<std::unique_ptr<DoipEntity>> entities;
#endif
  std::atomic<bool> stop{false};
  NetworkPasses passes;
  // Stops and joins the threads on every way out, errors included (a joinable thread must not die).
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
  if (need_doip) {
    // ECUs without doip_port (or with the shared port) are one entity; the others one each per port.
    struct Group {
      std::string label;  // empty for the shared entity
      std::uint16_t port = 0;
      std::vector<EcuModel*> members;
    };
    std::vector<Group> groups;
    auto group_for = [&](const EcuConfig& ecu) -> Group& {
      // Port 0 asks for a free port of its own, never the shared one.
      const bool shared = !ecu.doip_port || (*ecu.doip_port != 0 && *ecu.doip_port == config.doip_port);
      for (auto& g : groups)
        if ((shared && g.label.empty()) || (!shared && *ecu.doip_port != 0 && !g.label.empty() && g.port == *ecu.doip_port))
          return g;
      return groups.emplace_back(Group{shared ? "" : ecu.name, shared ? config.doip_port : *ecu.doip_port, {}});
    };
    for (auto& ecu : ecus)
      if (ecu->config().doip_address) group_for(ecu->config()).members.push_back(ecu.get());
    doip::UdpEndpoint announce_to;
    if (config.doip_announce.empty()) {
      // Announcements are broadcast on the network the entity is bound to.
      const bool loopback = config.doip_bind.rfind("127.", 0) == 0;
      announce_to = doip::UdpEndpoint{loopback ? "127.255.255.255" : doip::k_broadcast_address, doip::k_default_port};
    } else if (config.doip_announce != "none") {
      ECUUP_ASSIGN(announce_to, doip::parse_udp_endpoint(config.doip_announce));
    }
    std::uint8_t entity_index = 0;
    for (auto& group : groups) {
      DoipServerOptions doip_options;
      doip_options.bind_address = config.doip_bind;
      doip_options.port = group.port;
      doip_options.announce_to = announce_to;
      doip_options.identity.vin = *doip::parse_vin(config.vin);
      doip_options.identity.eid = *config.doip_eid;
      // Entities of their own (doip_port) are further nodes of the vehicle: EIDs of their own.
      doip_options.identity.eid.back() = static_cast<std::uint8_t>(doip_options.identity.eid.back() + entity_index++);
      doip_options.identity.gid = *config.doip_gid;
      doip_options.identity.sync_status = doip::k_sync_complete;
      doip_options.power_mode = config.doip_power_mode;
      std::map<std::uint16_t, EcuModel*> by_address;
      std::uint32_t largest_block = 0;
      for (auto* ecu : group.members) {
        by_address[*ecu->config().doip_address] = ecu;
        doip_options.ecu_addresses.push_back(*ecu->config().doip_address);
        largest_block = std::max(largest_block, effective_max_block_length(ecu->config()));
      }
      doip_options.max_data_size =
          config.doip_max_data_size ? config.doip_max_data_size : largest_block + k_doip_address_bytes;
      auto entity = std::make_unique<DoipEntity>(doip_options, by_address);
      if (auto r = entity->open(); !r) return std::move(r).error().context("DoIP server");
      if (group.label.empty()) {
        ready += " doip_port=" + std::to_string(entity->port());
      } else {
        for (auto* ecu : group.members) ready += " doip_port." + ecu->config().name + "=" + std::to_string(entity->port());
      }
      entities.push_back(std::move(entity));
    }
    passes.running = true;
    threads.list.emplace_back([&entities, &stop, &passes] {
      while (!stop.load()) {
        for (auto& entity : entities) entity->follow_power(Clock::now());
        ++passes.count;
        std::this_thread::sleep_for(k_network_tick);
      }
    });
  }
#else
  if (need_doip) return make_error(Errc::unsupported, "this ecuup-sim was built without the DoIP server");
#endif

#ifdef ECUUP_SIM_HAVE_CAN
  if (need_can) {
    BusOptions bus_options;
    bus_options.trace_file = options.trace_file;
    bus_options.bitrate = options.bitrate;
    bus_options.data_bitrate = options.data_bitrate;
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
      auto view = mux->subscribe(can->request_id, can->extended);
      // Checked once here so that a bad option is an error at start, not a log line per retry.
      if (auto probe = make_isotp_link(view, iso); !probe)
        return std::move(probe).error().context("ecu " + ecu->config().name + ": ISO-TP");
      threads.list.emplace_back(serve_can, std::ref(*ecu), view, std::cref(link_options.emplace_back(iso)),
                                std::cref(stop));
    }
    ready += " bus=" + config.bus;
  }
#else
  if (need_can) return make_error(Errc::unsupported, "this ecuup-sim was built without the CAN transports");
#endif

  std::unique_ptr<ControlServer> control;
  auto started = ControlServer::start(options.state_dir, [&ecus, &passes](std::string_view request) {
    return control_answer(request, ecus, passes);
  });
  if (started) {
    control = std::move(*started);
  } else if (started.error().code == Errc::unsupported) {
    std::fprintf(stderr, "ecuup-sim: warning: %s; power-cut is not available\n", started.error().message.c_str());
  } else {
    return std::move(started).error();
  }

  ready += " vin=" + config.vin;
  if (!options.ports_file.empty()) {
    // What ecuup's config reads as ${ECUUP_SIM_...}: the DoIP port, ecuup's side of the CAN bus.
    std::string env = "ECUUP_SIM_VIN=" + config.vin + "\n";
    if (const auto at = ready.find(" doip_port="); at != std::string::npos)
      env += "ECUUP_SIM_DOIP_PORT=" + ready.substr(at + 11, ready.find(' ', at + 1) - at - 11) + "\n";
    if (config.bus.rfind("udp:", 0) == 0) {
      const auto colon = config.bus.find(':', 4);
      env += "ECUUP_SIM_CAN_BUS=udp:" + config.bus.substr(colon + 1) + ":" + config.bus.substr(4, colon - 4) + "\n";
    } else if (!config.bus.empty()) {
      env += "ECUUP_SIM_CAN_BUS=" + config.bus + "\n";
    }
    ECUUP_TRY(write_file_atomic(options.ports_file, env).with_context("--ports-file"));
  }
  std::cout << ready << std::endl;
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "ecuup-sim: %s, stopping\n", signal_number == SIGINT ? "SIGINT" : "SIGTERM");

  control.reset();
  stop = true;
  for (auto& t : threads.list)
    if (t.joinable()) t.join();
#ifdef ECUUP_SIM_HAVE_DOIP
  for (auto& entity : entities) entity->close();
#endif
  return success();
}

}  // namespace ecuup::sim
