#pragma once
// Files served by the control API, embedded at build time from web/.
#include <string_view>

namespace vox::api {

std::string_view openapi_json();  // web/openapi.json
std::string_view docs_html();     // web/docs.html

}  // namespace vox::api
