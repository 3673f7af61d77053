#pragma once
// Outbound HTTP(S) and WebSocket (ws/wss) clients. HttpClient pools keep-alive
// connections per origin (so TLS handshakes are reused), verifies certificates and host
// names by default, times out stalled reads and retries what is safe to retry with
// jittered backoff. Used by the ElevenLabs and Twilio clients, the simulators and tests.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "net/http_types.hpp"

namespace vox::net {

struct ParsedUrl {
  std::string scheme;  // http, https, ws, wss
  std::string host;
  std::string port;    // always set (defaulted from the scheme)
  std::string target;  // path + query, at least "/"
  bool secure() const { return scheme == "https" || scheme == "wss"; }
};

// Parses an absolute URL; nullopt when it is not one.
std::optional<ParsedUrl> parse_url(std::string_view url);

using Headers = std::vector<std::pair<std::string, std::string>>;

// Certificate checking for https:// and wss://. Verification of the chain and of the
// host name is on unless `verify` is false; `ca_file` replaces the system CA store.
// (Not an aggregate on purpose: GCC 12 corrupts aggregate prvalues passed by value to
// coroutines, e.g. a defaulted `TlsOptions tls = {}` argument.)
struct TlsOptions {
  TlsOptions() {}
  explicit TlsOptions(std::string ca, bool verify_peer = true) : ca_file(std::move(ca)), verify(verify_peer) {}
  std::string ca_file;
  bool verify = true;
};

// A connection-level failure (no HTTP status to show for it).
class TransportError : public std::runtime_error {
 public:
  enum class Kind { kConnect, kTls, kTimeout, kReset, kProtocol, kCancelled };
  TransportError(Kind kind, const std::string& what) : std::runtime_error(what), kind(kind) {}
  Kind kind;
};

struct RetryPolicy {
  int max_attempts = 3;                          // including the first
  std::chrono::milliseconds base_delay{150};     // doubled per attempt, with jitter
  std::chrono::milliseconds max_delay{2000};
};

struct HttpClientOptions {
  TlsOptions tls;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds read_timeout{15000};  // no progress for this long: stalled
  std::size_t max_idle_per_origin = 32;
  std::chrono::seconds idle_ttl{50};
  RetryPolicy retry;
  std::string user_agent = "voxbridge/0.1";
};

struct ClientRequest {
  ClientRequest() {}  // not an aggregate: see TlsOptions
  std::string method = "GET";
  std::string url;
  Headers headers;
  std::string body;
  // GET/HEAD/PUT/DELETE are retried on 429/5xx/transport failures; set this for a POST
  // that is safe to repeat (e.g. speech synthesis).
  bool retry_safe = false;
  std::optional<std::chrono::milliseconds> read_timeout;
  // The whole request, every attempt, connect and backoff included: no attempt or retry
  // starts that would end past it, and each attempt's timeouts are cut to what is left.
  // Unset: bounded only by the timeouts and the retry policy (3 attempts of up to
  // read_timeout each can take most of a minute against a silent server).
  std::optional<std::chrono::milliseconds> budget;
};

struct HttpClientStats {
  std::uint64_t requests = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_reused = 0;
  std::uint64_t retries = 0;
};

class HttpClient {
 public:
  HttpClient(boost::asio::any_io_executor exec, HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends a request and reads the whole response. Non-2xx statuses are returned (after
  // retries where allowed); transport failures throw TransportError.
  boost::asio::awaitable<HttpResponse> send(ClientRequest request);

  // Like send(), but a 2xx body is handed to `on_data` piece by piece as it arrives
  // (the returned response then has an empty body). `on_data` returning false stops
  // reading and discards the connection. Retries happen only before the first piece.
  boost::asio::awaitable<HttpResponse> send_streaming(ClientRequest request,
                                                      std::function<bool(std::string_view)> on_data);

  HttpClientStats stats() const;
  const HttpClientOptions& options() const;
  // The executor requests run on (to spawn work that uses this client).
  boost::asio::any_io_executor executor() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// One HTTP request on a fresh connection (tests and one-off tools). Throws on
// transport failures; statuses are returned.
boost::asio::awaitable<HttpResponse> http_request(std::string method, std::string url, Headers headers,
                                                  std::string body,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(10),
                                                  TlsOptions tls = {});

// A WebSocket client connection (ws:// or wss://).
class WsClient {
 public:
  // Connects and performs the handshake; throws TransportError on failure (the
  // message carries the HTTP status when the server refused the upgrade). After `idle`/2
  // with nothing heard from the server a ping goes out; after `idle` the connection is
  // dropped (a half-open socket would otherwise look alive forever).
  static boost::asio::awaitable<std::shared_ptr<WsClient>> connect(
      std::string url, Headers headers = {}, TlsOptions tls = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(10),
      std::chrono::milliseconds idle = std::chrono::seconds(20));
  virtual ~WsClient() = default;
  // Returns the next message, or nullopt once the connection is closed.
  virtual boost::asio::awaitable<std::optional<std::string>> read() = 0;
  // Whether the message read() returned last was a binary one (else text).
  virtual bool got_binary() const = 0;
  // Queues a text message (single writer; call on the client's executor only).
  virtual void send(std::string message) = 0;
  // The same, for a message built in a buffer the caller reuses: it is copied into one of
  // the writer's recycled buffers (no allocation per message once they have grown).
  virtual void send_copy(std::string_view message) = 0;
  // A binary message (a copy of `message`), in order with the text ones.
  virtual void send_binary_copy(std::string_view message) = 0;
  // Sends a close frame after queued messages; a peer that has not completed the
  // closing handshake 2 s later is dropped.
  virtual void close() = 0;
  // Drops the TCP connection without a close handshake; a read in progress ends. On the
  // client's executor.
  virtual void abort() = 0;
  // The close code received from the peer (0 if none) and its reason.
  virtual int close_code() const = 0;
  virtual std::string close_reason() const = 0;
  // HTTP status of a refused upgrade is reported in TransportError; this is the executor
  // the connection's operations run on.
  virtual boost::asio::any_io_executor executor() = 0;
};

}  // namespace vox::net
