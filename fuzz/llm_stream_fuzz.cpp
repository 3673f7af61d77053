// What an OpenAI-compatible model server sends the LLM agent: a text/event-stream (fed
// in pieces of the sizes the input's first bytes say, as a network would split it),
// each event's chunk, and a whole chat.completion answer.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/chat_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t piece = 1 + data[0] % 64;
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  vox::agent::SseParser sse(64 * 1024);
  vox::agent::ToolCallAssembler tools;
  std::vector<vox::agent::SseEvent> events;
  std::string why;
  for (std::size_t off = 0; off < in.size(); off += piece) {
    if (!sse.feed(in.substr(off, piece), events)) break;
    for (const auto& e : events) {
      if (const auto chunk = vox::agent::parse_chat_chunk(e.data, why))
        for (const auto& d : chunk->tool_calls) tools.add(d);
    }
    events.clear();
  }
  (void)tools.take();
  (void)vox::agent::parse_chat_completion(in, why);
  (void)vox::agent::error_message_of(in);
  return 0;
}
