#pragma once
// The tests' precompiled header: what nearly every test includes.
#include <gtest/gtest.h>

#include "../src/pch/pch.hpp"
