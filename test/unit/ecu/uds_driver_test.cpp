#include <catch2/catch.hpp>

#include <fstream>
#include <mutex>
#include <optional>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ecu/uds_driver.hpp"
#include "support/temp_dir.hpp"
#include "transport/doip_server.hpp"
#include "uds/fake_ecu.hpp"
#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using ecuup::test::FakeEcu;
using ecuup::test::TempDir;

namespace {

EcuConfig ecu_config(const std::string& uds_yaml) {
  EcuConfig ecu;
  ecu.name = "bms";
  ecu.driver = "uds";
  ecu.config_file = "ecuup.yaml";
  ecu.settings = YAML::Load(uds_yaml);
  return ecu;
}

Result<UdsDriverSettings> parse(const std::string& yaml) {
  DriverContext context;
  context.base_dir = "/etc/ecuup";
  return parse_uds_settings(ecu_config(yaml), context);
}

// Forwards to a FakeEcu that outlives the links the driver opens and closes.
class LinkTo : public DiagLink {
 public:
  explicit LinkTo(FakeEcu& ecu) : m_ecu(ecu) {}
  Result<void> send(ByteView m) override { return m_ecu.send(m); }
  Result<Bytes> receive(std::chrono::milliseconds t) override { return m_ecu.receive(t); }
  std::size_t max_message_size() const override { return m_ecu.max_message_size(); }
  std::string describe() const override { return "fake"; }

 private:
  FakeEcu& m_ecu;
};

// A key_command script implementing FakeEcu's toy algorithm: key = seed ^ 5A, then the level.
std::string write_key_script(const TempDir& dir) {
  auto path = dir / "key.sh";
  std::ofstream(path) << "#!/bin/sh\n"
                         "seed=$1; level=$2; out=''\n"
                         "while [ -n \"$seed\" ]; do\n"
                         "  b=$(printf '%s' \"$seed\" | cut -c1-2); seed=$(printf '%s' \"$seed\" | cut -c3-)\n"
                         "  out=\"$out$(printf '%02x' $(( 0x$b ^ 0x5A )))\"\n"
                         "done\n"
                         "printf '%s%02x\\n' \"$out\" \"$level\"\n";
  ::chmod(path.c_str(), 0755);
  return path.string();
}

UdsDriverSettings fast_settings(const std::string& yaml) {
  auto s = parse(yaml);
  REQUIRE(s);
  s->client.margin = 1ms;
  s->client.conditions_patience = 0ms;
  s->client.time_delay_patience = 0ms;
  s->sequence.reset_delay = 1ms;
  s->sequence.reset_timeout = 200ms;
  return std::move(s).value();
}

// A loopback TCP port nobody listens on (yet): connecting to it is refused.
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

// A DoIP entity in front of a FakeEcu on a real loopback port, which refuses connections until
// the entity starts (an ECU that is still powered off, or booting).
class DoipBench {
 public:
  static constexpr std::uint16_t k_ecu_address = 0x0010;

  DoipBench() : m_port(unused_port()) {}
  ~DoipBench() {
    if (m_starter.joinable()) m_starter.join();
    if (m_server) m_server->stop();
  }

  void start_after(std::chrono::milliseconds delay) {
    m_starter = std::thread([this, delay] {
      std::this_thread::sleep_for(delay);
      DoipServerOptions options;
      options.port = m_port;
      options.ecu_addresses = {k_ecu_address};
      m_server.emplace(options, [this](std::uint16_t, ByteView request, DoipResponder& out) {
        std::lock_guard lock(mutex);
        (void)ecu.send(request);
        while (!ecu.queue.empty()) {
          (void)out.send(ecu.queue.front());
          ecu.queue.pop_front();
        }
      });
      m_started = m_server->start().ok();
    });
  }
  bool started() {
    if (m_starter.joinable()) m_starter.join();
    return m_started;
  }

  std::string yaml() const {
    return "transport: doip\ndoip: {host: 127.0.0.1, port: " + std::to_string(m_port) +
           ", ecu_address: 0x0010, connect_timeout_ms: 500}\n";
  }
  static DiagLinkFactory links(const UdsDriverSettings& settings) {
    UdsTransportSettings transport = settings.transport;
    return [transport]() { return make_uds_link(transport, {}); };
  }

  std::mutex mutex;
  FakeEcu ecu;  // under `mutex` while the entity runs

 private:
  std::uint16_t m_port;
  std::thread m_starter;
  std::optional<DoipServer> m_server;
  bool m_started = false;
};

struct InterruptGuard {
  InterruptGuard() { clear_interrupt(); }
  ~InterruptGuard() { clear_interrupt(); }
};

const char* k_minimal = "transport: can\ncan:\n  bus: udp:7001:7000\n";

}  // namespace

TEST_CASE("uds settings: defaults from a minimal section", "[uds]") {
  auto s = parse(k_minimal);
  REQUIRE(s);
  CHECK(s->transport.kind == UdsTransportKind::can);
  CHECK(s->transport.can.bus == "udp:7001:7000");
  CHECK(s->transport.can.tx_id == 0x7E0);
  CHECK(s->transport.can.rx_id == 0x7E8);
  CHECK(s->transport.can.padding == std::optional<std::uint8_t>(0xCC));
  CHECK(s->sequence.version_did == 0xF189);
  CHECK(s->sequence.security_level == 1);
  CHECK(s->sequence.flash_steps.size() == default_flash_steps().size());
  CHECK(s->sequence.read_regions.empty());
  CHECK(s->image_format == ImageFormat::auto_detect);
  CHECK(s->recovery_window == 60000ms);
}

TEST_CASE("uds settings: every section", "[uds]") {
  auto s = parse(R"(
transport: doip
doip:
  host: 192.0.2.10
  port: 13400
  tester_address: 0x0E80
  ecu_address: 0x1010
  connect_timeout_ms: 500
timeouts: {p2_ms: 100, p2_star_ms: 8000, margin_ms: 20, tester_present_ms: 1500, reset_timeout_ms: 30000, key_ms: 2000,
           recovery_window_ms: 120000}
version_did: 0xF195
version_encoding: hex
identification: {serial: 0xF18C, vin: 0xF190}
security: {level: 0x11, key_library: keys/libkey.so}
sessions: {programming: 0x60}
erase: {routine: 0xFF00, per_segment: false, expect_status: "00"}
check: {routine: 0x0202, option_record: "AA 55"}
memory: {address_bytes: 3, size_bytes: 2}
max_block_length: 0x402
transfer_retries: 0
image: {format: ihex, base_address: 0x8000}
read_out:
  regions: [{address: 0x8000, size: 0x10000}, {address: 0x40000, size: 256}]
  format: ihex
  steps: [programming_session, security_access, upload]
steps: [programming_session, security_access, "31 01 02 03", erase, download, reset]
)");
  REQUIRE(s);
  CHECK(s->transport.kind == UdsTransportKind::doip);
  CHECK(s->transport.doip.host == "192.0.2.10");
  CHECK(s->transport.doip.tester_address == 0x0E80);
  CHECK(s->transport.doip.ecu_address == 0x1010);
  CHECK(s->transport.doip.connect_timeout == 500ms);
  CHECK(s->client.timing.p2 == 100ms);
  CHECK(s->client.timing.p2_star == 8000ms);
  CHECK(s->client.tester_present_interval == 1500ms);
  CHECK(s->sequence.reset_timeout == 30000ms);
  CHECK(s->recovery_window == 120000ms);
  CHECK(s->key_timeout == 2000ms);
  CHECK(s->sequence.version_did == 0xF195);
  CHECK(s->version_encoding == DidEncoding::hex);
  CHECK(s->identification == std::map<std::string, std::uint16_t>{{"serial", 0xF18C}, {"vin", 0xF190}});
  CHECK(s->sequence.security_level == 0x11);
  CHECK(s->key_library == "/etc/ecuup/keys/libkey.so");
  CHECK(s->sequence.programming_session == 0x60);
  CHECK_FALSE(s->sequence.erase_per_segment);
  CHECK(s->sequence.erase_expected_status == Bytes{0x00});
  CHECK(s->sequence.check_routine == 0x0202);
  CHECK(s->sequence.check_option_record == Bytes{0xAA, 0x55});
  CHECK(s->sequence.memory_format.address_bytes == 3);
  CHECK(s->sequence.max_block_length == 0x402);
  CHECK(s->sequence.transfer_retries == 0);
  CHECK(s->image_format == ImageFormat::ihex);
  CHECK(s->image_base_address == 0x8000);
  REQUIRE(s->sequence.read_regions.size() == 2);
  CHECK(s->sequence.read_regions[1].address == 0x40000);
  CHECK(s->sequence.read_regions[1].size == 256);
  CHECK(s->read_out_format == ImageFormat::ihex);
  REQUIRE(s->sequence.flash_steps.size() == 6);
  CHECK(s->sequence.flash_steps[2].kind == UdsStepKind::request);
  CHECK(s->sequence.flash_steps[2].request == Bytes{0x31, 0x01, 0x02, 0x03});
  CHECK(s->sequence.read_steps.size() == 3);
}

TEST_CASE("uds settings: errors name file:line:col", "[uds]") {
  struct Case {
    std::string yaml;
    std::string message;
  };
  auto c = GENERATE(
      Case{"transport: can\ncan:\n  bus: udp:1:2\n  tx_idd: 1\n", "ecuup.yaml:4:3: unknown key 'tx_idd'"},
      Case{"transport: lin\n", "ecuup.yaml:1:12: unknown transport 'lin' (expected can or doip)"},
      Case{"transport: can\n", "needs a 'can:' section"},
      Case{"transport: can\ncan:\n  bus: udp:1:2\n  tx_id: 0x800\n", "ecuup.yaml:4:10: an 11-bit CAN id"},
      Case{"transport: can\ncan: {bus: 'udp:1:2', isotp_backend: bpf}\n", "'isotp_backend' must be user or kernel"},
      Case{"transport: doip\ndoip: {port: 70000}\n", "ecuup.yaml:2:14: 'port' must be between 1 and 65535"},
      Case{std::string(k_minimal) + "security: {level: 2}\n", "ecuup.yaml:4:19: 'level' is the odd"},
      Case{std::string(k_minimal) + "security: {key_command: a, key_library: b}\n", "not both"},
      Case{std::string(k_minimal) + "steps: [extended_session, erase]\n", "'steps' has no 'download' step"},
      Case{std::string(k_minimal) + "steps: [download, flash_it]\n", "ecuup.yaml:4:19: unknown step 'flash_it'"},
      Case{std::string(k_minimal) + "steps: [download, upload]\n", "'upload' belongs in read_out.steps"},
      Case{std::string(k_minimal) + "check: {option_record: 'A'}\n", "'option_record' must be hex bytes"},
      Case{std::string(k_minimal) + "image: {format: elf}\n", "unknown image format 'elf'"},
      Case{std::string(k_minimal) + "read_out: {format: raw, regions: [{address: 0, size: 1}, {address: 8, size: 1}]}\n",
           "a raw read-out file holds one region only"},
      Case{std::string(k_minimal) + "read_out: {regions: [{address: 0}]}\n", "a region needs 'address' and 'size'"},
      Case{std::string(k_minimal) + "max_block_length: 2\n", "at least 3"},
      Case{std::string(k_minimal) + "version_did: F189\n", "'version_did' must be an integer"},
      Case{std::string(k_minimal) + "timeouts: {recovery_window_ms: 0}\n", "'recovery_window_ms' must be between 1"});
  auto s = parse(c.yaml);
  REQUIRE_FALSE(s);
  CHECK(s.error().code == Errc::config);
  CHECK_THAT(s.error().message, Catch::Contains(c.message));
}

TEST_CASE("identification DIDs are decoded as text or hex", "[uds]") {
  CHECK(decode_did(Bytes{'1', '.', '2', 0, 0}, DidEncoding::ascii) == "1.2");
  CHECK(decode_did(Bytes{'A', ' ', 'B', 0xFF}, DidEncoding::ascii) == "A B");
  CHECK(decode_did(Bytes{0x01, 0x02}, DidEncoding::ascii) == "0102");
  CHECK(decode_did(Bytes{'1', '2'}, DidEncoding::hex) == "3132");
}

TEST_CASE("the uds driver reads identity, flashes a HEX file and reads out", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.version = "1.0.0";
  ecu.dids[0xF18C] = {'S', 'N', '4', '2', 0x00};
  auto settings = fast_settings(std::string(k_minimal) + "identification: {serial: 0xF18C}\n"
                                "read_out: {regions: [{address: 0x1000, size: 300}]}\n"
                                "image: {base_address: 0x1000}\n");
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  int opened = 0;
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    ++opened;
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);

  auto identity = (*driver)->read_identity();
  REQUIRE(identity);
  CHECK(identity->version == "1.0.0");
  CHECK(identity->extra.at("serial") == "SN42");

  FlashImage image;
  image.segments.push_back({0x1000, Bytes(700, 0x11)});
  image.segments.push_back({0x9000, Bytes(50, 0x22)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));
  ecu.version = "2.0.0";
  REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
  REQUIRE(ecu.downloads.size() == 2);
  CHECK(ecu.downloads[0].data == image.segments[0].data);
  CHECK(ecu.downloads[1].address == 0x9000);
  CHECK(opened == 2);  // each operation starts on a fresh link

  REQUIRE((*driver)->can_read_out());
  Bytes memory(300);
  for (std::size_t i = 0; i < memory.size(); ++i) memory[i] = static_cast<std::uint8_t>(i);
  ecu.memory_for_upload[0x1000] = memory;
  REQUIRE((*driver)->read_out(dir / "backup.bin", null_progress()));
  CHECK(read_binary_file(dir / "backup.bin").value() == memory);
}

TEST_CASE("the uds driver reports key and link failures", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(100, 0x11)});
  REQUIRE(write_image(dir / "app.s19", image, ImageFormat::srec));
  auto factory = [&]() -> Result<std::unique_ptr<DiagLink>> { return std::unique_ptr<DiagLink>(new LinkTo(ecu)); };

  SECTION("a failing key command") {
    auto settings = fast_settings(k_minimal);
    settings.key_command = "echo 'HSM offline' >&2; exit 2";
    auto driver = make_uds_driver(settings, factory);
    REQUIRE(driver);
    auto r = (*driver)->flash(dir / "app.s19", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::ecu);
    CHECK(r.error().message == "SecurityAccess level 0x01: key_command exited with status 2: HSM offline");
    CHECK(ecu.downloads.empty());
  }
  SECTION("a missing key library fails when the driver is made") {
    auto settings = fast_settings(k_minimal);
    settings.key_library = dir / "missing.so";
    auto driver = make_uds_driver(settings, factory);
    REQUIRE_FALSE(driver);
    CHECK(driver.error().code == Errc::config);
  }
  SECTION("the link cannot be opened") {
    auto settings = fast_settings(k_minimal);
    auto driver = make_uds_driver(settings, []() -> Result<std::unique_ptr<DiagLink>> {
      return make_error(Errc::network, "connection refused");
    });
    REQUIRE(driver);
    auto r = (*driver)->read_identity();
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::network);
    CHECK(r.error().message == "connect: connection refused");
  }
  SECTION("a bad image is refused before anything is sent") {
    auto settings = fast_settings(k_minimal);
    auto driver = make_uds_driver(settings, factory);
    REQUIRE(driver);
    REQUIRE(write_file_atomic(dir / "bad.hex", std::string(":0401000001020304F2\n:00000001FF\n")));
    auto r = (*driver)->flash(dir / "bad.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::config);
    CHECK(ecu.requests.empty());
  }
  SECTION("no read-out regions: no read-out") {
    auto settings = fast_settings(k_minimal);
    auto driver = make_uds_driver(settings, factory);
    REQUIRE(driver);
    CHECK_FALSE((*driver)->can_read_out());
    auto r = (*driver)->read_out(dir / "x.bin", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::unsupported);
  }
}

TEST_CASE("read-out of several regions writes an S-record file", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.memory_for_upload[0] = Bytes(64, 0x5A);
  auto settings = fast_settings(std::string(k_minimal) +
                                "read_out: {regions: [{address: 0x0, size: 64}, {address: 0x100, size: 64}]}\n");
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  REQUIRE((*driver)->read_out(dir / "backup.img", null_progress()));
  CHECK(detect_image_format(dir / "backup.img").value() == ImageFormat::srec);
  auto back = load_image(dir / "backup.img", ImageFormat::auto_detect, 0);
  REQUIRE(back);
  REQUIRE(back->segments.size() == 2);
  CHECK(back->segments[1].address == 0x100);
}

TEST_CASE("backup read-out is verified against the ECU's version", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.version = "1.0.0";
  ecu.max_block_length = 0x82;
  auto settings = fast_settings(std::string(k_minimal) + "read_out: {regions: [{address: 0x1000, size: 300}]}\n"
                                                         "image: {base_address: 0x1000}\n");
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  Bytes payload(300 - k_sw_image_header_size, 0x3C);

  SECTION("the header names the ECU's version: kept") {
    ecu.memory_for_upload[0x1000] = make_sw_image("1.0.0", payload);
    REQUIRE((*driver)->read_out(dir / "backup.bin", null_progress()));
    CHECK(read_binary_file(dir / "backup.bin").value() == ecu.memory_for_upload[0x1000]);
    CHECK(ecu.count_sid(0x22) == 2);  // the version before and after
  }
  SECTION("the header names another version") {
    ecu.memory_for_upload[0x1000] = make_sw_image("0.9.0", payload);
    auto r = (*driver)->read_out(dir / "backup.bin", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::verify);
    CHECK_THAT(r.error().message, Catch::Contains("bms") && Catch::Contains("0.9.0") && Catch::Contains("1.0.0"));
    CHECK_FALSE(std::filesystem::exists(dir / "backup.bin"));
  }
  SECTION("the version changes during the read-out") {
    ecu.memory_for_upload[0x1000] = Bytes(300, 0x77);  // no image header: only the DID is compared
    ecu.version_after_upload = "1.1.0";
    auto r = (*driver)->read_out(dir / "backup.bin", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::verify);
    CHECK_THAT(r.error().message, Catch::Contains("bms") && Catch::Contains("1.0.0 before, 1.1.0 after"));
    CHECK_FALSE(std::filesystem::exists(dir / "backup.bin"));
  }
}

TEST_CASE("the uds driver flashes a two-segment Motorola S-record image", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.max_block_length = 0x82;
  auto settings = fast_settings(k_minimal);
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  FlashImage image;
  Bytes first(1000), second(333);
  for (std::size_t i = 0; i < first.size(); ++i) first[i] = static_cast<std::uint8_t>(i * 3);
  for (std::size_t i = 0; i < second.size(); ++i) second[i] = static_cast<std::uint8_t>(0xA0 ^ i);
  image.segments.push_back({0x00080000, first});
  image.segments.push_back({0x000A0100, second});
  REQUIRE(write_image(dir / "app.s37", image, ImageFormat::srec));
  REQUIRE(detect_image_format(dir / "app.s37").value() == ImageFormat::srec);
  REQUIRE((*driver)->flash(dir / "app.s37", null_progress()));
  REQUIRE(ecu.erased.size() == 2);
  CHECK(ecu.erased[0] == std::make_pair(std::uint32_t{0x80000}, std::uint64_t{1000}));
  CHECK(ecu.erased[1] == std::make_pair(std::uint32_t{0xA0100}, std::uint64_t{333}));
  REQUIRE(ecu.downloads.size() == 2);
  CHECK(ecu.downloads[0].address == 0x80000);
  CHECK(ecu.downloads[0].size == 1000);
  CHECK(ecu.downloads[0].data == first);
  CHECK(ecu.downloads[0].exited);
  CHECK(ecu.downloads[1].address == 0xA0100);
  CHECK(ecu.downloads[1].size == 333);
  CHECK(ecu.downloads[1].data == second);
  CHECK(ecu.downloads[1].exited);
  CHECK(ecu.downloads[1].counters.front() == 1);  // each segment's counter starts again at 1
  CHECK(ecu.resets == 1);
}

TEST_CASE("TesterPresent keeps the session alive while a slow key command runs", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.s3_timeout = 400ms;
  auto settings = fast_settings(k_minimal);
  // The key takes twice S3: without TesterPresent the ECU falls back to the default session.
  settings.key_command = "sleep 0.9; " + write_key_script(dir) + " {seed} {level}";
  settings.client.tester_present_interval = 100ms;
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(100, 0x11)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));

  SECTION("with the keep-alive") {
    auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
      return std::unique_ptr<DiagLink>(new LinkTo(ecu));
    });
    REQUIRE(driver);
    REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
    std::size_t keep_alives = 0, before_key = 0;
    bool seed_sent = false, key_sent = false;
    for (const auto& r : ecu.requests) {
      seed_sent = seed_sent || r == Bytes{0x27, 0x01};
      key_sent = key_sent || (r.size() > 1 && r[0] == 0x27 && r[1] == 0x02);
      if (r == Bytes{0x3E, 0x80}) {
        ++keep_alives;
        if (seed_sent && !key_sent) ++before_key;
      }
    }
    CHECK(before_key >= 2);  // about every 100-200 ms of the 900 ms the key took
    CHECK(keep_alives >= before_key);
    CHECK(ecu.s3_expiries == 0);
    REQUIRE(ecu.downloads.size() == 1);
    CHECK(ecu.downloads[0].data == image.segments[0].data);
  }
  SECTION("without it the session ends (the fake models S3)") {
    settings.client.tester_present_interval = 0ms;
    auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
      return std::unique_ptr<DiagLink>(new LinkTo(ecu));
    });
    REQUIRE(driver);
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(ecu.s3_expiries == 1);
    CHECK_THAT(r.error().message, Catch::Contains("serviceNotSupportedInActiveSession"));
  }
}

TEST_CASE("touched(): a flash refused before the erase leaves the ECU untouched", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  auto settings = fast_settings(k_minimal);
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  settings.client.conditions_delay = 5ms;
  settings.client.conditions_delay_max = 20ms;
  settings.client.conditions_patience = 200ms;
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(100, 0x11)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));

  SECTION("conditionsNotCorrect twice, then the programming session is granted") {
    ecu.nrc_first[{0x10, 0x02}] = {nrc::k_conditions_not_correct, nrc::k_conditions_not_correct};
    REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK((*driver)->touched());
    CHECK(ecu.downloads.size() == 1);
  }
  SECTION("conditionsNotCorrect every time: a failure that touched nothing") {
    ecu.nrc_always[{0x10, 0x02}] = nrc::k_conditions_not_correct;
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::negative_response);
    CHECK_FALSE((*driver)->touched());
    std::size_t asked = 0;
    for (const auto& req : ecu.requests) asked += req == Bytes{0x10, 0x02};
    CHECK(asked >= 3);
    CHECK(ecu.count_sid(0x31) == 0);
    CHECK(ecu.count_sid(0x34) == 0);
  }
  SECTION("security access denied for good: untouched") {
    ecu.nrc_always[{0x27, 0x01}] = nrc::k_exceeded_number_of_attempts;
    REQUIRE_FALSE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK_FALSE((*driver)->touched());
  }
  SECTION("a failure after the erase: touched") {
    ecu.fail_service[0x34] = nrc::k_upload_download_not_accepted;
    REQUIRE_FALSE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK((*driver)->touched());
  }
  SECTION("an image that does not parse: nothing sent, untouched") {
    REQUIRE(write_file_atomic(dir / "bad.hex", std::string(":0401000001020304F2\n:00000001FF\n")));
    REQUIRE_FALSE((*driver)->flash(dir / "bad.hex", null_progress()));
    CHECK_FALSE((*driver)->touched());
  }
}

TEST_CASE("touched(): an erase offered only to a link that never opened leaves the ECU untouched", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  auto settings = fast_settings(std::string(k_minimal) + "steps: [erase, security_access, download]\n");
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(100, 0x11)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));
  int refusals_left = 0;
  auto factory = [&]() -> Result<std::unique_ptr<DiagLink>> {
    if (refusals_left != 0) {
      if (refusals_left > 0) --refusals_left;
      return make_error(Errc::network, "connection refused");
    }
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  };
  auto driver = make_uds_driver(settings, factory);
  REQUIRE(driver);

  SECTION("refused every time: the erase never left, so no restore is owed") {
    refusals_left = -1;
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::network);
    CHECK_FALSE((*driver)->touched());
    CHECK(ecu.requests.empty());
  }
  SECTION("refused once: that attempt is untouched, the next one reaches the ECU and is touched") {
    refusals_left = 1;
    REQUIRE_FALSE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK_FALSE((*driver)->touched());
    CHECK(ecu.requests.empty());
    REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK((*driver)->touched());
    CHECK(ecu.count_sid(0x31) == 1);
    CHECK(ecu.downloads.size() == 1);
  }
}

TEST_CASE("touched() after an interruption: before the erase or mid-download", "[uds]") {
  InterruptGuard guard;
  TempDir dir;
  FakeEcu ecu;
  ecu.max_block_length = 0x42;
  auto settings = fast_settings(k_minimal);
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(1000, 0x11)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));

  SECTION("before the erase") {
    ecu.on_request = [](const Bytes& req) {
      if (req == Bytes{0x10, 0x02}) request_interrupt();
    };
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::interrupted);
    CHECK_FALSE((*driver)->touched());
    CHECK(ecu.erased.empty());
  }
  SECTION("mid-download") {
    ecu.on_request = [](const Bytes& req) {
      if (req[0] == 0x36 && req[1] == 0x05) request_interrupt();
    };
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::interrupted);
    CHECK((*driver)->touched());
    CHECK(ecu.count_sid(0x36) == 5);
  }
}

TEST_CASE("recovery: a stale answer from the failed attempt does not derail the next", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.late_answers[0x31] = 1;  // the ECU stalls past P2* during the erase
  ecu.late_arrival = FakeEcu::LateArrival::with_the_next_answer;
  auto settings = fast_settings(k_minimal);
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  settings.recovery_window = 5000ms;
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(100, 0x11)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));

  SECTION("a normal flash fails at the erase") {
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::timeout);
    CHECK((*driver)->touched());
    // The restore that follows (recovery) meets the late answer first and discards it.
    (*driver)->set_recovery(true);
    REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
  }
  SECTION("a recovery flash starts over and succeeds") {
    (*driver)->set_recovery(true);
    REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK(ecu.count_sid(0x34) == 1);
    CHECK(ecu.downloads.size() == 1);
    CHECK(ecu.downloads[0].exited);
  }
}

TEST_CASE("recovery: a DoIP ECU that refuses connections for a second is waited for", "[uds][doip]") {
  TempDir dir;
  DoipBench bench;
  auto settings = fast_settings(bench.yaml());
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  settings.recovery_window = 10000ms;
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(300, 0x5A)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));
  auto driver = make_uds_driver(settings, DoipBench::links(settings));
  REQUIRE(driver);

  SECTION("not in recovery: refused is a network error once reset_timeout_ms is spent") {
    const auto start = std::chrono::steady_clock::now();
    auto id = (*driver)->read_identity();
    REQUIRE_FALSE(id);
    CHECK(id.error().code == Errc::network);
    auto r = (*driver)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::network);
    CHECK_FALSE((*driver)->touched());
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
  SECTION("a restore connects once the entity listens") {
    (*driver)->set_recovery(true);
    bench.start_after(1000ms);
    const auto start = std::chrono::steady_clock::now();
    REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
    CHECK(std::chrono::steady_clock::now() - start >= 900ms);
    REQUIRE(bench.started());
    std::lock_guard lock(bench.mutex);
    REQUIRE(bench.ecu.downloads.size() == 1);
    CHECK(bench.ecu.downloads[0].data == image.segments[0].data);
    CHECK(bench.ecu.resets == 1);
  }
  SECTION("reading the ECU in recovery waits too") {
    (*driver)->set_recovery(true);
    bench.start_after(1000ms);
    auto id = (*driver)->read_identity();
    REQUIRE(id);
    CHECK(id->version == "1.0.0");
  }
  SECTION("the window spent: the last real cause") {
    settings.recovery_window = 700ms;
    auto impatient = make_uds_driver(settings, DoipBench::links(settings));
    REQUIRE(impatient);
    (*impatient)->set_recovery(true);
    auto r = (*impatient)->flash(dir / "app.hex", null_progress());
    REQUIRE_FALSE(r);
    CHECK(r.error().code == Errc::network);
    CHECK_THAT(r.error().message, Catch::Contains("Connection refused") && Catch::Contains("recovery window"));
    CHECK_FALSE((*impatient)->touched());
  }
}

TEST_CASE("recovery: the security delay after power-on is waited out", "[uds]") {
  TempDir dir;
  FakeEcu ecu;
  ecu.security_delay_until = std::chrono::steady_clock::now() + 500ms;
  auto settings = fast_settings(k_minimal);
  settings.key_command = write_key_script(dir) + " {seed} {level}";
  settings.client.time_delay_wait = 100ms;
  settings.recovery_window = 5000ms;
  auto driver = make_uds_driver(settings, [&]() -> Result<std::unique_ptr<DiagLink>> {
    return std::unique_ptr<DiagLink>(new LinkTo(ecu));
  });
  REQUIRE(driver);
  FlashImage image;
  image.segments.push_back({0x1000, Bytes(100, 0x11)});
  REQUIRE(write_image(dir / "app.hex", image, ImageFormat::ihex));
  (*driver)->set_recovery(true);
  REQUIRE((*driver)->flash(dir / "app.hex", null_progress()));
  CHECK(ecu.count_sid(0x27) >= 4);  // refused at least twice, then seed and key
  CHECK(ecu.downloads.size() == 1);
}
