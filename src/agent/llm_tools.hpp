#pragma once
// The LLM agent's tools: the built-in ones (end_call, transfer_call, send_dtmf) and the
// user's HTTP tools read from a YAML or JSON file:
//
//   tools:
//     - name: lookup_order
//       description: Looks up an order by its number.
//       parameters: {type: object, properties: {order: {type: string}}, required: [order]}
//       url: https://shop.example.com/orders/lookup      # ${ENV} is expanded
//       method: POST                                      # POST (JSON body) or GET (query)
//       headers: {Authorization: "Bearer ${SHOP_TOKEN}"}
//       timeout_ms: 5000
//
// The model's arguments are checked against `parameters` (a JSON Schema subset: type,
// properties, required, additionalProperties: false, enum, items, minimum/maximum,
// minLength/maxLength) before the URL is called.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "agent/chat_protocol.hpp"

namespace vox::agent {

struct HttpTool {
  ToolSpec spec;
  std::string url;
  std::string method = "POST";
  std::vector<std::pair<std::string, std::string>> headers;
  int timeout_ms = 5000;
};

// Reads a tools file; throws std::invalid_argument naming the file, the tool and what is
// wrong. `${NAME}` in urls and header values is replaced by the environment variable.
std::vector<HttpTool> load_tools_file(const std::string& path);

// Expands ${NAME} from the environment (unset: empty); the values are hidden in logs.
std::string expand_env(std::string_view text);

// Checks JSON text `arguments` against the JSON Schema `schema_json`; returns "" when it
// conforms, else a message the model can act on ("order: required", ...).
std::string validate_arguments(std::string_view schema_json, std::string_view arguments);

// The built-in tools' specs.
ToolSpec end_call_tool();
ToolSpec transfer_call_tool();
ToolSpec send_dtmf_tool();

// Whether `target` (E.164 number or sip: address) is in `allow` (exact entries, or a
// prefix ending in '*').
bool transfer_allowed(const std::vector<std::string>& allow, std::string_view target);

}  // namespace vox::agent
