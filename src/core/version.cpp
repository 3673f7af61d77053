#include "core/version.hpp"

namespace vox {
std::string_view version() { return VOXBRIDGE_VERSION; }
}  // namespace vox
