#include "app/commands/wait_for_server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/url/parse.hpp>

#include <iostream>
#include <thread>

namespace vox::app {
namespace asio = boost::asio;

bool wait_for_server(const std::string& url, std::chrono::seconds max, std::string_view what) {
  auto u = boost::urls::parse_uri(url);
  if (!u || u->host().empty()) return false;
  const std::string host = u->host();
  std::string port = u->port();
  if (port.empty()) port = u->scheme() == "https" || u->scheme() == "wss" ? "443" : "80";
  const auto deadline = std::chrono::steady_clock::now() + max;
  bool said = false;
  for (;;) {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    const auto endpoints = resolver.resolve(host, port, ec);
    if (!ec) {
      asio::ip::tcp::socket socket(ioc);
      asio::connect(socket, endpoints, ec);
      if (!ec) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (!said) {
      std::cerr << "voxbridge: waiting for " << what << " at " << url << " to accept connections (" << ec.message()
                << ")...\n";
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // polling a server that is starting
  }
}

}  // namespace vox::app
