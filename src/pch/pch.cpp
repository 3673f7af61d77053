// Compiles the precompiled header (see pch.hpp).
