// Referral delivery benchmark (issue 6, Speed): a referral's way from the partner's POST to the
// agency's 2xx, and the drain of a backlog queued during an agency outage. Reports, never asserts.
//
// The real carebridge binary (Release, TLS, SQLite with fsync, the example partner set through
// tests/integration/harness.h) routes each ServiceRequest (performer empty, category SDOH
// housing-instability) to harbor-housing, whose push endpoint is tests/support/agency.h in this
// process: HTTPS with mutual TLS, conditional create, the arrival time of every Task. Both clocks
// are this process's steady clock.
//
// Per repeat (a fresh gateway and data directory each time):
//   paced     N referrals at --rate per second (open loop: each is sent at its scheduled time, or
//             at once when the previous answer came late), latency = the Task's arrival at the
//             agency - the moment the POST was sent;
//   b2b       N referrals back to back on one keep-alive connection, same latency;
//   outage    the agency goes down, N referrals are created, the agency stays down until
//             --outage-s seconds after it went down, then comes back on the same port; drain =
//             the last Task's arrival - the moment the agency listened again. Exactly once: every
//             referral's Task arrives, none twice (requests per identifier) and the agency's
//             conditional create created each once.
// Prints each repeat, then medians over the repeats and the targets (p99 < 50 ms; drain <= 10 s)
// as met / missed; --json FILE writes the raw figures.

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fhir/json/json.h"
#include "tests/integration/harness.h"
#include "tests/support/agency.h"

namespace carebridge::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kSdoh =
    "http://hl7.org/fhir/us/sdoh-clinicalcare/CodeSystem/SDOHCC-CodeSystemTemporaryCodes";

struct Options {
  int n = 1000;
  double rate = 50;  // paced referrals per second
  int repeats = 3;
  double outage_s = 20;
  int warmup = 20;
  std::string delivery;  // extra members of referrals.delivery, e.g. "per_destination": 8
  std::string json_out;
};

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return -1;
  }
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(rank, v.size() - 1)];
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 50); }

// The example configuration's routing and delivery settings (deploy/carebridge.example.json),
// with the test run's certificates.
std::string ReferralsConfig(const Options& o) {
  const std::filesystem::path& certs = CertsDir();
  return R"("referrals": {"routes": [{"agency": "harbor-housing",
    "organization": "Organization/harbor-housing", "categories": [")" +
         std::string(kSdoh) + R"(|housing-instability", ")" + kSdoh +
         R"(|homelessness"]}, {"agency": "northside-food",
    "organization": "Organization/northside-food", "categories": [")" +
         kSdoh + R"(|food-insecurity"]}], "purpose": "TREAT",
    "delivery": {"max_attempts": 400, "initial_backoff_ms": 2000, "max_backoff_ms": 300000,
                 "poll_interval_ms": 1000, "connect_timeout_ms": 5000, "total_timeout_ms": 30000,
                 "client_cert": ")" +
         (certs / "care-coordination.crt").string() + R"(", "client_key": ")" +
         (certs / "care-coordination.key").string() + R"(", "ca": ")" +
         (certs / "ca.crt").string() + '"' + (o.delivery.empty() ? "" : ", ") + o.delivery + "}}";
}

std::string ConsentFor(const std::string& patient, const std::string& organization) {
  return R"({"resourceType":"Consent","status":"active",
    "scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
    "category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
    "patient":{"reference":"Patient/)" +
         patient + R"("},"dateTime":"2026-01-01",
    "provision":{"type":"permit",
      "actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},
                "reference":{"reference":"Organization/)" +
         organization + R"("}}],
      "action":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentaction","code":"disclose"}]}],
      "purpose":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"TREAT"}]}})";
}

std::string ServiceRequest(const std::string& patient) {
  return R"({"resourceType":"ServiceRequest","status":"active","intent":"order",
    "category":[{"coding":[{"system":")" +
         std::string(kSdoh) + R"(","code":"housing-instability"}]}],
    "subject":{"reference":"Patient/)" +
         patient + R"("}})";
}

// The ServiceRequest id a delivered Task points at (focus: <gateway>/fhir/ServiceRequest/<id>).
std::string FocusOf(const std::string& task_json) {
  std::string message;
  auto task = fhir::json::Parse(task_json, fhir::json::Limits{}, message);
  if (!task) {
    return {};
  }
  const fhir::json::Value* focus = task->Find("focus");
  if (focus == nullptr) {
    return {};
  }
  const std::string reference(focus->StringAt("reference"));
  const auto slash = reference.rfind('/');
  return slash == std::string::npos ? reference : reference.substr(slash + 1);
}

struct Sent {
  std::string service_request;
  Clock::time_point at;
};

struct LatencyResult {
  double p50 = -1, p99 = -1, max = -1;
  double seconds = 0;  // from the first POST to the last arrival
  int sent = 0, delivered = 0, failed_posts = 0;
};

struct OutageResult {
  double drain_s = -1;  // recovery -> last Task arrived
  double create_s = 0;  // time to create the backlog
  int referrals = 0, arrived_unique = 0, duplicate_requests = 0, duplicate_creations = 0;
  int probes = 0;  // metadata reads by the gateway while recovering
};

bool WaitFor(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(5ms);
  }
  return done();
}

class Bench {
 public:
  explicit Bench(Options o) : o_(std::move(o)) {}

  // One repeat: a fresh agency and gateway. False when they could not start.
  bool Repeat(LatencyResult& paced, LatencyResult& b2b, OutageResult& outage) {
    AgencyServer agency;
    // A port below the ephemeral range (32768-60999 on Linux): while the agency is down, the
    // gateway's many connection attempts to an ephemeral port could connect to themselves (TCP
    // self-connect) and hold it, and the agency could not come back.
    std::string message;
    bool up = false;
    for (int attempt = 0; attempt < 50 && !up; ++attempt) {
      const auto port = static_cast<std::uint16_t>(20000 + (getpid() * 31 + attempt * 977) % 10000);
      up = agency.Up(CertsDir(), port, message);
    }
    if (!up) {
      std::cerr << "agency: " << message << "\n";
      return false;
    }
    TempDir dir;
    GatewayProcess gateway(dir.path() / "data", {}, {}, ReferralsConfig(o_));
    gateway.SetPartnerEndpoint("harbor-housing", agency.BaseUrl());
    if (!gateway.Start()) {
      return false;
    }
    Client ehr(gateway.BaseUrl(), "riverside-ehr");
    Response patient = ehr.Post("/fhir/Patient", R"({"resourceType":"Patient"})");
    if (patient.status != 201) {
      std::cerr << "Patient: HTTP " << patient.status << " " << patient.body << "\n";
      return false;
    }
    patient_ = std::string(patient.Json().StringAt("id"));
    for (const char* organization : {"harbor-housing", "riverside-ehr"}) {
      Response consent = ehr.Post("/fhir/Consent", ConsentFor(patient_, organization));
      if (consent.status != 201) {
        std::cerr << "Consent: HTTP " << consent.status << " " << consent.body << "\n";
        return false;
      }
    }
    // Warm-up: connections, caches, the worker's first claims.
    RunLatency(ehr, agency.agency, o_.warmup, 20);
    agency.agency.Clear();
    paced = RunLatency(ehr, agency.agency, o_.n, o_.rate);
    agency.agency.Clear();
    b2b = RunLatency(ehr, agency.agency, o_.n, 0);
    agency.agency.Clear();
    outage = RunOutage(ehr, agency, gateway);
    const int status = gateway.Stop();
    if (status != 0) {
      std::cerr << "carebridge exited with " << status << "; log: " << gateway.log_path() << "\n";
    }
    return true;
  }

 private:
  Sent Refer(Client& ehr, int& failed) {
    Sent s;
    s.at = Clock::now();
    Response r = ehr.Post("/fhir/ServiceRequest", ServiceRequest(patient_));
    if (r.status != 201) {
      ++failed;
      if (failed <= 3) {
        std::cerr << "ServiceRequest: HTTP " << r.status << " " << r.body.substr(0, 300) << "\n";
      }
      return s;
    }
    s.service_request = std::string(r.Json().StringAt("id"));
    return s;
  }

  // `rate` 0: back to back.
  LatencyResult RunLatency(Client& ehr, Agency& agency, int n, double rate) {
    LatencyResult out;
    std::vector<Sent> sent;
    sent.reserve(static_cast<std::size_t>(n));
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < n; ++i) {
      if (rate > 0) {
        std::this_thread::sleep_until(start + std::chrono::duration_cast<Clock::duration>(
                                                  std::chrono::duration<double>(i / rate)));
      }
      sent.push_back(Refer(ehr, out.failed_posts));
    }
    out.sent = n;
    const int expected = n - out.failed_posts;
    WaitFor([&] { return agency.requests() >= expected; }, 60s);
    std::map<std::string, Clock::time_point> arrived;  // first 2xx arrival per ServiceRequest
    for (const Seen& s : agency.seen()) {
      if (s.status >= 200 && s.status < 300) {
        arrived.emplace(FocusOf(s.body), s.arrived);
      }
    }
    std::vector<double> latencies;
    Clock::time_point last = start;
    for (const Sent& s : sent) {
      auto it = arrived.find(s.service_request);
      if (s.service_request.empty() || it == arrived.end()) {
        continue;
      }
      latencies.push_back(Ms(it->second - s.at));
      last = std::max(last, it->second);
    }
    out.delivered = static_cast<int>(latencies.size());
    out.p50 = Percentile(latencies, 50);
    out.p99 = Percentile(latencies, 99);
    out.max = latencies.empty() ? -1 : *std::max_element(latencies.begin(), latencies.end());
    out.seconds = Ms(last - start) / 1000;
    return out;
  }

  OutageResult RunOutage(Client& ehr, AgencyServer& agency, GatewayProcess& /*gateway*/) {
    OutageResult out;
    agency.Down();
    const Clock::time_point down = Clock::now();
    int failed = 0;
    for (int i = 0; i < o_.n; ++i) {
      Refer(ehr, failed);
    }
    out.create_s = Ms(Clock::now() - down) / 1000;
    out.referrals = o_.n - failed;
    std::this_thread::sleep_until(down + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(o_.outage_s)));
    agency.agency.Clear();
    std::string message;
    bool listening = agency.Up(CertsDir(), agency.port(), message);
    for (int attempt = 0; attempt < 100 && !listening; ++attempt) {
      std::this_thread::sleep_for(50ms);
      listening = agency.Up(CertsDir(), agency.port(), message);
    }
    if (!listening) {
      std::cerr << "agency: " << message << "\n";
      return out;
    }
    const Clock::time_point up = Clock::now();
    WaitFor([&] { return static_cast<int>(agency.agency.creations().size()) >= out.referrals; },
            300s);
    std::this_thread::sleep_for(500ms);  // late duplicates, if any, would arrive now
    Clock::time_point last = up;
    std::map<std::string, int> per_key;
    for (const Seen& s : agency.agency.seen()) {
      last = std::max(last, s.arrived);
      ++per_key[s.if_none_exist];
    }
    for (const auto& [key, n] : per_key) {
      out.duplicate_requests += n - 1;
    }
    out.arrived_unique = static_cast<int>(agency.agency.creations().size());
    for (const auto& [key, n] : agency.agency.asks()) {
      out.duplicate_creations += n > 1 ? 1 : 0;  // asked again: conditional create made it 200
    }
    out.probes = agency.agency.metadata_reads();
    if (out.arrived_unique >= out.referrals) {
      out.drain_s = Ms(last - up) / 1000;
    }
    return out;
  }

  Options o_;
  std::string patient_;
};

std::string Fixed(double v, int digits = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

void PrintLatency(const char* name, const LatencyResult& r) {
  std::cout << "  " << name << ": delivered " << r.delivered << "/" << r.sent
            << (r.failed_posts ? " (failed POSTs " + std::to_string(r.failed_posts) + ")" : "")
            << "  p50 " << Fixed(r.p50) << " ms  p99 " << Fixed(r.p99) << " ms  max "
            << Fixed(r.max) << " ms  (" << Fixed(r.seconds) << " s)\n";
}

std::string LatencyJson(const LatencyResult& r) {
  return R"({"p50_ms":)" + Fixed(r.p50, 3) + R"(,"p99_ms":)" + Fixed(r.p99, 3) + R"(,"max_ms":)" +
         Fixed(r.max, 3) + R"(,"sent":)" + std::to_string(r.sent) + R"(,"delivered":)" +
         std::to_string(r.delivered) + R"(,"failed_posts":)" + std::to_string(r.failed_posts) +
         R"(,"seconds":)" + Fixed(r.seconds, 3) + "}";
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--n") {
      o.n = std::stoi(next());
    } else if (a == "--rate") {
      o.rate = std::stod(next());
    } else if (a == "--repeats") {
      o.repeats = std::stoi(next());
    } else if (a == "--outage-s") {
      o.outage_s = std::stod(next());
    } else if (a == "--warmup") {
      o.warmup = std::stoi(next());
    } else if (a == "--delivery") {
      o.delivery = next();
    } else if (a == "--json") {
      o.json_out = next();
    } else {
      std::cerr << "usage: referral_bench [--n N] [--rate R] [--repeats K] [--outage-s S] "
                   "[--warmup N] [--delivery 'JSON members'] [--json FILE]\n";
      return 2;
    }
  }
  std::cout << "referral bench: n " << o.n << ", paced " << o.rate << "/s, repeats " << o.repeats
            << ", outage " << o.outage_s << " s"
            << (o.delivery.empty() ? "" : ", delivery {" + o.delivery + "}") << "\n";
  std::vector<LatencyResult> paced, b2b;
  std::vector<OutageResult> outage;
  for (int r = 0; r < o.repeats; ++r) {
    LatencyResult p, b;
    OutageResult d;
    Bench bench(o);
    if (!bench.Repeat(p, b, d)) {
      std::cerr << "repeat " << r + 1 << " could not start\n";
      return 1;
    }
    std::cout << "repeat " << r + 1 << ":\n";
    PrintLatency("paced", p);
    PrintLatency("b2b  ", b);
    std::cout << "  outage: " << d.referrals << " referrals created in " << Fixed(d.create_s)
              << " s; after recovery " << d.arrived_unique << " arrived in "
              << (d.drain_s < 0 ? std::string("(not all)") : Fixed(d.drain_s, 2) + " s")
              << ", duplicate requests " << d.duplicate_requests << ", duplicate creations "
              << d.duplicate_creations << ", health probes " << d.probes << "\n"
              << std::flush;
    paced.push_back(p);
    b2b.push_back(b);
    outage.push_back(d);
  }
  auto med = [](const std::vector<LatencyResult>& v, double LatencyResult::*field) {
    std::vector<double> x;
    for (const auto& r : v) {
      x.push_back(r.*field);
    }
    return Median(x);
  };
  std::vector<double> drains;
  bool exactly_once = true;
  for (const auto& d : outage) {
    drains.push_back(d.drain_s < 0 ? 1e9 : d.drain_s);
    exactly_once = exactly_once && d.arrived_unique == d.referrals && d.duplicate_requests == 0;
  }
  const double drain = Median(drains);
  std::cout << "medians over " << o.repeats << " repeats:\n";
  for (const auto& [name, v] : {std::pair{"paced", &paced}, std::pair{"b2b  ", &b2b}}) {
    const double p99 = med(*v, &LatencyResult::p99);
    std::cout << "  " << name << ": p50 " << Fixed(med(*v, &LatencyResult::p50)) << " ms  p99 "
              << Fixed(p99) << " ms  max " << Fixed(med(*v, &LatencyResult::max))
              << " ms   target p99 < 50 ms: " << (p99 >= 0 && p99 < 50 ? "met" : "MISSED") << "\n";
  }
  std::cout << "  outage drain: " << (drain >= 1e9 ? std::string("incomplete") : Fixed(drain, 2))
            << " s   target <= 10 s: " << (drain <= 10 ? "met" : "MISSED")
            << "   exactly once: " << (exactly_once ? "yes" : "NO") << "\n";
  if (!o.json_out.empty()) {
    std::ofstream out(o.json_out);
    out << R"({"n":)" << o.n << R"(,"rate":)" << o.rate << R"(,"outage_s":)" << o.outage_s
        << R"(,"delivery":")" << (o.delivery.empty() ? "" : "custom") << R"(","repeats":[)";
    for (std::size_t i = 0; i < paced.size(); ++i) {
      out << (i ? "," : "") << R"({"paced":)" << LatencyJson(paced[i]) << R"(,"b2b":)"
          << LatencyJson(b2b[i]) << R"(,"outage":{"drain_s":)" << Fixed(outage[i].drain_s, 3)
          << R"(,"referrals":)" << outage[i].referrals << R"(,"arrived_unique":)"
          << outage[i].arrived_unique << R"(,"duplicate_requests":)" << outage[i].duplicate_requests
          << R"(,"duplicate_creations":)" << outage[i].duplicate_creations << R"(,"probes":)"
          << outage[i].probes << "}}";
    }
    out << "]}\n";
  }
  return 0;
}

}  // namespace
}  // namespace carebridge::testing

int main(int argc, char** argv) { return carebridge::testing::Main(argc, argv); }
