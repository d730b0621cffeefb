// carebridge: the command-line entry point.
//
//   carebridge serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--port-file FILE]
//                    [--no-tls]
//   carebridge audit verify --data-dir DIR
//   carebridge mappings check [--config FILE | --mappings-dir DIR] [--fixtures DIR]
//   carebridge outbox dead-letters --data-dir DIR | outbox redrive ID --data-dir DIR
//   carebridge version
//   carebridge --help
//
// Exit codes: 0 success (serve: after a graceful shutdown), 2 usage or start-up error (bad
// flags, bad config, certificates, address in use, store cannot open); audit verify: 1 when the
// chain is broken.

#include <unistd.h>

#include <algorithm>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "gateway/api/catalog.h"
#include "gateway/api/directory.h"
#include "gateway/api/fhir_api.h"
#include "gateway/api/release.h"
#include "gateway/audit/checkpoint_signer.h"
#include "gateway/audit/store_signer.h"
#include "gateway/auth/partner.h"
#include "gateway/auth/token.h"
#include "gateway/config/config.h"
#include "gateway/delivery/preparer.h"
#include "gateway/delivery/redrive.h"
#include "gateway/delivery/sla_alerter.h"
#include "gateway/delivery/task_observer.h"
#include "gateway/delivery/worker.h"
#include "gateway/log/log.h"
#include "gateway/mappings_cli.h"
#include "gateway/referral/routing.h"
#include "gateway/server/server.h"
#include "gateway/store/sqlite/sqlite_store.h"

namespace carebridge {
namespace {

constexpr std::string_view kVersion = "0.1.0";

constexpr int kExitOk = 0;
constexpr int kExitStartup = 2;

using Args = std::vector<std::string_view>;

struct Command {
  std::string_view name;
  std::string_view synopsis;
  int (*run)(const Args& args);  // args: what follows the command name
};

void PrintUsage(std::FILE* out);

int Fail(const std::string& message) {
  std::fprintf(stderr, "carebridge: %s\n", message.c_str());
  return kExitStartup;
}

// --- serve ------------------------------------------------------------------------------------

struct ServeFlags {
  std::string config_file;
  std::string listen;
  std::string data_dir;
  std::string port_file;
  bool no_tls = false;
};

// Parses serve's flags (both "--flag value" and "--flag=value"). Returns false with `error` set.
bool ParseServeFlags(const Args& args, ServeFlags& flags, std::string& error) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::string_view value;
    bool has_inline_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline_value = true;
    }
    if (arg == "--no-tls") {
      if (has_inline_value) {
        error = "--no-tls takes no value";
        return false;
      }
      flags.no_tls = true;
      continue;
    }
    std::string* target = nullptr;
    if (arg == "--config") {
      target = &flags.config_file;
    } else if (arg == "--listen") {
      target = &flags.listen;
    } else if (arg == "--data-dir") {
      target = &flags.data_dir;
    } else if (arg == "--port-file") {
      target = &flags.port_file;
    } else {
      error = "unknown argument to serve: " + std::string(arg);
      return false;
    }
    if (!has_inline_value) {
      if (i + 1 >= args.size()) {
        error = std::string(arg) + " needs a value";
        return false;
      }
      value = args[++i];
    }
    if (value.empty()) {
      error = std::string(arg) + " needs a non-empty value";
      return false;
    }
    *target = std::string(value);
  }
  return true;
}

std::string ListenUrl(const config::ServerConfig& server, std::uint16_t port) {
  std::string host = server.listen_host;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return std::string(server.tls ? "https" : "http") + "://" + host + ":" + std::to_string(port);
}

// The `aud` partners put in their client assertions: the configured one, else the token
// endpoint under the public base URL, else under the listen address.
std::string TokenAudience(const config::Config& config) {
  if (!config.token_audience.empty()) {
    return config.token_audience;
  }
  std::string base = config.fhir.base_url;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  if (base.size() >= 5 && base.ends_with("/fhir")) {
    return base.substr(0, base.size() - 5) + "/auth/token";
  }
  return ListenUrl(config.server, config.server.listen_port) + "/auth/token";
}

int Serve(const Args& args) {
  ServeFlags flags;
  std::string error;
  if (!ParseServeFlags(args, flags, error)) {
    return Fail(error + " (see carebridge --help)");
  }

  // Configuration: the file (if any), then flags on top.
  config::Config config;
  if (!flags.config_file.empty()) {
    std::string message;
    auto loaded = config::LoadConfig(flags.config_file, message);
    if (!loaded) {
      return Fail(message);
    }
    config = std::move(*loaded);
  }
  if (!flags.listen.empty() && !config::ParseListenAddress(flags.listen, config.server.listen_host,
                                                           config.server.listen_port)) {
    return Fail("--listen expects HOST:PORT (IPv6 as [::1]:PORT), got " + flags.listen);
  }
  if (!flags.data_dir.empty()) {
    config.store.data_dir = flags.data_dir;
  }
  if (!flags.port_file.empty()) {
    config.server.port_file = flags.port_file;
  }
  if (flags.no_tls) {
    config.server.tls = false;
  }
  log::SetLogLevel(config.log_level);

  std::error_code ec;
  std::filesystem::create_directories(config.store.data_dir, ec);
  if (ec) {
    return Fail("cannot create data directory " + config.store.data_dir + ": " + ec.message());
  }
  store::SqliteOptions store_options;
  store_options.path = (std::filesystem::path(config.store.data_dir) / "carebridge.db").string();
  store_options.read_connections = config.store.read_connections;
  // The audit chain's checkpoints are signed with the gateway's own key (made at first start).
  auto signer = audit::CheckpointSigner::LoadOrCreate(config.store.data_dir);
  if (!signer) {
    return Fail("cannot load or create the audit signing key in " + config.store.data_dir + ": " +
                signer.error().message());
  }
  store_options.audit_signer = audit::MakeStoreSigner(*signer);
  auto store = store::OpenSqliteStore(store_options);
  if (!store) {
    return Fail("cannot open store " + store_options.path + ": " + store.error().message());
  }

  std::string message;
  auto partners = auth::PartnerRegistry::FromJson(config.partners, config.config_dir, message);
  if (!partners) {
    (*store)->Close();
    return Fail("partners: " + message);
  }
  if (auto published = api::PublishPartnerDirectory(**store, *partners); !published) {
    (*store)->Close();
    return Fail("cannot publish the partner directory: " + published.error().message());
  }
  auto catalog = api::LoadMappingCatalog(config, message, api::StoredConceptMaps(**store));
  if (!catalog || !api::PublishCatalog(**store, **catalog)) {
    (*store)->Close();
    return Fail(catalog ? "cannot publish the Questionnaires and ConceptMaps" : message);
  }
  auth::TokenConfig token_config;
  token_config.audience = TokenAudience(config);
  token_config.lifetime = config.token_lifetime;
  auth::TokenService tokens(*partners, token_config);

  // Referrals: the routing rules must be usable before anything is served.
  if (auto routes = referral::RoutingTable::FromJson(config.referrals.routes, message); !routes) {
    (*store)->Close();
    return Fail("referrals." + message);
  }

  boost::asio::thread_pool blocking(static_cast<std::size_t>(config.blocking_threads));
  api::FhirApi api(config, **store, blocking, *partners, tokens);
  api.SetMappingCatalog(*catalog);
  server::Server server(config.server, api);

  // The delivery worker, when some agency takes pushes (the others poll). Declared after the
  // server so that it goes first: its libcurl state refers to the server's event loop.
  delivery::StorePreparerOptions preparer_options;
  for (const auth::Partner& p : partners->partners()) {
    if (p.kind == auth::PartnerKind::kAgency && p.enabled && !p.fhir_endpoint.empty()) {
      std::string base = p.fhir_endpoint;
      while (!base.empty() && base.back() == '/') {
        base.pop_back();
      }
      preparer_options.agencies.push_back({p.id, p.OrganizationReference(), base, {}});
    }
  }
  preparer_options.gateway_base_url = config.fhir.base_url;
  preparer_options.purpose = config.referrals.purpose;
  // The same release policy and recipients as the API's.
  preparer_options.policy = api::ConsentPolicyFrom(config.consent);
  for (delivery::AgencyEndpoint& agency : preparer_options.agencies) {
    if (const auth::Partner* p = partners->FindById(agency.id)) {
      agency.roles = api::RecipientOf(*p).roles;
    }
  }
  if (!config.referrals.alert_webhook.empty()) {
    preparer_options.webhooks.emplace_back(delivery::kSlaWebhook, config.referrals.alert_webhook);
  }
  // Pushed referrals in the agency's dialect, by the same mapping as the API's responses to it.
  preparer_options.map_outbound = [&api](std::string_view agency_id, fhir::json::Value& resource) {
    api.MapOutbound(agency_id, resource);
  };
  delivery::StorePreparer preparer(**store, preparer_options);
  delivery::TaskObserverOptions observer_options;
  if (!config.referrals.alert_webhook.empty()) {
    observer_options.alerts.webhook = delivery::kSlaWebhook;  // "referral not sent" alerts
  }
  observer_options.purpose = config.referrals.purpose;
  observer_options.sensitivity = preparer_options.policy.sensitivity;
  delivery::TaskStatusObserver task_observer(**store, observer_options);  // outcomes into Tasks
  std::unique_ptr<delivery::DeliveryWorker> worker;
  if (!preparer_options.agencies.empty() || !preparer_options.webhooks.empty()) {
    delivery::DeliveryOptions d;
    d.max_attempts = config.referrals.max_attempts;
    d.initial_backoff = config.referrals.initial_backoff;
    d.max_backoff = config.referrals.max_backoff;
    d.poll_interval = config.referrals.poll_interval;
    d.per_destination = config.referrals.per_destination;
    d.per_agency = config.referrals.per_agency;
    d.probe_interval = config.referrals.probe_interval;
    d.max_probe_interval = config.referrals.max_probe_interval;
    d.lease = config.referrals.lease.count() != 0
                  ? config.referrals.lease
                  : std::max<std::chrono::milliseconds>(std::chrono::minutes(1),
                                                        2 * config.referrals.total_timeout);
    d.http.connect_timeout = config.referrals.connect_timeout;
    d.http.total_timeout = config.referrals.total_timeout;
    d.http.client_cert_file = config.referrals.client_cert_file;
    d.http.client_key_file = config.referrals.client_key_file;
    d.http.ca_file = config.referrals.ca_file;
    worker = std::make_unique<delivery::DeliveryWorker>(server.executor(), blocking, **store,
                                                        preparer, d, &task_observer);
    api.SetOutboxListener([w = worker.get()] { w->Wake(); });
  }

  if (auto started = server.Start(message); !started) {
    blocking.join();
    (*store)->Close();
    return Fail(message);
  }

  // SIGINT/SIGTERM: readiness off first (load balancers stop sending), then a graceful stop.
  boost::asio::signal_set signals(server.executor(), SIGINT, SIGTERM);
  signals.async_wait(
      [&api, &server, &worker](const boost::system::error_code& wait_ec, int signal) {
        if (wait_ec) {
          return;
        }
        log::Log(log::LogLevel::kInfo, "shutting down", {{"signal", std::to_string(signal)}});
        api.SetReady(false);
        if (worker) {
          // Deliveries in flight are recorded (handed back) while the event loop still runs.
          worker->StopAsync([&server] { server.Stop(); });
        } else {
          server.Stop();
        }
      });

  // SIGHUP: reload the mapping data on the blocking pool; a set that does not validate is refused
  // and the running one stays.
  boost::asio::signal_set hangup(server.executor(), SIGHUP);
  std::function<void()> await_hangup = [&] {
    hangup.async_wait([&](const boost::system::error_code& wait_ec, int /*signal*/) {
      if (wait_ec) {
        return;
      }
      boost::asio::post(blocking, [&] {
        std::string why;  // logged by ReloadMappingCatalog
        if (auto reloaded = api::ReloadMappingCatalog(config, **store, why)) {
          api.SetMappingCatalog(*reloaded);
        }
      });
      await_hangup();
    });
  };
  await_hangup();

  if (worker) {
    worker->Start();
  }
  // SLA alerts for open referrals, on a thread of their own (blocking store work).
  const referral::SystemClock sla_clock;
  delivery::SlaAlertOptions sla_options;
  sla_options.policy = api::SlaPolicyFrom(config.referrals);
  sla_options.webhook =
      config.referrals.alert_webhook.empty() ? "" : std::string(delivery::kSlaWebhook);
  sla_options.json = config.fhir.json;
  sla_options.interval = config.referrals.alert_interval;
  delivery::SlaAlerter sla_alerter(**store, sla_clock, sla_options);
  if (sla_options.interval.count() > 0) {
    sla_alerter.Start();
  }
  api.SetReady(true);
  std::printf("carebridge listening on %s\n", ListenUrl(config.server, server.port()).c_str());
  std::fflush(stdout);

  server.Run();  // until a signal's graceful stop has drained every connection
  sla_alerter.Stop();

  api.SetReady(false);
  boost::system::error_code ignored;
  signals.cancel(ignored);
  hangup.cancel(ignored);
  blocking.join();
  (*store)->Close();
  log::Log(log::LogLevel::kInfo, "stopped");
  return kExitOk;
}

// --- audit verify -----------------------------------------------------------------------------

// `audit verify --data-dir DIR`: walks <DIR>/carebridge.db's audit chain and checkpoint signatures
// (read-only; a running gateway may keep writing). Exit 0 when the chain holds, 1 naming the first
// broken record, 2 for usage or open errors.
int Audit(const Args& args) {
  constexpr int kExitBroken = 1;
  std::string data_dir;
  bool verify = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "verify" && !verify) {
      verify = true;
    } else if (arg == "--data-dir" && i + 1 < args.size()) {
      data_dir = std::string(args[++i]);
    } else if (arg.starts_with("--data-dir=")) {
      data_dir = std::string(arg.substr(arg.find('=') + 1));
    } else {
      return Fail("audit: unexpected argument '" + std::string(arg) +
                  "' (usage: carebridge audit verify --data-dir DIR)");
    }
  }
  if (!verify || data_dir.empty()) {
    return Fail("usage: carebridge audit verify --data-dir DIR");
  }
  store::SqliteOptions options;
  options.path = (std::filesystem::path(data_dir) / "carebridge.db").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.path, ec)) {
    return Fail("audit verify: no database at " + options.path);
  }
  if (auto signer = audit::CheckpointSigner::LoadForVerify(data_dir); signer) {
    options.audit_signer = audit::MakeStoreSigner(*signer);
  } else if (signer.error() != std::make_error_code(std::errc::no_such_file_or_directory)) {
    return Fail("audit verify: cannot load the audit public key: " + signer.error().message());
  }
  auto report = store::VerifySqliteAudit(options);
  if (!report) {
    return Fail("audit verify: cannot read " + options.path + ": " + report.error().message());
  }
  if (!report->ok) {
    std::printf("audit chain BROKEN at record %lld%s%s: %s (%lld records verified before it)\n",
                static_cast<long long>(report->broken_seq),
                report->broken_id.empty() ? "" : " AuditEvent/", report->broken_id.c_str(),
                report->reason.c_str(), static_cast<long long>(report->records));
    return kExitBroken;
  }
  std::printf("audit chain OK: %lld records, %lld signed checkpoints, head %s\n",
              static_cast<long long>(report->records), static_cast<long long>(report->checkpoints),
              report->last_hash_hex.c_str());
  return kExitOk;
}

// --- outbox ---------------------------------------------------------------------------------

// `outbox dead-letters --data-dir DIR`: lists the referral deliveries in the dead letter, dead or
// consent-stopped, one per line (id, state, agency, resource, attempts, last HTTP status, last
// error).
// `outbox redrive ID --data-dir DIR`: puts a dead (or consent-stopped) delivery back in the queue
// with a fresh retry budget, and its referral Task back to requested when the failure had failed
// it (delivery::RedriveDelivery, as POST $redrive); a running gateway picks it up at its next
// poll. Exit 0 on success, 1 when there is no such delivery, it is not dead or stopped, or its
// referral moved on since (cancelled...), 2 for usage or open errors.
int Outbox(const Args& args) {
  constexpr int kExitRefused = 1;
  constexpr std::string_view kUsage =
      "usage: carebridge outbox dead-letters --data-dir DIR | outbox redrive ID --data-dir DIR";
  std::string data_dir;
  std::string action;
  std::string id;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--data-dir" && i + 1 < args.size()) {
      data_dir = std::string(args[++i]);
    } else if (arg.starts_with("--data-dir=")) {
      data_dir = std::string(arg.substr(arg.find('=') + 1));
    } else if (action.empty() && (arg == "dead-letters" || arg == "redrive")) {
      action = std::string(arg);
    } else if (action == "redrive" && id.empty() && !arg.starts_with("-")) {
      id = std::string(arg);
    } else {
      return Fail("outbox: unexpected argument '" + std::string(arg) + "' (" + std::string(kUsage) +
                  ")");
    }
  }
  if (action.empty() || data_dir.empty() || (action == "redrive" && id.empty())) {
    return Fail(std::string(kUsage));
  }
  store::SqliteOptions options;
  options.path = (std::filesystem::path(data_dir) / "carebridge.db").string();
  options.read_connections = 1;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(options.path, ec)) {
    return Fail("outbox: no database at " + options.path);
  }
  auto store = store::OpenSqliteStore(options);
  if (!store) {
    return Fail("outbox: cannot open " + options.path + ": " + store.error().message());
  }
  int rc = kExitOk;
  if (action == "dead-letters") {
    auto dead = (*store)->ListDeadLetters(10'000, 0);
    if (!dead) {
      rc = Fail("outbox: cannot read the dead letters: " + dead.error().message());
    } else {
      for (const store::Delivery& d : *dead) {
        std::printf("%s\t%s\t%s\t%s/%s\tattempts=%d\thttp=%d\t%s\n", d.id.c_str(),
                    std::string(store::ToCode(d.state)).c_str(), d.message.destination.c_str(),
                    d.message.resource_type.c_str(), d.message.resource_id.c_str(), d.attempts,
                    d.last_http_status, d.last_error.c_str());
      }
    }
  } else {
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    auto r = delivery::RedriveDelivery(**store, id, now);
    if (!r) {
      rc = Fail("outbox: cannot re-drive " + id + ": " + r.error().message());
    } else if (r->kind == delivery::RedriveOutcome::Kind::kRedriven) {
      std::printf("re-driven: %s\n", r->message.c_str());
    } else {
      std::fprintf(stderr, "carebridge: outbox: %s\n", r->message.c_str());
      rc = kExitRefused;
    }
  }
  (*store)->Close();
  return rc;
}

// --- version, help ----------------------------------------------------------------------------

int Version(const Args& /*args*/) {
  std::printf("carebridge %.*s\n", static_cast<int>(kVersion.size()), kVersion.data());
  return kExitOk;
}

int Help(const Args& /*args*/) {
  PrintUsage(stdout);
  return kExitOk;
}

// Subcommands. New ones (e.g. `audit verify`, `mappings check`) are added here: a name, a
// one-line synopsis for --help, and a function taking the remaining arguments.
constexpr Command kCommands[] = {
    {"serve",
     "serve [--config FILE] [--listen HOST:PORT] [--data-dir DIR] [--port-file FILE] [--no-tls]\n"
     "        Run the FHIR gateway until SIGINT/SIGTERM, then shut down gracefully.\n"
     "        Flags override the config file; without --config the built-in defaults apply.\n"
     "        SIGHUP reloads the mapping data (mappings_dir), keeping the running set if the\n"
     "        new one does not validate.",
     Serve},
    {"audit",
     "audit verify --data-dir DIR\n"
     "        Check the audit log's hash chain and signed checkpoints; exit 0 when it holds,\n"
     "        1 naming the first broken record.",
     Audit},
    {"mappings",
     "mappings check [--config FILE | --mappings-dir DIR] [--fixtures DIR]\n"
     "        Load every ConceptMap, partner mapping and Questionnaire and check each partner's\n"
     "        round trip on its fixtures; exit 0 when all hold, 1 naming what does not.",
     RunMappingsCommand},
    {"outbox",
     "outbox dead-letters --data-dir DIR | outbox redrive ID --data-dir DIR\n"
     "        List referral deliveries in the dead letter (dead or stopped), or re-drive one\n"
     "        (fresh retry budget; its referral Task requested again).",
     Outbox},
    {"version", "version\n        Print the version.", Version},
    {"help", "help, --help, -h\n        Print this help.", Help},
};

void PrintUsage(std::FILE* out) {
  std::fprintf(out, "carebridge %.*s: FHIR R4 gateway for behavioral-health care coordination\n\n",
               static_cast<int>(kVersion.size()), kVersion.data());
  std::fprintf(out, "usage: carebridge COMMAND [ARGS]\n\ncommands:\n");
  for (const Command& command : kCommands) {
    std::fprintf(out, "  carebridge %.*s\n", static_cast<int>(command.synopsis.size()),
                 command.synopsis.data());
  }
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(stderr);
    return kExitStartup;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h") {
    name = "help";
  } else if (name == "--version") {
    name = "version";
  }
  Args args(argv + 2, argv + argc);
  for (const Command& command : kCommands) {
    if (command.name == name) {
      return command.run(args);
    }
  }
  std::fprintf(stderr, "carebridge: unknown command '%s'\n\n", argv[1]);
  PrintUsage(stderr);
  return kExitStartup;
}

}  // namespace

// glibc's malloc keeps 7 freed chunks per size class and thread before it goes to its arenas; a
// request allocates and frees many more of a size than that (strings, JSON trees, SQLite's
// records), and malloc and free were ~13% of the CPU of a read. With 64 kept per size class a read
// took ~8% less CPU and a read under consent ~10% less; 256 saved no more and kept ~4 MB more
// resident at 64 connections. glibc reads the setting only at process start, so `serve` runs
// itself again with it set, unless the operator set tcache_count already. If the exec fails the
// gateway carries on with the default.
void TuneMallocThenReexec(char** argv) {
  constexpr std::string_view kTunable = "glibc.malloc.tcache_count";
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::string_view(current).find(kTunable) != std::string_view::npos) {
    return;
  }
  std::string tunables = current != nullptr && *current != '\0' ? std::string(current) + ":" : "";
  tunables += std::string(kTunable) + "=64";
  if (setenv("GLIBC_TUNABLES", tunables.c_str(), 1) == 0) {
    execv("/proc/self/exe", argv);
  }
}

}  // namespace carebridge

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "serve") {
    carebridge::TuneMallocThenReexec(argv);
  }
  // Exceptions are for start-up failures only (see STYLE.md); report them and exit.
  try {
    return carebridge::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "carebridge: %s\n", e.what());
  }
  return carebridge::kExitStartup;
}
