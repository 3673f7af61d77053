#pragma once
// voxbridge's version (the project version in CMakeLists.txt).
#include <string_view>

namespace vox {
std::string_view version();
}  // namespace vox
