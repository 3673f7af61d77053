// Minimal OpenAPI 3.0 / 3.1 conformance checker for tests.
//
// Loads an OpenAPI document (JSON) and checks HTTP requests and JSON responses
// against it: path-template matching, query/path/header parameters, security
// requirements, request bodies (application/json, multipart/form-data,
// application/x-www-form-urlencoded) and JSON response bodies.
//
// Supported schema keywords: $ref (local, cycle-guarded), type (string or
// array form), nullable (3.0), enum, const, properties, required,
// additionalProperties, items, prefixItems, min/maxItems, uniqueItems,
// min/maxProperties, min/maxLength, pattern, minimum, maximum,
// exclusiveMinimum/Maximum (3.0 boolean and 3.1 numeric forms), multipleOf,
// allOf, anyOf, oneOf (+ discriminator), not, boolean schemas.
// `format` is not checked (the specs use many vendor formats).
//
// Every check returns a list of human-readable problems; empty = conforms.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vox::testing {

class OpenApiSpec {
 public:
  using Headers = std::vector<std::pair<std::string, std::string>>;

  // Parses the JSON OpenAPI document at `path`. Throws std::runtime_error on
  // I/O or parse errors or if the document has no "paths" object.
  static OpenApiSpec load(const std::string& path);

  // Checks one request. `target` is the path plus optional ?query
  // (percent-encoded, repeated keys allowed). `content_type` may carry
  // parameters (e.g. "multipart/form-data; boundary=xyz"). Header names are
  // compared case-insensitively. Returns problems; empty = conforms.
  std::vector<std::string> check_request(std::string_view method, std::string_view target,
                                         const Headers& headers, std::string_view content_type,
                                         std::string_view body) const;

  // Checks a JSON response body for the operation matched by method + path
  // (query ignored) and status. The response is looked up by the exact status
  // code, then "NXX" (e.g. "2XX"), then "default".
  std::vector<std::string> check_response_json(std::string_view method, std::string_view target,
                                               int status, std::string_view json_body) const;

  // Which path template matched for this method (e.g.
  // "/v1/text-to-speech/{voice_id}"), or empty if none. When several templates
  // match, the one with literal segments earliest wins.
  std::string match_path(std::string_view method, std::string_view target) const;

  // All path templates in the document (sorted), mainly for diagnostics.
  std::vector<std::string> path_templates() const;

  // Validates every `example` / `examples[*].value` attached to JSON response
  // media types, schemas and parameters against its schema. Useful as a
  // self-check of the validator and to spot spec inconsistencies.
  std::vector<std::string> check_spec_examples() const;

  struct Impl;

 private:
  explicit OpenApiSpec(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace vox::testing
