#include "gateway/delivery/http_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <functional>
#include <map>

#include "gateway/delivery/curl_library.h"

namespace carebridge::delivery {

namespace net = boost::asio;

const std::string* HttpReply::Header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

namespace {

// One socket libcurl opened through us. Shared with the wait handlers, which outlive it when
// libcurl closes the socket while a wait is pending (they then see `closed`).
struct Socket {
  explicit Socket(const net::strand<net::any_io_executor>& strand) : sd(strand) {}
  net::posix::stream_descriptor sd;
  int want = 0;  // CURL_POLL_IN / CURL_POLL_OUT bits libcurl asked for
  bool reading = false;
  bool writing = false;
  bool closed = false;
};

struct Transfer {
  explicit Transfer(const CurlLibrary* library) : curl(library) {}
  const CurlLibrary* curl;  // set whenever easy or headers are
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpCall call;
  HttpReply reply;
  long max_body = 0;
  char error[CURL_ERROR_SIZE] = {};
  // Resumes the caller on its own executor with the reply.
  std::function<void(HttpReply)> complete;

  ~Transfer() {
    if (easy) {
      curl->easy_cleanup(easy);
    }
    if (headers) {
      curl->slist_free_all(headers);
    }
  }
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const auto room = static_cast<size_t>(std::max<long>(0, t->max_body)) - t->reply.body.size();
  t->reply.body.append(data, std::min(n, room));
  return n;  // the rest is drained, not kept: an oversized answer is not a transfer failure
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  if (line.starts_with("HTTP/")) {
    t->reply.headers.clear();  // a new response (after 100 Continue, say) starts over
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    return n;
  }
  std::string name(line.substr(0, colon));
  for (char& c : name) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
    value.remove_prefix(1);
  }
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  t->reply.headers.emplace_back(std::move(name), std::string(value));
  return n;
}

}  // namespace

struct HttpClient::Impl {
  Impl(net::any_io_executor executor, HttpClientOptions opts)
      : strand(net::make_strand(executor)),
        options(std::move(opts)),
        timer(strand),
        curl(LoadCurl(load_error)) {
    if (curl == nullptr) {
      return;  // every transfer fails with load_error
    }
    multi = curl->multi_init();
    curl->multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::OnSocket);
    curl->multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl->multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::OnTimer);
    curl->multi_setopt(multi, CURLMOPT_TIMERDATA, this);
  }

  ~Impl() {
    for (auto& [easy, t] : transfers) {
      curl->multi_remove_handle(multi, easy);
    }
    transfers.clear();
    if (multi) {
      curl->multi_cleanup(multi);  // closes cached connections through OnCloseSocket
    }
    for (auto& [fd, sock] : sockets) {
      boost::system::error_code ec;
      sock->sd.release();
      ::close(fd);
    }
  }

  // --- libcurl callbacks (called from inside curl_multi_* calls, on the strand) ---------------

  static int OnSocket(CURL* /*easy*/, curl_socket_t fd, int what, void* user, void* /*socketp*/) {
    auto* self = static_cast<Impl*>(user);
    auto it = self->sockets.find(fd);
    if (it == self->sockets.end()) {
      return 0;
    }
    const std::shared_ptr<Socket> sock = it->second;
    if (what == CURL_POLL_REMOVE) {
      sock->want = 0;
      boost::system::error_code ec;
      sock->sd.cancel(ec);
      return 0;
    }
    sock->want = what;
    self->Arm(sock, fd);
    return 0;
  }

  static int OnTimer(CURLM* /*multi*/, long timeout_ms, void* user) {
    auto* self = static_cast<Impl*>(user);
    if (timeout_ms < 0) {
      self->timer.cancel();
      return 0;
    }
    // Never call back into libcurl from here: the timeout runs from the event loop.
    self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer.async_wait(net::bind_executor(self->strand, [self](boost::system::error_code ec) {
      if (ec) {
        return;  // replaced or cancelled
      }
      int running = 0;
      self->curl->multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
      self->CheckDone();
    }));
    return 0;
  }

  static curl_socket_t OnOpenSocket(void* user, curlsocktype /*purpose*/,
                                    struct curl_sockaddr* address) {
    auto* self = static_cast<Impl*>(user);
    const int fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd < 0) {
      return CURL_SOCKET_BAD;
    }
    auto sock = std::make_shared<Socket>(self->strand);
    boost::system::error_code ec;
    sock->sd.assign(fd, ec);
    if (ec) {
      ::close(fd);
      return CURL_SOCKET_BAD;
    }
    self->sockets[fd] = std::move(sock);
    return fd;
  }

  static int OnCloseSocket(void* user, curl_socket_t fd) {
    auto* self = static_cast<Impl*>(user);
    if (auto it = self->sockets.find(fd); it != self->sockets.end()) {
      // Asio forgets the descriptor before the close, so a reused fd number is never confused
      // with this one.
      it->second->closed = true;
      boost::system::error_code ec;
      it->second->sd.cancel(ec);
      it->second->sd.release();
      self->sockets.erase(it);
    }
    return ::close(fd);
  }

  // --- event loop side ------------------------------------------------------------------------

  // Starts the waits libcurl wants and that are not pending yet.
  void Arm(const std::shared_ptr<Socket>& sock, curl_socket_t fd) {
    if ((sock->want & CURL_POLL_IN) && !sock->reading) {
      sock->reading = true;
      sock->sd.async_wait(
          net::posix::stream_descriptor::wait_read,
          net::bind_executor(strand, [this, sock, fd](boost::system::error_code ec) {
            sock->reading = false;
            if (!sock->closed) {  // closed: the client may be gone already
              OnReady(sock, fd, ec, CURL_CSELECT_IN);
            }
          }));
    }
    if ((sock->want & CURL_POLL_OUT) && !sock->writing) {
      sock->writing = true;
      sock->sd.async_wait(
          net::posix::stream_descriptor::wait_write,
          net::bind_executor(strand, [this, sock, fd](boost::system::error_code ec) {
            sock->writing = false;
            if (!sock->closed) {  // closed: the client may be gone already
              OnReady(sock, fd, ec, CURL_CSELECT_OUT);
            }
          }));
    }
  }

  void OnReady(const std::shared_ptr<Socket>& sock, curl_socket_t fd, boost::system::error_code ec,
               int direction) {
    if (sock->closed) {
      return;
    }
    if (ec != net::error::operation_aborted) {
      int running = 0;
      curl->multi_socket_action(multi, fd, ec ? CURL_CSELECT_ERR : direction, &running);
      CheckDone();
    }
    if (!sock->closed) {
      Arm(sock, fd);
    }
  }

  void Start(std::unique_ptr<Transfer> t) {
    if (cancelled) {
      Fail(std::move(t), CURLE_ABORTED_BY_CALLBACK, "cancelled", true);
      return;
    }
    if (curl == nullptr) {
      Fail(std::move(t), CURLE_FAILED_INIT, load_error, false);
      return;
    }
    CURL* e = curl->easy_init();
    if (!e) {
      Fail(std::move(t), CURLE_FAILED_INIT, "curl_easy_init failed", false);
      return;
    }
    t->easy = e;
    t->max_body = options.max_response_bytes;
    const HttpCall& c = t->call;
    for (const auto& h : c.headers) {
      t->headers = curl->slist_append(t->headers, h.c_str());
    }
    // No "Expect: 100-continue" round trip before the body.
    t->headers = curl->slist_append(t->headers, "Expect:");
    curl->easy_setopt(e, CURLOPT_URL, c.url.c_str());
    curl->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (c.method == "GET") {
      curl->easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
      curl->easy_setopt(e, CURLOPT_POSTFIELDS, c.body.data());
      curl->easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(c.body.size()));
      if (c.method != "POST") {
        curl->easy_setopt(e, CURLOPT_CUSTOMREQUEST, c.method.c_str());
      }
    }
    curl->easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl->easy_setopt(e, CURLOPT_WRITEFUNCTION, &OnBody);
    curl->easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl->easy_setopt(e, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl->easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl->easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    curl->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl->easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl->easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                      static_cast<long>(options.connect_timeout.count()));
    curl->easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
    curl->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes);
    curl->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, static_cast<long>(options.low_speed_time.count()));
    curl->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!options.ca_file.empty()) {
      curl->easy_setopt(e, CURLOPT_CAINFO, options.ca_file.c_str());
    }
    if (!options.client_cert_file.empty()) {
      curl->easy_setopt(e, CURLOPT_SSLCERT, options.client_cert_file.c_str());
      curl->easy_setopt(e, CURLOPT_SSLKEY, options.client_key_file.c_str());
    }
    curl->easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Impl::OnOpenSocket);
    curl->easy_setopt(e, CURLOPT_OPENSOCKETDATA, this);
    curl->easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &Impl::OnCloseSocket);
    curl->easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    transfers.emplace(e, std::move(t));
    if (curl->multi_add_handle(multi, e) != CURLM_OK) {
      auto node = transfers.extract(e);
      Fail(std::move(node.mapped()), CURLE_FAILED_INIT, "curl_multi_add_handle failed", false);
    }
  }

  // Hands finished transfers back to their callers.
  void CheckDone() {
    int left = 0;
    while (CURLMsg* msg = curl->multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;  // msg is invalid after remove_handle
      auto it = transfers.find(easy);
      curl->multi_remove_handle(multi, easy);
      if (it == transfers.end()) {
        continue;
      }
      std::unique_ptr<Transfer> t = std::move(it->second);
      transfers.erase(it);
      curl->easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &t->reply.status);
      t->reply.curl_code = code;
      if (code != CURLE_OK) {
        t->reply.error = t->error[0] ? t->error : curl->easy_strerror(code);
      }
      Complete(std::move(t));
    }
  }

  void Fail(std::unique_ptr<Transfer> t, CURLcode code, std::string error, bool was_cancelled) {
    t->reply.curl_code = code;
    t->reply.error = std::move(error);
    t->reply.cancelled = was_cancelled;
    Complete(std::move(t));
  }

  void Complete(std::unique_ptr<Transfer> t) {
    auto complete = std::move(t->complete);
    HttpReply reply = std::move(t->reply);
    t.reset();
    complete(std::move(reply));
  }

  void CancelAll() {
    cancelled = true;
    std::vector<std::unique_ptr<Transfer>> aborted;
    for (auto& [easy, t] : transfers) {
      curl->multi_remove_handle(multi, easy);
      aborted.push_back(std::move(t));
    }
    transfers.clear();
    for (auto& t : aborted) {
      Fail(std::move(t), CURLE_ABORTED_BY_CALLBACK, "cancelled", true);
    }
  }

  net::strand<net::any_io_executor> strand;
  HttpClientOptions options;
  net::steady_timer timer;
  std::string load_error;
  const CurlLibrary* curl;  // nullptr: libcurl could not be loaded (load_error says why)
  CURLM* multi = nullptr;
  std::map<curl_socket_t, std::shared_ptr<Socket>> sockets;
  std::map<CURL*, std::unique_ptr<Transfer>> transfers;
  bool cancelled = false;
};

HttpClient::HttpClient(net::any_io_executor executor, HttpClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

HttpClient::~HttpClient() = default;

net::awaitable<HttpReply> HttpClient::Perform(HttpCall call) {
  Impl* impl = impl_.get();
  return net::async_initiate<const net::use_awaitable_t<>, void(HttpReply)>(
      [impl](auto handler, HttpCall c) {
        auto t = std::make_unique<Transfer>(impl->curl);
        t->call = std::move(c);
        // The handler is move-only; std::function wants a copyable callable.
        auto executor = net::get_associated_executor(handler, impl->strand);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        t->complete = [executor, shared](HttpReply reply) {
          net::post(executor, [shared, r = std::move(reply)]() mutable {
            std::move (*shared)(std::move(r));
          });
        };
        net::dispatch(impl->strand,
                      [impl, t = std::move(t)]() mutable { impl->Start(std::move(t)); });
      },
      net::use_awaitable, std::move(call));
}

void HttpClient::Cancel() {
  Impl* impl = impl_.get();
  net::dispatch(impl->strand, [impl] { impl->CancelAll(); });
}

}  // namespace carebridge::delivery
