#pragma once
// Writes every call's events into the call store: status changes, the transcript
// (caller and agent turns, with the words heard when a reply was cut), barge-ins, keys,
// provider fallbacks and errors. Runs on the calls' strands; only queues writes.
#include "call/events.hpp"
#include "store/call_store.hpp"

namespace vox::store {

class CallJournal final : public call::CallObserver {
 public:
  explicit CallJournal(CallStore& store) : store_(store) {}
  void on_event(const agent::CallContext& call, const call::CallEvent& event) override;

 private:
  CallStore& store_;
};

}  // namespace vox::store
