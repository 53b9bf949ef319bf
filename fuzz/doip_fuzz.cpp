// libFuzzer target: what a DoIP entity (a gateway) sends a tester (transport/doip.hpp). The bytes
// go through the StreamReader twice, whole and cut into pieces, which must split them into the
// same messages; then through the tester's link (routing activation response, entity status,
// diagnostic ACK/NACK and messages, alive checks, generic NACKs) with the entity at the other end
// of a socketpair, as connect_doip() would meet it over TCP.
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "fuzz_support.hpp"
#include "transport/doip.hpp"

using namespace ecuup;
using namespace ecuup::doip;
using ecuup::fuzz::require;

namespace {

struct Seen {
  StreamReader::Event::Kind kind;
  std::uint16_t type = 0;
  Bytes payload;
  GenericNack problem = GenericNack::incorrect_pattern;
  bool operator==(const Seen&) const = default;
};

// Feeds `stream` in pieces of the given sizes (cycled; 0 = all at once) and records every event.
std::vector<Seen> split(ByteView stream, std::uint32_t max_payload, const std::vector<std::uint8_t>& pieces) {
  StreamReader reader(max_payload);
  std::vector<Seen> seen;
  std::size_t fed = 0;
  std::size_t piece = 0;
  std::uint64_t taken = 0;
  while (fed < stream.size()) {
    std::size_t n = stream.size() - fed;
    if (!pieces.empty()) n = std::min<std::size_t>(n, std::size_t{pieces[piece++ % pieces.size()]} + 1);
    auto space = reader.prepare(n);
    require(space.size() >= n);
    std::copy(stream.begin() + static_cast<std::ptrdiff_t>(fed), stream.begin() + static_cast<std::ptrdiff_t>(fed + n),
              space.begin());
    reader.commit(n);
    fed += n;
    for (;;) {
      auto event = reader.next();
      if (event.kind == StreamReader::Event::Kind::need_more) break;
      Seen s{.kind = event.kind};
      if (event.kind == StreamReader::Event::Kind::message) {
        const Header& h = event.message.header;
        require(!check_header(h, max_payload));
        require(event.message.payload.size() == h.payload_length);
        s.type = h.payload_type;
        s.payload.assign(event.message.payload.begin(), event.message.payload.end());
        taken += k_header_size + h.payload_length;
      } else {
        s.problem = event.problem.code;
        if (event.problem.action == NackAction::close_socket) require(reader.broken());
      }
      seen.push_back(std::move(s));
    }
  }
  require(taken <= stream.size());
  return seen;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider input(data, size);
  const std::uint32_t max_payload = input.ConsumeBool() ? 16u * 1024 * 1024 : input.ConsumeIntegralInRange(0, 64);
  DoipOptions options;
  options.tester_address = input.ConsumeBool() ? k_tester_address_min : input.ConsumeIntegral<std::uint16_t>();
  options.ecu_address = input.ConsumeBool() ? 0 : input.ConsumeIntegral<std::uint16_t>();
  options.activation_type = input.ConsumeIntegral<std::uint8_t>();
  options.ack_timeout = std::chrono::milliseconds(1000);
  const auto pieces = input.ConsumeBytes<std::uint8_t>(input.ConsumeIntegralInRange(0, 4));
  const auto operations = input.ConsumeIntegral<std::uint8_t>();
  const auto stream = input.ConsumeRemainingBytes<std::uint8_t>();

  require(split(stream, max_payload, {}) == split(stream, max_payload, pieces));

  // The entity's side: everything it says is in the socket before the tester starts, then EOF.
  int ends[2];
  require(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) == 0);
  std::size_t written = 0;
  while (written < stream.size()) {
    ssize_t n = ::write(ends[1], stream.data() + written, stream.size() - written);
    require(n > 0);
    written += static_cast<std::size_t>(n);
  }
  require(::shutdown(ends[1], SHUT_WR) == 0);
  auto link = connect_doip_socket(ends[0], options);
  fuzz::say("link: %s", link ? "up" : link.error().message.c_str());
  if (link) {
    require((*link)->max_message_size() > 0);
    for (int op = 0; op < 4; ++op) {
      if (operations >> op & 1) {
        const std::uint8_t request[] = {0x22, 0xF1, 0x89};
        auto sent = (*link)->send(request);
        fuzz::say("send: %s", sent ? "acknowledged" : sent.error().message.c_str());
      } else {
        auto message = (*link)->receive(std::chrono::milliseconds(op == 0 ? 0 : 100));
        fuzz::say("receive: %s", message ? to_hex(*message, " ").c_str() : message.error().message.c_str());
        if (message) require(!message->empty());
      }
    }
  } else {
    const Errc code = link.error().code;
    require(code == Errc::network || code == Errc::timeout || code == Errc::protocol);
  }
  ::close(ends[1]);
  return 0;
}
