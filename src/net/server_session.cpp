// The non-template pieces of a server connection (see server_session.hpp).
#include "net/server_session.hpp"

namespace vox::net::detail {

HttpRequest to_request(const http::request<http::string_body>& req, std::string remote) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  r.target = std::string(req.target());
  r.remote = std::move(remote);
  auto origin = boost::urls::parse_origin_form(req.target());
  if (origin) {
    r.path = origin->path();
    r.query = std::string(origin->encoded_query());
  } else {
    r.path = r.target.substr(0, r.target.find('?'));
  }
  for (const auto& f : req) r.headers[std::string(f.name_string())] = std::string(f.value());
  r.body = req.body();
  return r;
}

void set_headers(http::response_header<>& out, const HttpResponse& res) {
  out.set(http::field::server, "voxbridge");
  out.set(http::field::content_type, res.content_type);
  for (const auto& [k, v] : res.headers) out.set(k, v);
}

http::response<http::string_body> to_beast(const HttpResponse& res, unsigned version, bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  set_headers(out.base(), res);
  out.body() = res.body;
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

int malformed_status(const beast::error_code& ec, bool request_line_read) {
  if (ec == http::error::header_limit) return request_line_read ? 431 : 414;
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == http::error::partial_message)
    return 0;
  if (ec.category() == http::make_error_code(http::error::bad_target).category()) return 400;
  return 0;
}

int transfer_encoding_status(const http::request<http::string_body>& req, bool chunked) {
  bool present = false;
  bool other = false;
  for (const auto& f : req) {
    if (f.name() != http::field::transfer_encoding) continue;
    present = true;
    for (const auto coding : http::token_list{f.value()})
      if (!beast::iequals(coding, "chunked")) other = true;
  }
  if (!present) return 0;
  if (!chunked) return 400;
  return other ? 501 : 0;
}

bool on_strand(const asio::any_io_executor& ex) {
  if (const auto* strand = ex.target<asio::strand<asio::io_context::executor_type>>())
    return strand->running_in_this_thread();
  // A single-threaded server's connections run on the io_context's own executor.
  const auto* plain = ex.target<asio::io_context::executor_type>();
  return plain && plain->running_in_this_thread();
}

}  // namespace vox::net::detail
