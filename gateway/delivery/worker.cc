#include "gateway/delivery/worker.h"

#include <time.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <exception>

#include "gateway/log/log.h"
#include "gateway/net/on_pool.h"
#include "gateway/referral/clock.h"

namespace carebridge::delivery {

namespace net = boost::asio;
using Outcome = store::DeliveryAttempt::Outcome;

namespace {

// The start of an answer's body, for the attempt record (agencies explain refusals there).
std::string Excerpt(const HttpReply& reply) {
  constexpr std::size_t kMax = 300;
  std::string out = "HTTP " + std::to_string(reply.status);
  if (!reply.body.empty()) {
    out += ": " + reply.body.substr(0, kMax);
  }
  return out;
}

}  // namespace

Verdict Classify(const HttpReply& reply) {
  if (reply.transport_error() || reply.status == 0) {
    return Verdict::kRetry;
  }
  const long s = reply.status;
  if (s >= 200 && s < 300) {
    return Verdict::kDelivered;
  }
  if (s == 408 || s == 429 || s >= 500) {
    return Verdict::kRetry;
  }
  return Verdict::kPermanent;
}

std::chrono::milliseconds Backoff(const DeliveryOptions& options, int retries, double unit,
                                  std::optional<std::chrono::milliseconds> retry_after) {
  const int exponent = std::clamp(retries - 1, 0, 30);
  double ms = static_cast<double>(options.initial_backoff.count()) * std::ldexp(1.0, exponent);
  ms = std::min(ms, static_cast<double>(options.max_backoff.count()));
  const double jitter = std::clamp(options.jitter, 0.0, 1.0);
  ms *= 1.0 - jitter + 2.0 * jitter * std::clamp(unit, 0.0, 1.0);
  auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(ms));
  if (retry_after) {
    delay = std::max(delay, std::min(*retry_after, options.max_retry_after));
  }
  return delay;
}

std::string ProbeUrl(std::string_view delivery_url) {
  std::string_view base = delivery_url.substr(0, delivery_url.find_first_of("?#"));
  const auto scheme = base.find("://");
  const auto slash = base.rfind('/');
  if (slash != std::string_view::npos && (scheme == std::string_view::npos || slash > scheme + 2)) {
    base = base.substr(0, slash);
  }
  return std::string(base) + "/metadata";
}

std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value,
                                                         std::int64_t now_ms) {
  while (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  while (!value.empty() && value.back() == ' ') {
    value.remove_suffix(1);
  }
  if (value.empty()) {
    return std::nullopt;
  }
  if (std::isdigit(static_cast<unsigned char>(value.front()))) {
    std::int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) {
      return std::nullopt;
    }
    return std::chrono::milliseconds(seconds * 1000);
  }
  // HTTP-date (IMF-fixdate): "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  const std::int64_t at_ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  return std::chrono::milliseconds(std::max<std::int64_t>(0, at_ms - now_ms));
}

DeliveryWorker::DeliveryWorker(net::any_io_executor io, net::thread_pool& blocking,
                               store::Store& store, Preparer& preparer, DeliveryOptions options,
                               DeliveryObserver* observer)
    : strand_(net::make_strand(io)),
      blocking_(blocking),
      store_(store),
      preparer_(preparer),
      options_(std::move(options)),
      observer_(observer),
      client_(io, options_.http),
      wake_(strand_),
      rng_(std::random_device{}()) {}

DeliveryWorker::~DeliveryWorker() = default;

template <typename Fn>
net::awaitable<std::invoke_result_t<Fn>> DeliveryWorker::OnPool(Fn fn) {
  return async::OnPool(blocking_, std::move(fn));
}

void DeliveryWorker::Start() {
  net::dispatch(strand_, [this] {
    if (started_ || stopping_) {
      return;
    }
    started_ = true;
    ++active_;
    net::co_spawn(strand_, Loop(), net::bind_executor(strand_, [this](std::exception_ptr e) {
                    if (e) {
                      log::Log(log::LogLevel::kError, "delivery loop failed");
                    }
                    Finished();
                  }));
  });
}

void DeliveryWorker::Wake() {
  net::post(strand_, [this] {
    wake_pending_ = true;
    wake_.cancel();
  });
}

void DeliveryWorker::Stop() {
  std::promise<void> stopped;
  auto done = stopped.get_future();
  StopAsync([&stopped] { stopped.set_value(); });
  done.wait();
}

void DeliveryWorker::StopAsync(std::function<void()> done) {
  net::dispatch(strand_, [this, done = std::move(done)]() mutable {
    if (stopping_.exchange(true)) {
      done();  // stopped (or stopping) already; a second caller does not wait
      return;
    }
    stopped_ = std::move(done);
    wake_.cancel();
    for (auto& [destination, timer] : probing_) {
      timer->cancel();
    }
    client_.Cancel();
    if (active_ == 0) {
      stop_signalled_ = true;
      stopped_();
    }
  });
}

void DeliveryWorker::WakeLoop() {
  wake_pending_ = true;
  wake_.cancel();
}

void DeliveryWorker::Finished() {
  --active_;
  if (stopping_ && active_ == 0 && !stop_signalled_ && stopped_) {
    stop_signalled_ = true;
    stopped_();
  }
}

net::awaitable<void> DeliveryWorker::Loop() {
  while (!stopping_) {
    store::ClaimOptions claim;
    claim.now_ms = referral::SystemNowMs();
    claim.limit = options_.claim_batch;
    claim.per_destination = options_.per_destination;
    claim.destination_limits = options_.per_agency;
    claim.lease_ms = options_.lease.count();
    wake_pending_ = false;
    auto claimed = co_await OnPool([this, &claim] { return store_.ClaimDeliveries(claim); });
    bool more = false;
    if (claimed) {
      more = static_cast<int>(claimed->size()) >= claim.limit;
      for (store::Delivery& d : *claimed) {
        ++active_;
        net::co_spawn(strand_, Deliver(std::move(d)),
                      net::bind_executor(strand_, [this](std::exception_ptr e) {
                        if (e) {
                          log::Log(log::LogLevel::kError, "delivery failed unexpectedly");
                        }
                        Finished();
                      }));
      }
    } else {
      log::Log(log::LogLevel::kWarn, "cannot claim deliveries",
               {{"error", claimed.error().message()}});
    }
    if (stopping_) {
      break;
    }
    if (!more && !wake_pending_) {
      wake_.expires_after(options_.poll_interval);
      co_await wake_.async_wait(net::as_tuple(net::use_awaitable));
    }
  }
}

net::awaitable<void> DeliveryWorker::Deliver(store::Delivery d) {
  attempts_.fetch_add(1);
  store::DeliveryAttempt a;
  a.id = d.id;
  a.attempt = d.attempts;
  a.started_ms = referral::SystemNowMs();
  auto retry = [&](std::optional<std::chrono::milliseconds> retry_after) {
    const double unit = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    a.outcome = Outcome::kRetry;
    a.next_attempt_ms =
        referral::SystemNowMs() + Backoff(options_, d.retries, unit, retry_after).count();
  };
  if (d.retries > options_.max_attempts) {
    // Claimed more often than the budget allows without a recorded outcome (a crash loop).
    a.outcome = Outcome::kDeadLetter;
    a.error = "too many attempts (" + std::to_string(d.retries - 1) + " without an outcome)";
    a.finished_ms = referral::SystemNowMs();
    co_await Record(std::move(d), std::move(a));
    co_return;
  }
  bool agency_failed = false;  // the agency did not answer, or answered "not now"
  bool no_answer = false;      // not even that: connection refused, timeout, TLS failure
  std::string url;             // where the attempt went
  Preparation prep = co_await OnPool([this, &d] { return preparer_.Prepare(d); });
  switch (prep.kind) {
    case Preparation::Kind::kStop:
      a.outcome = Outcome::kStopped;
      a.error = std::move(prep.reason);
      break;
    case Preparation::Kind::kDeadLetter:
      a.outcome = Outcome::kDeadLetter;
      a.error = std::move(prep.reason);
      break;
    case Preparation::Kind::kRetryLater:
      retry(std::nullopt);
      a.error = std::move(prep.reason);
      break;
    case Preparation::Kind::kSend: {
      url = prep.call.url;
      HttpReply reply = co_await client_.Perform(std::move(prep.call));
      a.http_status = static_cast<int>(reply.status);
      if (reply.cancelled) {
        // The gateway is stopping: give the delivery back, due at once after the restart.
        a.outcome = Outcome::kAbandoned;
        a.error = "interrupted by shutdown";
        a.next_attempt_ms = referral::SystemNowMs();
        break;
      }
      switch (Classify(reply)) {
        case Verdict::kDelivered:
          a.outcome = Outcome::kDelivered;
          break;
        case Verdict::kRetry: {
          agency_failed = true;
          no_answer = reply.transport_error() || reply.status == 0;
          a.error = reply.transport_error() ? reply.error : Excerpt(reply);
          if (d.retries >= options_.max_attempts) {
            a.outcome = Outcome::kDeadLetter;
            a.error = "gave up after " + std::to_string(d.retries) + " attempts: " + a.error;
            break;
          }
          std::optional<std::chrono::milliseconds> retry_after;
          if (const std::string* h = reply.Header("retry-after")) {
            retry_after = ParseRetryAfter(*h, referral::SystemNowMs());
          }
          retry(retry_after);
          break;
        }
        case Verdict::kPermanent:
          a.outcome = Outcome::kDeadLetter;
          a.error = Excerpt(reply);
          break;
      }
      break;
    }
  }
  a.finished_ms = referral::SystemNowMs();
  const std::string destination = d.message.destination;
  const bool delivered = a.outcome == Outcome::kDelivered;
  co_await Record(std::move(d), std::move(a));
  if (delivered && !healthy_.contains(destination)) {
    // The first success since the agency failed (or since start): its backlog need not wait out
    // the backoff any longer.
    healthy_.insert(destination);
    const std::int64_t now = referral::SystemNowMs();
    auto expedited =
        co_await OnPool([this, &destination, now] { return store_.Expedite(destination, now); });
    if (expedited && *expedited > 0) {
      WakeLoop();
    }
  } else if (agency_failed) {
    healthy_.erase(destination);
    if (no_answer) {
      StartProbe(destination, url);
    }
  }
  // This agency has a free slot again: claim now rather than at the next poll.
  WakeLoop();
}

void DeliveryWorker::StartProbe(const std::string& destination, std::string_view delivery_url) {
  if (stopping_ || probing_.contains(destination) || options_.probe_interval.count() <= 0) {
    return;
  }
  probing_.emplace(destination, std::make_unique<net::steady_timer>(strand_));
  ++active_;
  net::co_spawn(strand_, Probe(destination, ProbeUrl(delivery_url)),
                net::bind_executor(strand_, [this, destination](std::exception_ptr e) {
                  if (e) {
                    log::Log(log::LogLevel::kError, "delivery probe failed unexpectedly");
                  }
                  probing_.erase(destination);
                  Finished();
                }));
}

net::awaitable<void> DeliveryWorker::Probe(std::string destination, std::string url) {
  net::steady_timer& timer = *probing_.at(destination);
  auto delay = options_.probe_interval;
  while (!stopping_ && !healthy_.contains(destination)) {
    timer.expires_after(delay);
    co_await timer.async_wait(net::as_tuple(net::use_awaitable));
    if (stopping_ || healthy_.contains(destination)) {
      break;  // stopping, or a delivery to it succeeded meanwhile (which expedited its backlog)
    }
    HttpCall call;
    call.method = "GET";
    call.url = url;
    call.headers.emplace_back("Accept: application/fhir+json");
    probes_.fetch_add(1);
    HttpReply reply = co_await client_.Perform(std::move(call));
    if (reply.cancelled) {
      break;
    }
    if (!reply.transport_error() && reply.status > 0 && reply.status < 500 && reply.status != 429) {
      // It answers again: its backlog need not wait out the backoff any longer.
      log::Log(log::LogLevel::kInfo, "agency answers again", {{"agency", destination}});
      const std::int64_t now = referral::SystemNowMs();
      auto expedited =
          co_await OnPool([this, &destination, now] { return store_.Expedite(destination, now); });
      if (expedited && *expedited > 0) {
        WakeLoop();
      }
      break;
    }
    delay = std::min(2 * delay, std::max(options_.max_probe_interval, options_.probe_interval));
  }
}

net::awaitable<void> DeliveryWorker::Record(store::Delivery d, store::DeliveryAttempt a) {
  auto recorded = co_await OnPool([this, &a] { return store_.RecordAttempt(a); });
  if (!recorded) {
    // The lease runs out and the delivery is tried again: at least once, never lost.
    log::Log(log::LogLevel::kWarn, "cannot record delivery attempt",
             {{"delivery", a.id}, {"error", recorded.error().message()}});
    co_return;
  }
  if (observer_) {
    co_await OnPool([this, &d, &a] {
      try {
        observer_->OnAttempt(d, a);
      } catch (...) {
        // The observer's failure must not stop deliveries; the attempt is already durable.
      }
      return 0;
    });
  }
}

}  // namespace carebridge::delivery
