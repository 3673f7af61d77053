// The server's connections over plain TCP (the templates of server_session.hpp,
// instantiated here so the TLS ones compile in parallel in server_tls.cpp).
#include "net/server_session.hpp"

namespace vox::net {

boost::asio::awaitable<void> serve_plain(std::shared_ptr<Server::Impl> self, boost::asio::ip::tcp::socket socket,
                                         std::string remote) {
  boost::beast::tcp_stream stream(std::move(socket));
  co_await detail::serve(self, stream, std::move(remote));
}

}  // namespace vox::net
