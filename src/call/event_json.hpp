#pragma once
// A call event as the web pages see it (the softphone's and the console's live views):
// one JSON object per event, {"kind": ..., ...}; turn_timed carries the turn's latency
// by stage. Events a page has no use for give an empty object.
#include <boost/json/object.hpp>

#include "call/events.hpp"

namespace vox::call {

boost::json::object event_json(const CallEvent& event);

}  // namespace vox::call
