#pragma once

// Internal to gateway/api: the pieces of FhirApi shared by its .cc files.

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "fhir/json/json.h"
#include "fhir/outcome.h"
#include "gateway/api/fhir_api.h"
#include "gateway/api/http.h"
#include "gateway/api/url.h"
#include "gateway/config/config.h"
#include "gateway/store/store.h"

namespace carebridge::api {

namespace net = boost::asio;

// One request on its way through the API. Shared by the coroutines that serve it, which take it
// by value (coroutine parameters must own what they use).
struct Call {
  HttpRequest request;
  Target target;
  std::string base;           // "https://host:port/fhir", no trailing slash
  std::string response_type;  // the negotiated JSON media type
};
using CallPtr = std::shared_ptr<Call>;

// A resource body parsed and checked, or the response that explains why not.
struct ParsedBody {
  std::optional<fhir::json::Value> resource;
  std::optional<HttpResponse> error;
};

struct FhirApi::Impl {
  Impl(const config::Config& config, store::Store& store, net::thread_pool& blocking);

  net::awaitable<HttpResponse> Route(CallPtr call);

  // Interactions (fhir_api.cc).
  net::awaitable<HttpResponse> Read(CallPtr call, std::string type, std::string id);
  net::awaitable<HttpResponse> VRead(CallPtr call, std::string type, std::string id,
                                     std::string version);
  net::awaitable<HttpResponse> Create(CallPtr call, std::string type);
  net::awaitable<HttpResponse> Update(CallPtr call, std::string type, std::string id);
  net::awaitable<HttpResponse> Delete(CallPtr call, std::string type, std::string id);
  net::awaitable<HttpResponse> Search(CallPtr call, std::string type, QueryParams params);
  net::awaitable<HttpResponse> History(CallPtr call, std::string type, std::string id);

  // Bundle batch/transaction (transaction.cc).
  net::awaitable<HttpResponse> ProcessBundle(CallPtr call);

  // Parses and validates a body for `type`: 400 for JSON or resourceType problems, 422 when the
  // JSON is a resource that breaks FHIR's rules.
  ParsedBody ParseResource(std::string_view body, std::string_view type) const;

  // A write op that stores `resource` (with meta stamped by the store's version).
  static store::WriteOp MakeWriteOp(store::WriteOp::Kind kind, std::string type, std::string id,
                                    fhir::json::Value resource);

  HttpResponse ResourceResponse(const CallPtr& call, int status, const store::ResourceVersion& v,
                                bool with_location) const;
  HttpResponse ResourceResponse(const CallPtr& call, int status, std::string type,
                                const store::VersionStamp& stamp, std::string json,
                                bool with_location) const;

  // Runs blocking `fn` on the blocking pool and resumes on the caller's executor.
  template <typename Fn>
  net::awaitable<std::invoke_result_t<Fn>> OnPool(Fn fn) {
    using R = std::invoke_result_t<Fn>;
    return net::async_initiate<const net::use_awaitable_t<>, void(R)>(
        [this](auto handler, Fn work) {
          net::post(blocking, [handler = std::move(handler), work = std::move(work)]() mutable {
            R result = work();
            auto executor = net::get_associated_executor(handler);
            net::dispatch(executor,
                          [handler = std::move(handler), result = std::move(result)]() mutable {
                            std::move(handler)(std::move(result));
                          });
          });
        },
        net::use_awaitable, std::move(fn));
  }

  // Hands `batch` to the store's group-commit writer and resumes once it is durable.
  net::awaitable<store::WriteResult> Commit(store::WriteBatch batch);

  const config::Config& config;
  store::Store& store;
  net::thread_pool& blocking;
  std::string capability_statement;
};

}  // namespace carebridge::api
