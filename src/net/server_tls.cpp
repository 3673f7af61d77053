// The server's connections over TLS (HTTPS, WSS): the handshake, then the templates of
// server_session.hpp instantiated for the TLS stream.
#include "net/server_session.hpp"

namespace vox::net {

boost::asio::awaitable<void> serve_tls(std::shared_ptr<Server::Impl> self, boost::asio::ip::tcp::socket socket,
                                       std::string remote) {
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream(std::move(socket), *self->tls);
  boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
  auto [ec] = co_await stream.async_handshake(boost::asio::ssl::stream_base::server, detail::kTuple);
  if (ec) {
    spdlog::debug("tls handshake failed remote={} error={}", remote, ec.message());
    co_return;
  }
  co_await detail::serve(self, stream, std::move(remote));
}

}  // namespace vox::net
