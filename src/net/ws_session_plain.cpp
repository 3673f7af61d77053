// The server's WebSocket sessions over plain TCP (ws_session.hpp instantiated for one stream type).
#include "net/ws_session.hpp"

namespace vox::net::detail {

asio::awaitable<void> run_websocket(Server::Impl& impl, std::uint64_t id, beast::tcp_stream&& stream,
                                    std::unique_ptr<WsHandler> handler, std::string remote,
                                    http::request<http::string_body> upgrade) {
  // The WebSocket runs on the bare socket: Beast's tcp_stream layer (timeouts, which the
  // session keeps itself) would add its own operation state to every read and write.
  auto session = std::make_shared<WsSession<WsSocket>>(WsSocket(stream.release_socket()), std::move(handler),
                                                       impl.limits, std::move(remote));
  co_await run_registered(impl, id, std::move(session), std::move(upgrade));
}

}  // namespace vox::net::detail
