// Files an operator hands voxbridge: `.env` and `talk` scenario files (YAML or JSON). A
// scenario either parses or throws ScenarioError saying what is wrong and where.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dotenv.hpp"
#include "talk/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    (void)vox::parse_dotenv(in);
  } else {
    try {
      (void)vox::talk::parse_scenario(in, "fuzz.yaml");
    } catch (const vox::talk::ScenarioError&) {
    }
  }
  return 0;
}
