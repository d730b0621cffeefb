#pragma once

// The delivery worker (DESIGN.md capability 5): works off the store's outbox on the event loop.
//
// Loop: claim due deliveries (store::Store::ClaimDeliveries, on the blocking pool), and for each
// one, on the event loop:
//   1. too many attempts already (a crash loop) -> dead letter;
//   2. Preparer::Prepare (blocking pool): re-checks consent and builds the HTTP call, or says the
//      delivery must stop (consent refused or revoked while it waited), or cannot be built now;
//   3. sends it with HttpClient (libcurl multi, mTLS, timeouts);
//   4. classifies the answer: 2xx delivered; 408, 429, 5xx and transport failures retry after
//      exponential backoff with jitter, or after Retry-After when the agency asks for longer;
//      other statuses (4xx, 3xx) are permanent: dead letter; the retry that would exceed
//      max_attempts goes to the dead letter instead;
//   5. records the attempt (store::Store::RecordAttempt) and tells the observer;
//   6. after an agency's first success since it failed (or since start), makes its other
//      pending deliveries due at once (store::Store::Expedite): a backlog queued during an
//      outage drains when the agency is back, not when each backoff runs out;
//   7. claims again as soon as a delivery has finished (its agency has a free slot), so a
//      backlog drains at the agency's concurrency rather than one claim per poll_interval.
// Recovery probe: when an attempt got no answer at all (connection refused, timeout), the agency
// is probed with GET [base]/metadata (its FHIR CapabilityStatement: no patient data) after
// probe_interval, doubling up to max_probe_interval, until it answers with a status below 500
// (and not 429) or a delivery to it succeeds. An answer makes its pending deliveries due at once
// (Expedite), as a success would: recovery is noticed within max_probe_interval even when every
// delivery's own backoff has grown to max_backoff. Probes are not delivery attempts: they carry
// no referral, are not recorded and do not count against max_attempts.
// The store limits deliveries in flight per agency (ClaimOptions::per_destination), so a slow or
// failing agency never holds up the others. A crash between send and record leaves the claim
// leased; it expires and the delivery is sent again with the same idempotency key, which the
// agency's conditional create turns into a no-op: the effect at the agency is exactly once.

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/delivery/http_client.h"
#include "gateway/store/store.h"

namespace carebridge::delivery {

// What to do with one delivery now.
struct Preparation {
  enum class Kind {
    kSend,        // send `call`
    kStop,        // do not send, ever (unless re-driven): consent refused
    kRetryLater,  // cannot be built now (a read failed): try again after backoff
    kDeadLetter,  // can never be built (no endpoint for the agency, resource gone)
  };
  Kind kind = Kind::kSend;
  HttpCall call;
  std::string reason;  // for kStop / kRetryLater / kDeadLetter: why, for the attempt record
};

// Builds the HTTP call for a delivery. Blocking (store reads): called on the blocking pool, from
// several threads at once.
class Preparer {
 public:
  virtual ~Preparer() = default;
  virtual Preparation Prepare(const store::Delivery& delivery) = 0;
};

// Learns each recorded attempt (to update the Task's business status, alert the coordinator,
// write the timeline). Called on the blocking pool after the attempt is durable.
class DeliveryObserver {
 public:
  virtual ~DeliveryObserver() = default;
  virtual void OnAttempt(const store::Delivery& delivery,
                         const store::DeliveryAttempt& attempt) = 0;
};

// The defaults retry an agency that fails (no answer, 408, 429, 5xx) for at least 26 hours before
// the dead letter: 400 attempts, 2 s doubling to 5 minutes, even at the lowest jitter. A long
// outage costs one attempt per delivery every few minutes; recovery is noticed sooner, by the
// probe or the first success, which make the backlog due at once.
struct DeliveryOptions {
  int max_attempts = 400;  // attempts per (re)drive before the dead letter
  std::chrono::milliseconds initial_backoff{2000};
  std::chrono::milliseconds max_backoff{std::chrono::minutes(5)};
  double jitter = 0.2;  // the backoff is scaled by a uniform factor in [1 - jitter, 1 + jitter]
  std::chrono::milliseconds max_retry_after{std::chrono::hours(1)};  // caps the agency's ask
  std::chrono::milliseconds poll_interval{1000};  // claims at least this often (Wake: at once)
  int claim_batch = 32;
  int per_destination = 4;                              // deliveries in flight per agency
  std::vector<std::pair<std::string, int>> per_agency;  // agency id -> its own per_destination
  // Recovery probes of an agency that does not answer (see above).
  std::chrono::milliseconds probe_interval{500};
  std::chrono::milliseconds max_probe_interval{5000};
  std::chrono::milliseconds lease{std::chrono::minutes(2)};  // > the HTTP total timeout
  HttpClientOptions http;
};

enum class Verdict { kDelivered, kRetry, kPermanent };
// 2xx delivered; 408, 429, 5xx and no response retry; anything else is permanent.
Verdict Classify(const HttpReply& reply);

// The delay before the attempt after `retries` attempts of this (re)drive: initial_backoff *
// 2^(retries-1), capped at max_backoff, scaled by `unit` in [0, 1) mapped onto the jitter range;
// at least `retry_after` (capped at max_retry_after) when the agency sent one.
std::chrono::milliseconds Backoff(const DeliveryOptions& options, int retries, double unit,
                                  std::optional<std::chrono::milliseconds> retry_after);

// The URL that probes an agency for recovery, from the URL of a delivery to it: GET
// [base]/metadata, where [base] is the URL without its query and last path segment
// ("https://a.example/fhir/Task?identifier=x" -> "https://a.example/fhir/metadata").
std::string ProbeUrl(std::string_view delivery_url);

// Retry-After as delay-seconds or an HTTP-date (relative to now_ms); nullopt when unreadable.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::int64_t now_ms);

class DeliveryWorker {
 public:
  // REQUIRES: every argument outlives the worker; `observer` may be null.
  DeliveryWorker(boost::asio::any_io_executor io, boost::asio::thread_pool& blocking,
                 store::Store& store, Preparer& preparer, DeliveryOptions options,
                 DeliveryObserver* observer = nullptr);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  void Start();
  // New outbox rows were committed: claim now instead of at the next poll. Thread-safe.
  void Wake();
  // Stops claiming, aborts transfers in flight (their deliveries go back to pending, due at once)
  // and returns when every delivery coroutine has recorded its outcome. Call it from a thread
  // that is not running the executor, while the executor still runs.
  void Stop();
  // Stop without blocking: `done` runs on the event loop once every delivery coroutine has
  // recorded its outcome. For callers on the event loop (a signal handler), where Stop() would
  // wait for itself.
  void StopAsync(std::function<void()> done);

  // Counters, for tests and /metrics.
  std::int64_t attempts() const { return attempts_.load(); }
  std::int64_t probes() const { return probes_.load(); }  // recovery probes sent

 private:
  boost::asio::awaitable<void> Loop();
  boost::asio::awaitable<void> Deliver(store::Delivery delivery);
  boost::asio::awaitable<void> Record(store::Delivery delivery, store::DeliveryAttempt attempt);
  // Probes `destination` at `url` until it answers, a delivery to it succeeds, or Stop.
  boost::asio::awaitable<void> Probe(std::string destination, std::string url);
  void StartProbe(const std::string& destination, std::string_view delivery_url);  // strand only
  void WakeLoop();  // strand only: claim again now
  void Finished();  // on the strand: one coroutine ended

  template <typename Fn>
  boost::asio::awaitable<std::invoke_result_t<Fn>> OnPool(Fn fn);

  boost::asio::strand<boost::asio::any_io_executor> strand_;
  boost::asio::thread_pool& blocking_;
  store::Store& store_;
  Preparer& preparer_;
  DeliveryOptions options_;
  DeliveryObserver* observer_;
  HttpClient client_;
  boost::asio::steady_timer wake_;
  std::mt19937_64 rng_;  // strand only
  // Agencies that answered since they last failed (strand only). The first success of one not
  // in it expedites its backlog (store::Store::Expedite).
  std::set<std::string> healthy_;
  // Agencies being probed, with the probe's timer (strand only; Stop cancels them).
  std::map<std::string, std::unique_ptr<boost::asio::steady_timer>> probing_;

  std::atomic<bool> stopping_{false};
  int active_ = 0;  // strand only: the loop and the delivery coroutines still running
  bool started_ = false;
  bool wake_pending_ = false;      // strand only: Wake() came while the loop was not waiting
  bool stop_signalled_ = false;    // strand only
  std::function<void()> stopped_;  // strand only: StopAsync's callback
  std::atomic<std::int64_t> attempts_{0};
  std::atomic<std::int64_t> probes_{0};
};

}  // namespace carebridge::delivery
