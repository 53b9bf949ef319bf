#pragma once
// A scripted UDS server behind the DiagLink seam: answers at send() time, so receive() never
// waits; faults (NRCs, 0x78 chains, silence) are injected per service. Shared by the uds and
// ecu driver tests.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "transport/link.hpp"
#include "uds/nrc.hpp"

namespace ecuup::test {

class FakeEcu : public DiagLink {
 public:
  // Toy algorithm for the tests: key = seed XOR 0x5A per byte, one extra byte = level.
  static Bytes key_for(ByteView seed, std::uint8_t level) {
    Bytes key;
    for (auto b : seed) key.push_back(static_cast<std::uint8_t>(b ^ 0x5A));
    key.push_back(level);
    return key;
  }

  // Config
  std::size_t max_block_length = 0x102;  // announced in 0x74 (includes SID and counter)
  std::size_t link_max = 4095;
  std::uint16_t p2_ms = 50;
  std::uint16_t p2_star_10ms = 500;
  Bytes seed = {0x12, 0x34, 0x56, 0x78};
  std::string version = "1.0.0";
  std::map<std::uint16_t, Bytes> dids;
  std::map<std::uint8_t, std::uint8_t> fail_service;  // SID -> NRC
  std::map<std::uint8_t, int> pending_before;         // SID -> number of 0x78 before the answer
  std::optional<std::uint64_t> silent_from_block;     // 0x36 number (1-based, counted) that is never answered
  std::optional<std::uint64_t> drop_answer_of_block;  // processed, but its answer lost once
  // 0x36 number whose answer is lost because the ECU resets (power loss): it comes back in the
  // default session, where it refuses TransferData with serviceNotSupportedInActiveSession.
  std::optional<std::uint64_t> reset_at_block;
  bool reset_silence = false;                         // 0x11 not answered
  int unanswered_after_reset = 0;                     // requests ignored after a reset
  int broken_sends_after_reset = 0;                   // sends failing (link dropped) after a reset
  std::map<std::uint32_t, Bytes> memory_for_upload;   // address -> content (one region)
  std::optional<std::string> version_after_upload;    // the version DID changes at an upload's 0x37
  // S3 (ISO 14229-2): a non-default session ends after this long without a request; while it is
  // modelled, SecurityAccess is refused in the default session (serviceNotSupportedInActiveSession).
  std::optional<std::chrono::milliseconds> s3_timeout;
  // Requests starting with the key are answered with these NRCs first, one per request, then
  // normally; nrc_always answers them with the NRC every time.
  std::map<Bytes, std::deque<std::uint8_t>> nrc_first;
  std::map<Bytes, std::uint8_t> nrc_always;
  // SecurityAccess is refused with requiredTimeDelayNotExpired until then (a power-on delay).
  std::optional<std::chrono::steady_clock::time_point> security_delay_until;
  // The next n answers to a service come late (the ECU stalls past P2): the client's wait ends in
  // silence, and the answer arrives later, at the moment `late_arrival` says.
  enum class LateArrival { after_the_wait, with_the_next_answer };
  std::map<std::uint8_t, int> late_answers;
  LateArrival late_arrival = LateArrival::after_the_wait;
  // ECUReset cuts the power: no answer, the link breaks (the next receive fails) and the next
  // `broken_sends_after_reset` sends fail.
  bool link_drops_on_reset = false;
  // Called with every request before it is handled (tests trigger interruptions here).
  std::function<void(const Bytes&)> on_request;

  // Observations
  std::vector<Bytes> requests;
  std::vector<std::chrono::milliseconds> receive_timeouts;
  struct Download {
    std::uint32_t address = 0;
    std::uint64_t size = 0;
    Bytes data;
    std::vector<std::uint8_t> counters;
    bool exited = false;
  };
  std::vector<Download> downloads;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> erased;
  int resets = 0;
  int s3_expiries = 0;
  std::uint8_t session = 0x01;
  bool unlocked = false;

  Result<void> send(ByteView message) override {
    if (broken_left > 0) {
      --broken_left;
      return make_error(Errc::network, "connection closed by peer");
    }
    Bytes req(message.begin(), message.end());
    requests.push_back(req);
    if (on_request) on_request(req);
    if (late_arrival == LateArrival::with_the_next_answer) release_late();
    const auto now = std::chrono::steady_clock::now();
    if (s3_timeout && session != 0x01 && last_request && now - *last_request > *s3_timeout) {
      ++s3_expiries;
      session = 0x01;
      unlocked = false;
    }
    last_request = now;
    if (unanswered_left > 0) {
      --unanswered_left;
      return success();
    }
    handle(req);
    return success();
  }

  Result<Bytes> receive(std::chrono::milliseconds timeout) override {
    receive_timeouts.push_back(timeout);
    if (broken_receive) {
      broken_receive = false;
      return make_error(Errc::network, "connection reset by peer");
    }
    if (queue.empty()) {
      // The late answer arrives just after the client stopped waiting for it.
      if (late_arrival == LateArrival::after_the_wait) release_late();
      return make_error(Errc::timeout, "no message");
    }
    Bytes msg = queue.front();
    queue.pop_front();
    return msg;
  }

  std::size_t max_message_size() const override { return link_max; }
  std::string describe() const override { return "fake-ecu"; }

  // The next n requests go unanswered (an ECU still booting).
  void ignore_next(int n) { unanswered_left = n; }

  std::size_t count_sid(std::uint8_t service) const {
    std::size_t n = 0;
    for (const auto& r : requests) n += !r.empty() && r[0] == service;
    return n;
  }

  std::deque<Bytes> queue;

 private:
  void release_late() {
    for (auto& m : late) queue.push_back(std::move(m));
    late.clear();
  }

  // An NRC that nrc_first, nrc_always or the security delay give `req`.
  std::optional<std::uint8_t> scripted_nrc(const Bytes& req) {
    auto starts_with = [&](const Bytes& prefix) {
      return req.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), req.begin());
    };
    for (auto& [prefix, codes] : nrc_first) {
      if (!codes.empty() && starts_with(prefix)) {
        std::uint8_t code = codes.front();
        codes.pop_front();
        return code;
      }
    }
    for (const auto& [prefix, code] : nrc_always) {
      if (starts_with(prefix)) return code;
    }
    if (req[0] == 0x27 && security_delay_until && std::chrono::steady_clock::now() < *security_delay_until) {
      return nrc::k_required_time_delay_not_expired;
    }
    return std::nullopt;
  }

  void reply(std::uint8_t service, Bytes positive) {
    std::deque<Bytes>& out = late_answers[service] > 0 ? late : queue;
    if (late_answers[service] > 0) --late_answers[service];
    for (int i = 0; i < pending_before[service]; ++i) out.push_back({0x7F, service, nrc::k_response_pending});
    auto fail = fail_service.find(service);
    if (fail != fail_service.end()) {
      out.push_back({0x7F, service, fail->second});
      return;
    }
    out.push_back(std::move(positive));
  }
  void negative(std::uint8_t service, std::uint8_t code) { queue.push_back({0x7F, service, code}); }

  static std::uint64_t be(const Bytes& b, std::size_t at, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v << 8 | b[at + i];
    return v;
  }

  void handle(const Bytes& req) {
    const std::uint8_t s = req[0];
    const std::uint8_t pos = static_cast<std::uint8_t>(s + 0x40);
    if (auto code = scripted_nrc(req)) {
      negative(s, *code);
      return;
    }
    switch (s) {
      case 0x10:
        if (fail_service.count(s) == 0) session = req[1];
        reply(s, {pos, req[1], static_cast<std::uint8_t>(p2_ms >> 8), static_cast<std::uint8_t>(p2_ms),
                  static_cast<std::uint8_t>(p2_star_10ms >> 8), static_cast<std::uint8_t>(p2_star_10ms)});
        break;
      case 0x11:
        ++resets;
        session = 0x01;
        unlocked = false;
        unanswered_left = unanswered_after_reset;
        broken_left = broken_sends_after_reset;
        broken_receive = link_drops_on_reset;
        if (!reset_silence && !link_drops_on_reset) reply(s, {pos, req[1]});
        break;
      case 0x22: {
        std::uint16_t did = static_cast<std::uint16_t>(be(req, 1, 2));
        Bytes data;
        if (did == 0xF189) {
          data.assign(version.begin(), version.end());
        } else if (dids.count(did)) {
          data = dids[did];
        } else {
          negative(s, nrc::k_request_out_of_range);
          break;
        }
        Bytes rsp = {pos, req[1], req[2]};
        rsp.insert(rsp.end(), data.begin(), data.end());
        reply(s, rsp);
        break;
      }
      case 0x27:
        if (s3_timeout && session == 0x01) {
          negative(s, nrc::k_service_not_supported_in_active_session);
          break;
        }
        if (req[1] % 2 == 1) {
          Bytes rsp = {pos, req[1]};
          if (unlocked) {
            rsp.insert(rsp.end(), seed.size(), 0);
          } else {
            rsp.insert(rsp.end(), seed.begin(), seed.end());
          }
          reply(s, rsp);
        } else {
          Bytes expected = key_for(seed, static_cast<std::uint8_t>(req[1] - 1));
          if (Bytes(req.begin() + 2, req.end()) != expected) {
            negative(s, nrc::k_invalid_key);
            break;
          }
          if (fail_service.count(s) == 0) unlocked = true;
          reply(s, {pos, req[1]});
        }
        break;
      case 0x28:
      case 0x85:
        reply(s, {pos, req[1]});
        break;
      case 0x31: {
        if (be(req, 2, 2) == 0xFF00 && req.size() > 4) {
          std::size_t alen = req[4] & 0xF, slen = req[4] >> 4;
          erased.emplace_back(static_cast<std::uint32_t>(be(req, 5, alen)), be(req, 5 + alen, slen));
        }
        reply(s, {pos, req[1], req[2], req[3], 0x00});
        break;
      }
      case 0x34:
      case 0x35: {
        if (s == 0x34 && !unlocked) {
          negative(s, nrc::k_security_access_denied);
          break;
        }
        std::size_t alen = req[2] & 0xF, slen = req[2] >> 4;
        Download d;
        d.address = static_cast<std::uint32_t>(be(req, 3, alen));
        d.size = be(req, 3 + alen, slen);
        if (fail_service.count(s) == 0) {
          downloads.push_back(d);
          next_counter = 1;
          blocks_seen = 0;
          uploading = s == 0x35;
          upload_offset = 0;
          transfer_lost = false;
        }
        reply(s, {pos, 0x20, static_cast<std::uint8_t>(max_block_length >> 8),
                  static_cast<std::uint8_t>(max_block_length)});
        break;
      }
      case 0x36: {
        ++blocks_seen;
        if (silent_from_block && blocks_seen >= *silent_from_block) break;
        if (transfer_lost) {
          negative(s, nrc::k_service_not_supported_in_active_session);
          break;
        }
        if (reset_at_block && blocks_seen == *reset_at_block) {
          ++resets;
          session = 0x01;
          unlocked = false;
          transfer_lost = true;
          break;
        }
        if (downloads.empty()) {
          negative(s, nrc::k_request_sequence_error);
          break;
        }
        auto& d = downloads.back();
        const std::uint8_t counter = req[1];
        const std::uint8_t previous = static_cast<std::uint8_t>(next_counter - 1);
        if (counter == previous && !d.counters.empty()) {
          queue.push_back({pos, counter});  // repeated block: positive, not written twice
          break;
        }
        if (counter != next_counter) {
          negative(s, nrc::k_wrong_block_sequence_counter);
          break;
        }
        if (req.size() > max_block_length) {
          negative(s, nrc::k_request_out_of_range);
          break;
        }
        d.counters.push_back(counter);
        next_counter = static_cast<std::uint8_t>(next_counter + 1);
        Bytes rsp = {pos, counter};
        if (uploading) {
          const Bytes& mem = memory_for_upload.begin()->second;
          std::size_t n = std::min<std::size_t>(max_block_length - 2, d.size - upload_offset);
          rsp.insert(rsp.end(), mem.begin() + static_cast<std::ptrdiff_t>(upload_offset),
                     mem.begin() + static_cast<std::ptrdiff_t>(upload_offset + n));
          upload_offset += n;
        } else {
          d.data.insert(d.data.end(), req.begin() + 2, req.end());
        }
        if (drop_answer_of_block && blocks_seen == *drop_answer_of_block) break;
        reply(s, rsp);
        break;
      }
      case 0x37:
        if (!downloads.empty()) downloads.back().exited = true;
        if (uploading && version_after_upload) version = *version_after_upload;
        reply(s, {pos});
        break;
      case 0x3E:
        if (req[1] & 0x80) break;
        reply(s, {pos, req[1]});
        break;
      default:
        negative(s, nrc::k_service_not_supported);
    }
  }

  std::uint8_t next_counter = 1;
  std::uint64_t blocks_seen = 0;
  bool uploading = false;
  std::uint64_t upload_offset = 0;
  int unanswered_left = 0;
  int broken_left = 0;
  bool broken_receive = false;
  std::deque<Bytes> late;
  bool transfer_lost = false;
  std::optional<std::chrono::steady_clock::time_point> last_request;
};

}  // namespace ecuup::test
