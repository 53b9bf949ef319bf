#include "ecu/uds_driver.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>

#include "container/load.hpp"
#include "ecu/preconditions.hpp"
#include "ecu/seed_key.hpp"
#include "util/compress.hpp"
#include "util/sw_image.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr std::uint16_t k_did_version = 0xF189;  // vehicleManufacturerECUSoftwareVersionNumber
constexpr long long k_max_u8 = 0xFF;
constexpr long long k_max_u16 = 0xFFFF;
constexpr long long k_max_u32 = 0xFFFFFFFF;
constexpr long long k_max_can_id = 0x1FFFFFFF;
constexpr long long k_max_ms = 24LL * 3600 * 1000;
// Bit 7 of a sub-function byte is suppressPosRspMsgIndicationBit: sub-functions are 7 bits.
constexpr long long k_max_sub_function = 0x7F;
// SecurityAccess requestSeed levels are odd; 0x7D is the last below the reserved 0x7F.
constexpr long long k_max_security_level = 0x7D;
constexpr std::uint32_t k_max_standard_can_id = 0x7FF;
constexpr long long k_min_tx_dl = 8;
constexpr long long k_max_tx_dl = 64;
constexpr std::uint8_t k_fd_tx_dl = 64;
constexpr long long k_max_bitrate = 10'000'000;
constexpr long long k_max_data_bitrate = 20'000'000;
constexpr std::uint8_t k_first_printable = 0x20;
constexpr std::uint8_t k_delete = 0x7F;

// Reads the keys of one mapping of the `uds:` section, every error with file:line:col.
class Section {
 public:
  Section(const fs::path& file, YAML::Node node) : m_file(file), m_node(std::move(node)) {}

  bool has(const std::string& key) const { return static_cast<bool>(m_node[key]); }
  YAML::Node node() const { return m_node; }
  const fs::path& file() const { return m_file; }

  Result<void> known(const std::vector<std::string>& keys) const { return yaml_known_keys(m_file, m_node, keys); }

  Result<Section> child(const std::string& key) const {
    YAML::Node n = m_node[key];
    if (!n) return Section(m_file, YAML::Node(YAML::NodeType::Map));
    if (!n.IsMap()) return config_error_at(m_file, n, fmt::format("'{}' must be a mapping", key));
    return Section(m_file, n);
  }

  template <class T>
  Result<void> integer(const std::string& key, T& out, long long max, long long min = 0) const {
    ECUUP_ASSIGN(long long v, yaml_int(m_file, m_node, key, static_cast<long long>(out), min, max));
    out = static_cast<T>(v);
    return success();
  }

  Result<void> millis(const std::string& key, std::chrono::milliseconds& out, long long min = 0) const {
    long long v = out.count();
    ECUUP_TRY(integer(key, v, k_max_ms, min));
    out = std::chrono::milliseconds(v);
    return success();
  }

  Result<void> string(const std::string& key, std::string& out) const {
    ECUUP_ASSIGN(out, yaml_string(m_file, m_node, key, &out));
    return success();
  }

  Result<void> boolean(const std::string& key, bool& out) const {
    ECUUP_ASSIGN(out, yaml_bool(m_file, m_node, key, out));
    return success();
  }

  // Hex bytes ("31 01 ff 00", spaces allowed); empty string = no bytes.
  Result<void> hex(const std::string& key, Bytes& out) const {
    if (!has(key)) return success();
    ECUUP_ASSIGN(std::string text, yaml_string(m_file, m_node, key));
    auto bytes = from_hex(text);
    if (!bytes) return error_at(key, fmt::format("'{}' must be hex bytes: {}", key, bytes.error().message));
    out = std::move(bytes).value();
    return success();
  }

  Result<void> image_format(const std::string& key, ImageFormat& out) const {
    if (!has(key)) return success();
    ECUUP_ASSIGN(std::string text, yaml_string(m_file, m_node, key));
    auto f = parse_image_format(text);
    if (!f) return error_at(key, f.error().message);
    out = *f;
    return success();
  }

  Error error_at(const std::string& key, const std::string& message) const {
    return config_error_at(m_file, m_node[key] ? m_node[key] : m_node, message);
  }

 private:
  fs::path m_file;
  YAML::Node m_node;
};

Result<std::vector<UdsStep>> parse_steps(const Section& parent, const std::string& key) {
  YAML::Node list = parent.node()[key];
  if (!list.IsSequence() || list.size() == 0) {
    return config_error_at(parent.file(), list, fmt::format("'{}' must be a non-empty list of steps", key));
  }
  std::vector<UdsStep> steps;
  for (const auto& item : list) {
    if (!item.IsScalar()) return config_error_at(parent.file(), item, "a step is a name or request bytes in hex");
    const std::string text = item.Scalar();
    auto kind = parse_uds_step(text);
    if (kind && *kind != UdsStepKind::request) {
      steps.push_back({*kind, {}});
      continue;
    }
    auto bytes = from_hex(text);
    if (!bytes || bytes->empty()) return config_error_at(parent.file(), item, kind.error().message);
    steps.push_back({UdsStepKind::request, std::move(bytes).value()});
  }
  return steps;
}

Result<void> parse_can(const Section& s, UdsCanSettings& can) {
  ECUUP_TRY(s.known({"bus", "isotp_backend", "tx_id", "rx_id", "extended_ids", "addressing", "source_address",
                     "target_address", "fd", "tx_dl", "padding", "block_size", "st_min", "bitrate", "data_bitrate",
                     "n_as_ms", "n_bs_ms", "n_cr_ms"}));
  ECUUP_ASSIGN(can.bus, yaml_string(s.file(), s.node(), "bus"));
  std::string backend = "user";
  ECUUP_TRY(s.string("isotp_backend", backend));
  if (backend == "kernel") {
    can.backend = IsoTpBackend::kernel;
  } else if (backend != "user") {
    return s.error_at("isotp_backend", "'isotp_backend' must be user or kernel");
  }
  ECUUP_TRY(s.integer("tx_id", can.tx_id, k_max_can_id));
  ECUUP_TRY(s.integer("rx_id", can.rx_id, k_max_can_id));
  ECUUP_TRY(s.boolean("extended_ids", can.extended_ids));
  std::string addressing = "normal";
  ECUUP_TRY(s.string("addressing", addressing));
  if (addressing == "normal_fixed") {
    can.normal_fixed = true;
    can.extended_ids = true;
  } else if (addressing != "normal") {
    return s.error_at("addressing", "'addressing' must be normal or normal_fixed");
  }
  ECUUP_TRY(s.integer("source_address", can.source_address, k_max_u8));
  ECUUP_TRY(s.integer("target_address", can.target_address, k_max_u8));
  if (!can.extended_ids && (can.tx_id > k_max_standard_can_id || can.rx_id > k_max_standard_can_id)) {
    return s.error_at(can.tx_id > k_max_standard_can_id ? "tx_id" : "rx_id",
                      "an 11-bit CAN id is at most 0x7FF (set extended_ids)");
  }
  ECUUP_TRY(s.boolean("fd", can.fd));
  if (can.fd) can.tx_dl = k_fd_tx_dl;
  ECUUP_TRY(s.integer("tx_dl", can.tx_dl, k_max_tx_dl, k_min_tx_dl));
  if (s.has("padding")) {
    if (s.node()["padding"].IsNull() || s.node()["padding"].Scalar() == "none") {
      can.padding.reset();
    } else {
      std::uint8_t pad = 0;
      ECUUP_TRY(s.integer("padding", pad, k_max_u8));
      can.padding = pad;
    }
  }
  ECUUP_TRY(s.integer("block_size", can.block_size, k_max_u8));
  ECUUP_TRY(s.integer("st_min", can.st_min, k_max_u8));
  ECUUP_TRY(s.integer("bitrate", can.bitrate, k_max_bitrate));
  ECUUP_TRY(s.integer("data_bitrate", can.data_bitrate, k_max_data_bitrate));
  ECUUP_TRY(s.millis("n_as_ms", can.n_as, 1));
  ECUUP_TRY(s.millis("n_bs_ms", can.n_bs, 1));
  ECUUP_TRY(s.millis("n_cr_ms", can.n_cr, 1));
  return success();
}

Result<void> parse_doip(const Section& s, UdsDoipSettings& doip) {
  ECUUP_TRY(s.known({"host", "port", "vin", "discovery_address", "tester_address", "ecu_address", "activation_type",
                     "connect_timeout_ms", "ack_timeout_ms"}));
  ECUUP_TRY(s.string("host", doip.host));
  ECUUP_TRY(s.integer("port", doip.port, k_max_u16, 1));
  // A gateway named by VIN is found at connect time (vehicle identification on UDP).
  ECUUP_TRY(s.string("vin", doip.vin));
  ECUUP_TRY(s.string("discovery_address", doip.discovery_address));
  constexpr std::size_t k_vin_length = 17;
  if (s.has("vin") && doip.vin.size() != k_vin_length) return s.error_at("vin", "'vin' must be 17 characters");
  if (s.has("vin") && s.has("host")) return s.error_at("vin", "give the gateway's 'host' or its 'vin', not both");
  if (s.has("discovery_address") && !s.has("vin")) return s.error_at("discovery_address", "'discovery_address' needs 'vin'");
  doip.port_given = s.has("port");
  ECUUP_TRY(s.integer("tester_address", doip.tester_address, k_max_u16));
  ECUUP_TRY(s.integer("ecu_address", doip.ecu_address, k_max_u16));
  ECUUP_TRY(s.integer("activation_type", doip.activation_type, k_max_u8));
  ECUUP_TRY(s.millis("connect_timeout_ms", doip.connect_timeout, 1));
  ECUUP_TRY(s.millis("ack_timeout_ms", doip.ack_timeout, 1));
  return success();
}

Result<std::vector<MemoryRegion>> parse_regions(const Section& parent, const std::string& key) {
  std::vector<MemoryRegion> regions;
  YAML::Node list = parent.node()[key];
  if (!list) return regions;
  if (!list.IsSequence()) return config_error_at(parent.file(), list, fmt::format("'{}' must be a list", key));
  for (const auto& item : list) {
    if (!item.IsMap()) return config_error_at(parent.file(), item, "a region is a mapping with 'address' and 'size'");
    Section r(parent.file(), item);
    ECUUP_TRY(r.known({"address", "size"}));
    if (!r.has("address") || !r.has("size")) return config_error_at(parent.file(), item, "a region needs 'address' and 'size'");
    MemoryRegion region;
    ECUUP_TRY(r.integer("address", region.address, k_max_u32));
    ECUUP_TRY(r.integer("size", region.size, k_max_u32 + 1, 1));
    if (region.address + region.size > k_max_u32 + 1ULL) {
      return r.error_at("size", "the region runs past the 32-bit address space");
    }
    regions.push_back(region);
  }
  return regions;
}

bool printable(std::uint8_t c) { return c >= k_first_printable && c < k_delete; }

// Pauses between recovery attempts: from reset_delay_ms (at least this), doubling up to the max.
constexpr std::chrono::milliseconds k_min_recovery_pause{100};
constexpr std::chrono::milliseconds k_max_recovery_pause{4000};

// Stands in for a link that could not be opened: every use fails with why. Silence while
// connecting counts as a dropped link, so that waiting for the ECU opens it again.
class ClosedLink final : public DiagLink {
 public:
  explicit ClosedLink(Error why) : m_why(std::move(why)) {
    if (m_why.code == Errc::timeout) m_why.code = Errc::network;
  }
  Result<void> send(ByteView) override { return m_why; }
  Result<Bytes> receive(std::chrono::milliseconds) override { return m_why; }
  std::size_t max_message_size() const override { return k_closed_link_max_message; }
  std::string describe() const override { return "not connected"; }
  bool can_reach_ecu() const override { return false; }

 private:
  static constexpr std::size_t k_closed_link_max_message = 4095;
  Error m_why;
};

// Runs the driver's operations over one link, opened on first use and re-opened after a reset.
class UdsDriver final : public EcuDriver {
 public:
  UdsDriver(UdsDriverSettings settings, DiagLinkFactory open_link, std::unique_ptr<KeyLibrary> key_library)
      : m_settings(std::move(settings)), m_open_link(std::move(open_link)), m_key_library(std::move(key_library)) {}

  Result<EcuIdentity> read_identity() override {
    if (!m_recovery) {
      ECUUP_TRY(reconnect());
      UdsClient client(*m_link, m_settings.client);
      return read_identity_over(client);
    }
    // Recovery: the ECU may be booting, refusing connections or answering 0x21/0x22/0x37 for a while.
    const auto deadline = SteadyClock::now() + m_settings.recovery_window;
    auto pause = first_pause();
    for (int attempt = 1;; ++attempt) {
      auto identity = [&]() -> Result<EcuIdentity> {
        ECUUP_TRY(reconnect());
        UdsClient client(*m_link, m_settings.client);
        client.set_retry_deadline(deadline);
        return read_identity_over(client);
      }();
      if (identity) return identity;
      const bool transient = identity.error().code == Errc::timeout || identity.error().code == Errc::network ||
                             identity.error().code == Errc::io;
      if (!transient) return identity;
      if (SteadyClock::now() >= deadline) return window_spent(std::move(identity).error(), attempt);
      if (!pause_within(pause, deadline)) return std::move(identity).error();
    }
  }

  Result<void> flash(const fs::path& image_path, Progress& progress) override {
    m_touched = false;
    std::vector<ExpectedIdent> expected;
    auto image = open_image(image_path, &expected);
    if (!image) return std::move(image).error();
    ECUUP_TRY(check_flash_steps(m_settings.sequence.flash_steps, *image));
    // A restore programs what the ECU ran before: its idents were checked when it was flashed.
    if (!m_recovery && !expected.empty()) ECUUP_TRY(check_expected_idents(expected, progress));
    if (!m_recovery) return flash_once(*image, progress, m_settings.sequence, std::nullopt).result;
    // Recovery: start over (reconnect, session, security, erase, download) after every failure that
    // time may cure, until the window is spent; then the last failure is the cause.
    const auto deadline = SteadyClock::now() + m_settings.recovery_window;
    auto pause = first_pause();
    for (int attempt = 1;; ++attempt) {
      UdsSequenceOptions sequence = m_settings.sequence;
      sequence.reset_timeout = std::max(std::chrono::milliseconds(1), until(deadline));
      auto tried = flash_once(*image, progress, sequence, deadline);
      if (tried.result) return success();
      if (!tried.transient || tried.result.error().code == Errc::interrupted) return std::move(tried.result).error();
      if (SteadyClock::now() >= deadline) return window_spent(std::move(tried.result).error(), attempt);
      progress.note(fmt::format("attempt {} failed ({}); starting over within the recovery window", attempt,
                                tried.result.error().message));
      if (!pause_within(pause, deadline)) return std::move(tried.result).error();
    }
  }

  Result<std::vector<std::string>> describe_flash(const fs::path& image_path) override {
    ECUUP_ASSIGN(ImageSource image, open_image(image_path, nullptr));
    ECUUP_TRY(check_flash_steps(m_settings.sequence.flash_steps, image));
    return describe_plan(image, m_settings.sequence.sbl_routine);
  }

  Result<std::optional<std::string>> read_vin() override {
    constexpr std::uint16_t k_vin_did = 0xF190;  // VINDataIdentifier (ISO 14229-1)
    ECUUP_TRY(reconnect());
    UdsClient client(*m_link, m_settings.client);
    ECUUP_ASSIGN(Bytes vin, client.read_data_by_identifier(k_vin_did));
    return std::optional<std::string>(decode_did(vin, DidEncoding::ascii));
  }

  // Read-only: DIDs and a precondition routine in the sessions the checks name (ecu/preconditions.hpp).
  Result<std::vector<PreconditionOutcome>> check_preconditions(const std::vector<Precondition>& checks,
                                                               Progress& progress) override {
    ECUUP_TRY(reconnect());
    UdsClient client(*m_link, m_settings.client, &progress);
    return run_uds_preconditions(client, checks, m_settings.sequence.default_session, progress);
  }

  bool touched() const override { return m_touched; }
  void set_recovery(bool on) override { m_recovery = on; }

  bool can_read_out() const override { return !m_settings.sequence.read_regions.empty(); }

  std::string read_out_layout() const override { return m_read_layout; }
  bool retries_in_recovery() const override { return true; }

  Result<void> set_image_layout(const std::string& layout) override {
    m_layout.reset();
    if (layout.empty()) return success();
    const auto at = layout.find('@');
    Layout l;
    ECUUP_ASSIGN(l.format, parse_image_format(layout.substr(0, at)));
    if (at != std::string::npos) {
      const std::string address = layout.substr(at + 1);
      char* end = nullptr;
      const unsigned long long value = std::strtoull(address.c_str(), &end, 0);
      if (address.empty() || *end != '\0' || value > 0xFFFFFFFFull)
        return make_error(Errc::manifest, fmt::format("backup layout '{}': bad address", layout));
      l.base_address = static_cast<std::uint32_t>(value);
    }
    m_layout = l;
    return success();
  }

  Result<void> read_out(const fs::path& dest, Progress& progress) override {
    if (!can_read_out()) return EcuDriver::read_out(dest, progress);
    ImageFormat format = m_settings.read_out_format;
    const auto& regions = m_settings.sequence.read_regions;
    if (format == ImageFormat::auto_detect) {
      // A raw file only round-trips when flashing it puts it back at the same address.
      format = regions.size() == 1 && regions[0].address == m_settings.image_base_address ? ImageFormat::raw
                                                                                          : ImageFormat::srec;
    }
    ECUUP_ASSIGN(auto writer, ImageWriter::create(dest, format));
    // A raw read-out belongs at its first region's address; the other formats say where.
    m_read_layout = format == ImageFormat::raw ? fmt::format("raw@0x{:08X}", regions.front().address)
                                               : std::string(image_format_name(format));
    ECUUP_TRY(reconnect());
    UdsClient client(*m_link, m_settings.client, &progress);
    auto hooks = make_hooks(client);
    const std::uint16_t did = m_settings.sequence.version_did;
    auto before = client.read_data_by_identifier(did);
    if (!before) return std::move(before).error().context("version before the read-out");
    ECUUP_TRY(run_read_sequence(client, m_settings.sequence, writer, hooks, progress, m_settings.ecu_name));
    ECUUP_TRY(writer.finish());
    auto verified = [&]() -> Result<void> {
      auto after = client.read_data_by_identifier(did);
      if (!after) return std::move(after).error().context("version after the read-out");
      // Software that changed under the read-out (another tester flashed, the ECU fell into boot
      // mode) gives a file that is neither the old nor the new version: no backup to trust.
      if (*after != *before) {
        return make_error(Errc::verify,
                          fmt::format("ECU {} changed its version during the read-out (DID 0x{:04X}: {} before, {} "
                                      "after)",
                                      m_settings.ecu_name, did, decode_did(*before, m_settings.version_encoding),
                                      decode_did(*after, m_settings.version_encoding)));
      }
      return verify_read_out(dest, format, decode_did(*before, DidEncoding::ascii));
    }();
    if (!verified) {
      std::error_code ignored;
      fs::remove(dest, ignored);  // half-checked files must not look like backups
    }
    return verified;
  }

 private:
  using SteadyClock = std::chrono::steady_clock;

  struct Attempt {
    Result<void> result;
    bool transient = false;  // worth starting over in recovery mode
  };

  // One run of the programming sequence on a fresh link. A link that cannot be opened yet (an ECU
  // still booting refuses DoIP connections) is retried by the sequence's first request, within
  // `sequence.reset_timeout`.
  Attempt flash_once(ImageSource& image, Progress& progress, const UdsSequenceOptions& sequence,
                     std::optional<SteadyClock::time_point> retry_deadline) {
    auto connected = reconnect();
    if (!connected && !link_may_come_up(connected.error())) return {std::move(connected).error(), false};
    UdsClient client(*m_link, m_settings.client, &progress);
    client.set_retry_deadline(retry_deadline);
    auto hooks = make_hooks(client);
    UdsFlashState state;
    auto version = run_flash_sequence(client, sequence, image, hooks, progress, m_settings.ecu_name, &state);
    m_touched = m_touched || state.touched;
    if (!version) {
      const bool transient = uds_failure_is_transient(version.error(), client.last_nrc());
      return {std::move(version).error(), transient};
    }
    if (!version->empty()) progress.note("ECU reports version " + decode_did(*version, m_settings.version_encoding));
    return {success(), false};
  }

  // The image as the sequence sends it: a plain image file, or an OEM container's plan; plain data
  // compressed when the configured data format asks for it. `expected` receives a container's
  // expected idents.
  Result<ImageSource> open_image(const fs::path& path, std::vector<ExpectedIdent>* expected) {
    ImageFormat format = m_layout ? m_layout->format : m_settings.image_format;
    const std::uint32_t base = m_layout ? m_layout->base_address : m_settings.image_base_address;
    if (format == ImageFormat::auto_detect) {
      ECUUP_ASSIGN(format, detect_image_format(path));
    }
    std::optional<ImageSource> image;
    if (is_container_format(format)) {
      const std::string name = path.filename().string();
      ECUUP_ASSIGN(Container container, load_container(path));
      ECUUP_TRY(check_container(container, m_settings.memory_ranges, name));
      if (expected) *expected = container.expected_idents;
      image = ImageSource::from_plan(plan_container(std::move(container), name));
    } else {
      ECUUP_ASSIGN(image, ImageSource::open(path, format, base));
    }
    const std::uint8_t data_format = m_settings.sequence.memory_format.data_format;
    if (compression_method(data_format) != k_compression_none) ECUUP_TRY(image->encode(data_format));
    return std::move(*image);
  }

  // ODX-F EXPECTED-IDENTs: each read from the DID `identification` names for it, before anything
  // is sent that changes the ECU. A mismatch is Errc::verify (exit 4), the ECU untouched.
  Result<void> check_expected_idents(const std::vector<ExpectedIdent>& expected, Progress& progress) {
    ECUUP_TRY(reconnect());
    UdsClient client(*m_link, m_settings.client, &progress);
    for (const auto& ident : expected) {
      auto did = m_settings.identification.find(ident.name);
      if (did == m_settings.identification.end())
        return make_error(Errc::config, fmt::format("the container expects ident {} of ECU {}, but its config's "
                                                    "'identification' names no DID for it (add {}: 0xNNNN)",
                                                    ident.name, m_settings.ecu_name, ident.name));
      auto value = client.read_data_by_identifier(did->second);
      if (!value) return std::move(value).error().context(fmt::format("read expected ident {}", ident.name));
      const std::string actual = decode_did(*value, DidEncoding::ascii);
      if (std::find(ident.values.begin(), ident.values.end(), actual) == ident.values.end()) {
        std::string wanted;
        for (const auto& v : ident.values) wanted += (wanted.empty() ? "'" : ", '") + v + "'";
        return make_error(Errc::verify, fmt::format("ECU {} is not what the container is for: ident {} (DID 0x{:04X}) "
                                                    "is '{}', the container expects {}; nothing was programmed",
                                                    m_settings.ecu_name, ident.name, did->second, actual, wanted));
      }
      progress.note(fmt::format("expected ident {} = '{}'", ident.name, actual));
    }
    return success();
  }

  Result<EcuIdentity> read_identity_over(UdsClient& client) {
    EcuIdentity identity;
    ECUUP_ASSIGN(Bytes version, client.read_data_by_identifier(m_settings.sequence.version_did));
    identity.version = decode_did(version, m_settings.version_encoding);
    for (const auto& [name, did] : m_settings.identification) {
      auto value = client.read_data_by_identifier(did);
      if (!value) return std::move(value).error().context(name);
      identity.extra[name] = decode_did(*value, DidEncoding::ascii);
    }
    if (m_settings.hardware_did != 0) {
      auto hardware = client.read_data_by_identifier(m_settings.hardware_did);
      if (hardware) {
        identity.extra["hardware"] = decode_did(*hardware, DidEncoding::ascii);
      } else if (hardware.error().code != Errc::negative_response) {
        return std::move(hardware).error().context("hardware part number");
      }
    }
    return identity;
  }

  static bool link_may_come_up(const Error& error) {
    return error.code == Errc::network || error.code == Errc::timeout || error.code == Errc::io;
  }

  static std::chrono::milliseconds until(SteadyClock::time_point deadline) {
    return std::max(std::chrono::milliseconds(0),
                    std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()));
  }

  std::chrono::milliseconds first_pause() const {
    return std::max(m_settings.sequence.reset_delay, k_min_recovery_pause);
  }

  // Sleeps `pause` (no later than `deadline`) and doubles it for next time; false when interrupted.
  static bool pause_within(std::chrono::milliseconds& pause, SteadyClock::time_point deadline) {
    const bool slept = pause_unless_interrupted(std::min(pause, until(deadline)));
    pause = std::min(pause * 2, k_max_recovery_pause);
    return slept;
  }

  Error window_spent(Error last, int attempts) const {
    return std::move(last).context(fmt::format("gave up after {} attempt{} in the {} ms recovery window", attempts,
                                               attempts == 1 ? "" : "s", m_settings.recovery_window.count()));
  }

  // Every operation starts on a fresh link: a DoIP entity may have closed an idle connection. When
  // the link cannot be opened, a ClosedLink holding the reason stands in, so a client over it
  // fails with that reason and a reconnect may replace it.
  Result<void> reconnect() {
    m_link.reset();
    auto link = m_open_link();
    if (!link) {
      Error error = std::move(link).error().context("connect");
      m_link = std::make_unique<ClosedLink>(error);
      return error;
    }
    m_link = std::move(link).value();
    return success();
  }

  // The file holds exactly the configured regions, and software that names its version in an
  // ecuup image header (ecuup-sim, the image driver) names the one the ECU reports.
  Result<void> verify_read_out(const fs::path& file, ImageFormat format, const std::string& ecu_version) {
    const auto& regions = m_settings.sequence.read_regions;
    const std::string& ecu = m_settings.ecu_name;
    ECUUP_ASSIGN(ImageSource image, ImageSource::open(file, format, regions.front().address));
    std::uint64_t wanted = 0;
    for (const auto& r : regions) wanted += r.size;
    if (image.total_size() != wanted) {
      return make_error(Errc::verify, fmt::format("read-out of ECU {} holds {} bytes, the regions configured are {} "
                                                  "bytes",
                                                  ecu, image.total_size(), wanted));
    }
    auto covering = [&](const MemoryRegion& r) -> std::optional<std::size_t> {
      const auto& segs = image.segments();
      for (std::size_t i = 0; i < segs.size(); ++i) {
        if (segs[i].address <= r.address && r.address + r.size <= segs[i].address + segs[i].size) return i;
      }
      return std::nullopt;
    };
    for (std::size_t i = 0; i < regions.size(); ++i) {
      if (!covering(regions[i])) {
        return make_error(Errc::verify, fmt::format("read-out of ECU {} lacks region {} (0x{:08X}, {} bytes)", ecu,
                                                    i + 1, regions[i].address, regions[i].size));
      }
    }
    const MemoryRegion& first = regions.front();
    if (first.size < k_sw_image_header_size) return success();
    const std::size_t index = *covering(first);
    Bytes header(k_sw_image_header_size);
    ECUUP_TRY(image.read(index, first.address - image.segments()[index].address, header));
    if (!std::equal(k_sw_image_magic.begin(), k_sw_image_magic.end(), header.begin())) return success();
    auto info = parse_sw_image_header(header);
    if (!info) return std::move(info).error().context(fmt::format("read-out of ECU {}", ecu));
    if (info->version != ecu_version) {
      return make_error(Errc::verify, fmt::format("read-out of ECU {}: the image header names version {}, the ECU "
                                                  "reports {}",
                                                  ecu, info->version, ecu_version));
    }
    return success();
  }

  UdsSequenceHooks make_hooks(UdsClient& client) {
    UdsSequenceHooks hooks;
    if (m_key_library) {
      hooks.compute_key = [this](ByteView seed, std::uint8_t level) { return m_key_library->compute_key(seed, level); };
    } else if (!m_settings.key_command.empty()) {
      hooks.compute_key = [this, &client](ByteView seed, std::uint8_t level) {
        auto command = expand_key_command(m_settings.key_command, seed, level, m_settings.ecu_name);
        return run_key_command(command, m_settings.key_timeout, [&client] { (void)client.keep_alive(); });
      };
    }
    hooks.reconnect = [this, &client]() -> Result<void> {
      auto connected = reconnect();
      client.set_link(*m_link);  // a ClosedLink when it failed: never the link just closed
      return connected;
    };
    return hooks;
  }

  UdsDriverSettings m_settings;
  DiagLinkFactory m_open_link;
  std::unique_ptr<KeyLibrary> m_key_library;
  std::unique_ptr<DiagLink> m_link;
  bool m_recovery = false;
  bool m_touched = false;
  struct Layout {
    ImageFormat format = ImageFormat::raw;
    std::uint32_t base_address = 0;
  };
  std::optional<Layout> m_layout;  // set_image_layout(): the next flash's file, not the config's image settings
  std::string m_read_layout;       // how the last read_out() laid its file out
};

}  // namespace

std::string decode_did(ByteView data, DidEncoding encoding) {
  std::size_t end = data.size();
  if (encoding == DidEncoding::ascii) {
    while (end > 0 && (data[end - 1] == 0x00 || data[end - 1] == 0xFF || data[end - 1] == ' ')) --end;
    bool text = true;
    for (std::size_t i = 0; i < end; ++i) text = text && printable(data[i]);
    if (text) return std::string(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return to_hex(data);
}

Result<UdsDriverSettings> parse_uds_settings(const EcuConfig& ecu, const DriverContext& context) {
  const fs::path& file = ecu.config_file;
  UdsDriverSettings out;
  out.ecu_name = ecu.name;
  out.trace_file = context.trace_file;
  out.sequence.flash_steps = default_flash_steps();
  out.sequence.read_steps = default_read_steps();
  out.sequence.version_did = k_did_version;

  if (!ecu.settings || !ecu.settings.IsMap()) return config_error_at(file, ecu.settings, "'uds' must be a mapping");
  Section root(file, ecu.settings);
  ECUUP_TRY(root.known({"transport", "can", "doip", "timeouts", "version_did", "version_encoding", "identification",
                        "hardware_did",
                        "security", "sessions", "erase", "check", "reset_type", "memory", "sbl", "max_block_length",
                        "transfer_retries", "image", "read_out", "steps", "communication_control",
                        "dtc_setting"}));

  std::string transport;
  ECUUP_ASSIGN(transport, yaml_string(file, ecu.settings, "transport"));
  if (transport == "can") {
    out.transport.kind = UdsTransportKind::can;
    if (!root.has("can")) return root.error_at("transport", "transport 'can' needs a 'can:' section");
    if (root.has("doip")) return root.error_at("doip", "'doip:' given but transport is 'can'");
    ECUUP_ASSIGN(auto can, root.child("can"));
    ECUUP_TRY(parse_can(can, out.transport.can));
  } else if (transport == "doip") {
    out.transport.kind = UdsTransportKind::doip;
    if (root.has("can")) return root.error_at("can", "'can:' given but transport is 'doip'");
    ECUUP_ASSIGN(auto doip, root.child("doip"));
    ECUUP_TRY(parse_doip(doip, out.transport.doip));
  } else {
    return root.error_at("transport", fmt::format("unknown transport '{}' (expected can or doip)", transport));
  }

  ECUUP_ASSIGN(auto timeouts, root.child("timeouts"));
  ECUUP_TRY(timeouts.known({"p2_ms", "p2_star_ms", "margin_ms", "tester_present_ms", "reset_delay_ms",
                            "reset_timeout_ms", "recovery_window_ms", "key_ms"}));
  ECUUP_TRY(timeouts.millis("p2_ms", out.client.timing.p2, 1));
  ECUUP_TRY(timeouts.millis("p2_star_ms", out.client.timing.p2_star, 1));
  ECUUP_TRY(timeouts.millis("margin_ms", out.client.margin));
  ECUUP_TRY(timeouts.millis("tester_present_ms", out.client.tester_present_interval));
  ECUUP_TRY(timeouts.millis("reset_delay_ms", out.sequence.reset_delay));
  ECUUP_TRY(timeouts.millis("reset_timeout_ms", out.sequence.reset_timeout, 1));
  ECUUP_TRY(timeouts.millis("recovery_window_ms", out.recovery_window, 1));
  ECUUP_TRY(timeouts.millis("key_ms", out.key_timeout, 1));

  ECUUP_TRY(root.integer("version_did", out.sequence.version_did, k_max_u16));
  ECUUP_TRY(root.integer("hardware_did", out.hardware_did, k_max_u16));
  if (root.has("version_encoding")) {
    std::string enc;
    ECUUP_TRY(root.string("version_encoding", enc));
    if (enc == "hex") {
      out.version_encoding = DidEncoding::hex;
    } else if (enc != "ascii") {
      return root.error_at("version_encoding", "'version_encoding' must be ascii or hex");
    }
  }
  if (root.has("identification")) {
    YAML::Node ids = ecu.settings["identification"];
    if (!ids.IsMap()) return config_error_at(file, ids, "'identification' must map names to DIDs");
    Section id_section(file, ids);
    for (const auto& entry : ids) {
      std::uint16_t did = 0;
      ECUUP_TRY(id_section.integer(entry.first.Scalar(), did, k_max_u16));
      out.identification[entry.first.Scalar()] = did;
    }
  }

  ECUUP_ASSIGN(auto security, root.child("security"));
  ECUUP_TRY(security.known({"level", "key_command", "key_library"}));
  ECUUP_TRY(security.integer("level", out.sequence.security_level, k_max_security_level, 1));
  if (out.sequence.security_level % 2 == 0) {
    return security.error_at("level", "'level' is the odd requestSeed sub-function (1, 3, 5, ...)");
  }
  ECUUP_TRY(security.string("key_command", out.key_command));
  std::string library;
  ECUUP_TRY(security.string("key_library", library));
  if (!out.key_command.empty() && !library.empty()) {
    return security.error_at("key_library", "give either 'key_command' or 'key_library', not both");
  }
  if (!library.empty()) {
    fs::path p(library);
    out.key_library = p.is_absolute() ? p : (context.base_dir / p).lexically_normal();
  }

  ECUUP_ASSIGN(auto sessions, root.child("sessions"));
  ECUUP_TRY(sessions.known({"default", "extended", "programming"}));
  ECUUP_TRY(sessions.integer("default", out.sequence.default_session, k_max_sub_function, 1));
  ECUUP_TRY(sessions.integer("extended", out.sequence.extended_session, k_max_sub_function, 1));
  ECUUP_TRY(sessions.integer("programming", out.sequence.programming_session, k_max_sub_function, 1));

  ECUUP_ASSIGN(auto comm, root.child("communication_control"));
  ECUUP_TRY(comm.known({"off", "on", "communication_type"}));
  ECUUP_TRY(comm.integer("off", out.sequence.communication_control_off, k_max_sub_function));
  ECUUP_TRY(comm.integer("on", out.sequence.communication_control_on, k_max_sub_function));
  ECUUP_TRY(comm.integer("communication_type", out.sequence.communication_type, k_max_u8));
  ECUUP_ASSIGN(auto dtc, root.child("dtc_setting"));
  ECUUP_TRY(dtc.known({"off", "on"}));
  ECUUP_TRY(dtc.integer("off", out.sequence.dtc_setting_off, k_max_sub_function));
  ECUUP_TRY(dtc.integer("on", out.sequence.dtc_setting_on, k_max_sub_function));

  ECUUP_ASSIGN(auto erase, root.child("erase"));
  ECUUP_TRY(erase.known({"routine", "per_segment", "expect_status"}));
  ECUUP_TRY(erase.integer("routine", out.sequence.erase_routine, k_max_u16));
  ECUUP_TRY(erase.boolean("per_segment", out.sequence.erase_per_segment));
  ECUUP_TRY(erase.hex("expect_status", out.sequence.erase_expected_status));
  ECUUP_ASSIGN(auto check, root.child("check"));
  ECUUP_TRY(check.known({"routine", "option_record", "expect_status"}));
  ECUUP_TRY(check.integer("routine", out.sequence.check_routine, k_max_u16));
  ECUUP_TRY(check.hex("option_record", out.sequence.check_option_record));
  ECUUP_TRY(check.hex("expect_status", out.sequence.check_expected_status));
  ECUUP_TRY(root.integer("reset_type", out.sequence.reset_type, k_max_sub_function, 1));

  ECUUP_ASSIGN(auto memory, root.child("memory"));
  ECUUP_TRY(memory.known({"address_bytes", "size_bytes", "data_format", "ranges"}));
  ECUUP_TRY(memory.integer("address_bytes", out.sequence.memory_format.address_bytes, 4, 1));
  ECUUP_TRY(memory.integer("size_bytes", out.sequence.memory_format.size_bytes, 4, 1));
  ECUUP_TRY(memory.integer("data_format", out.sequence.memory_format.data_format, k_max_u8));
  {
    // ecuup compresses plain data with the methods it knows; it never encrypts (no OEM keys):
    // encrypted data comes in a container that carries its own data format.
    const std::uint8_t data_format = out.sequence.memory_format.data_format;
    if (encryption_method(data_format) != 0)
      return memory.error_at("data_format", fmt::format("data_format 0x{:02X} asks for encryption method {}: ecuup "
                                                        "holds no keys and never encrypts; encrypted software comes "
                                                        "in a container (VBF, PDX) that says so",
                                                        data_format, encryption_method(data_format)));
    const std::uint8_t method = compression_method(data_format);
    if (method != k_compression_none && method != k_compression_zlib)
      return memory.error_at("data_format", fmt::format("data_format 0x{:02X} asks for compression method {}: ecuup "
                                                        "can apply method 1 (zlib) only",
                                                        data_format, method));
  }
  ECUUP_ASSIGN(out.memory_ranges, parse_regions(memory, "ranges"));
  ECUUP_ASSIGN(auto sbl, root.child("sbl"));
  ECUUP_TRY(sbl.known({"routine"}));
  ECUUP_TRY(sbl.integer("routine", out.sequence.sbl_routine, k_max_u16));
  ECUUP_TRY(root.integer("max_block_length", out.sequence.max_block_length, k_max_u32));
  if (out.sequence.max_block_length != 0 && out.sequence.max_block_length < 3) {
    return root.error_at("max_block_length", "'max_block_length' counts SID and counter: at least 3 (0 = no cap)");
  }
  ECUUP_TRY(root.integer("transfer_retries", out.sequence.transfer_retries, 10));

  ECUUP_ASSIGN(auto image, root.child("image"));
  ECUUP_TRY(image.known({"format", "base_address"}));
  ECUUP_TRY(image.image_format("format", out.image_format));
  ECUUP_TRY(image.integer("base_address", out.image_base_address, k_max_u32));

  if (root.has("steps")) {
    ECUUP_ASSIGN(out.sequence.flash_steps, parse_steps(root, "steps"));
  }
  ECUUP_ASSIGN(auto read_out, root.child("read_out"));
  ECUUP_TRY(read_out.known({"regions", "format", "steps"}));
  ECUUP_ASSIGN(out.sequence.read_regions, parse_regions(read_out, "regions"));
  ECUUP_TRY(read_out.image_format("format", out.read_out_format));
  if (out.read_out_format == ImageFormat::raw && out.sequence.read_regions.size() > 1) {
    return read_out.error_at("format", "a raw read-out file holds one region only (use srec or ihex)");
  }
  if (read_out.has("steps")) {
    ECUUP_ASSIGN(out.sequence.read_steps, parse_steps(read_out, "steps"));
  }

  auto uses = [](const std::vector<UdsStep>& steps, UdsStepKind kind) {
    for (const auto& s : steps) {
      if (s.kind == kind) return true;
    }
    return false;
  };
  if (uses(out.sequence.flash_steps, UdsStepKind::upload)) {
    return root.error_at("steps", "'upload' belongs in read_out.steps");
  }
  if (uses(out.sequence.read_steps, UdsStepKind::erase) || uses(out.sequence.read_steps, UdsStepKind::download)) {
    return read_out.error_at("steps", "read_out.steps cannot erase or download");
  }
  if (!uses(out.sequence.flash_steps, UdsStepKind::download)) {
    return root.error_at("steps", "'steps' has no 'download' step");
  }
  return out;
}

Result<std::unique_ptr<EcuDriver>> make_uds_driver(UdsDriverSettings settings, DiagLinkFactory open_link) {
  std::unique_ptr<KeyLibrary> library;
  if (!settings.key_library.empty()) {
    ECUUP_ASSIGN(library, KeyLibrary::open(settings.key_library));
  }
  return std::unique_ptr<EcuDriver>(new UdsDriver(std::move(settings), std::move(open_link), std::move(library)));
}

Result<std::unique_ptr<EcuDriver>> make_uds_driver(const EcuConfig& ecu, const DriverContext& context) {
  ECUUP_ASSIGN(UdsDriverSettings settings, parse_uds_settings(ecu, context));
  UdsTransportSettings transport = settings.transport;
  fs::path trace = settings.trace_file;
  return make_uds_driver(std::move(settings), [transport, trace]() { return make_uds_link(transport, trace); });
}

}  // namespace ecuup
