#pragma once

// Blocking work off the I/O threads: the API and the delivery worker run store calls this way.

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace carebridge::async {

// Runs `work` on `pool` and resumes the awaiting coroutine on its own executor with the result.
// Pass lambdas that capture the coroutine's locals by reference (they outlive the co_await):
// g++ 12 destroys some by-value captures of a co_await operand twice.
template <typename Fn>
boost::asio::awaitable<std::invoke_result_t<Fn>> OnPool(boost::asio::thread_pool& pool, Fn work) {
  namespace net = boost::asio;
  using R = std::invoke_result_t<Fn>;
  return net::async_initiate<const net::use_awaitable_t<>, void(R)>(
      [&pool](auto handler, Fn fn) {
        net::post(pool, [handler = std::move(handler), fn = std::move(fn)]() mutable {
          R result = fn();
          auto executor = net::get_associated_executor(handler);
          net::dispatch(executor,
                        [handler = std::move(handler), result = std::move(result)]() mutable {
                          std::move(handler)(std::move(result));
                        });
        });
      },
      net::use_awaitable, std::move(work));
}

}  // namespace carebridge::async
