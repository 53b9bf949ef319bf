#include "ecu/uds_link.hpp"

#include <fmt/format.h>

#include "transport/bus.hpp"
#include <map>
#include <mutex>

#include "transport/doip.hpp"
#include "transport/doip_discovery.hpp"
#include "transport/isotp.hpp"
#include "transport/pcapng.hpp"
#include "transport/trace.hpp"

namespace ecuup {

namespace {

constexpr std::string_view k_socketcan_prefix = "socketcan:";

Result<std::unique_ptr<DiagLink>> make_can_link(const UdsCanSettings& can, const std::filesystem::path& trace_file) {
  IsoTpOptions options;
  options.tx_id = can.tx_id;
  options.rx_id = can.rx_id;
  options.extended_ids = can.extended_ids;
  options.addressing = can.normal_fixed ? IsoTpAddressing::normal_fixed : IsoTpAddressing::normal;
  options.source_address = can.source_address;
  options.target_address = can.target_address;
  options.fd = can.fd;
  options.tx_dl = can.tx_dl;
  options.padding = can.padding;
  options.block_size = can.block_size;
  options.st_min = can.st_min;
  options.n_as = can.n_as;
  options.n_bs = can.n_bs;
  options.n_cr = can.n_cr;
  if (can.backend == IsoTpBackend::kernel) {
    if (can.bus.rfind(k_socketcan_prefix, 0) != 0) {
      return make_error(Errc::config, "isotp_backend kernel needs a socketcan:IFACE bus, not '" + can.bus + "'");
    }
    return make_kernel_isotp_link(can.bus.substr(k_socketcan_prefix.size()), options, trace_file);
  }
  BusOptions bus_options;
  bus_options.trace_file = trace_file;
  bus_options.bitrate = can.bitrate;
  bus_options.data_bitrate = can.data_bitrate;
  ECUUP_ASSIGN(auto bus, open_frame_bus(can.bus, bus_options));
  return make_isotp_link(std::move(bus), options);
}

// The gateway of `doip.vin`: found once per process (the driver reconnects per operation).
Result<doip::UdpEndpoint> find_gateway(const UdsDoipSettings& doip) {
  static std::mutex mutex;
  static std::map<std::pair<std::string, std::string>, doip::UdpEndpoint> found;
  std::lock_guard<std::mutex> lock(mutex);
  const auto key = std::make_pair(doip.vin, doip.discovery_address);
  if (auto it = found.find(key); it != found.end()) return it->second;
  doip::DiscoverOptions request;
  if (!doip.discovery_address.empty()) {
    ECUUP_ASSIGN(request.target, doip::parse_udp_endpoint(doip.discovery_address));
  }
  ECUUP_ASSIGN(request.vin, doip::parse_vin(doip.vin));
  request.timeout = std::max(doip.connect_timeout, doip::k_doip_ctrl);
  request.first_only = true;
  const std::string where = fmt::format("DoIP gateway of VIN {} (asked at {})", doip.vin, doip::endpoint_text(request.target));
  ECUUP_ASSIGN(auto entities, doip::discover_entities(request).with_context(where));
  // Like a refused connection: the vehicle may not be up yet, and a later attempt may find it.
  if (entities.empty()) return make_error(Errc::network, where + ": no DoIP entity answered");
  doip::UdpEndpoint gateway{entities.front().address, doip.port_given ? doip.port : entities.front().port};
  found[key] = gateway;
  return gateway;
}

Result<std::unique_ptr<DiagLink>> make_doip_link(const UdsDoipSettings& doip, const std::filesystem::path& trace_file) {
  DoipOptions options;
  options.host = doip.host;
  options.port = doip.port;
  if (!doip.vin.empty()) {
    ECUUP_ASSIGN(auto gateway, find_gateway(doip));
    options.host = gateway.host;
    options.port = gateway.port;
  }
  options.tester_address = doip.tester_address;
  options.ecu_address = doip.ecu_address;
  options.activation_type = doip.activation_type;
  options.connect_timeout = doip.connect_timeout;
  options.ack_timeout = doip.ack_timeout;
  if (!trace_file.empty()) {
    if (pcapng::is_pcapng_path(trace_file)) {
      auto writer = PcapngWriter::shared(trace_file);
      if (!writer) return std::move(writer).error().context("trace");
      options.trace =
          make_doip_pcapng_trace(std::move(writer).value(), fmt::format("doip {}:{}", options.host, options.port));
    } else {
      // A candump log has no record type for TCP; writing DoIP into it would only mislead its readers.
      trace_notice_once(fmt::format("--trace {}: DoIP traffic is not traced (a candump log holds CAN frames only); "
                                    "name the trace FILE.pcapng to trace DoIP",
                                    trace_file.string()));
    }
  }
  return connect_doip(options);
}

}  // namespace

Result<std::unique_ptr<DiagLink>> make_uds_link(const UdsTransportSettings& settings,
                                                const std::filesystem::path& trace_file) {
  if (settings.kind == UdsTransportKind::can) return make_can_link(settings.can, trace_file);
  return make_doip_link(settings.doip, trace_file);
}

}  // namespace ecuup
