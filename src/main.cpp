// voxbridge: a voice gateway between Twilio phone calls and speech engines.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/commands/call.hpp"
#include "app/commands/emulate_openai.hpp"
#include "app/commands/loadtest.hpp"
#include "app/commands/serve.hpp"
#include "app/commands/sim_caller.hpp"
#include "app/commands/talk.hpp"
#include "app/commands/tools.hpp"
#include "app/commands/transcribe.hpp"
#include "app/cluster_options.hpp"
#include "app/config.hpp"
#include "core/dotenv.hpp"
#include "core/log.hpp"
#include "core/version.hpp"

namespace {

// Binds the server settings to flags, each also read from an environment variable.
void add_server_options(CLI::App& cmd, vox::app::ServerConfig& c, int& silence_chunks) {
  cmd.add_option("--host", c.host, "Address to listen on")->envname("HOST")->capture_default_str();
  cmd.add_option("--port,-p", c.port, "Port for HTTP and WebSocket (0 picks a free one)")
      ->envname("PORT")->capture_default_str();
  cmd.add_option("--base-url", c.api.base_url,
                 "Public URL Twilio reaches this server at, e.g. https://abc.ngrok.app (env WEBHOOK_BASE_URL or "
                 "BASE_URL); without it the Stream URL is built from the request's Host header")
      ->envname("WEBHOOK_BASE_URL");
  cmd.add_option("--log-level", c.log_level, "trace, debug, info, warn, error")->envname("LOG_LEVEL")->capture_default_str();
  cmd.add_option("--threads", c.threads,
                 "Network threads (0 = one per core), each with its own event loop. One costs least per call (about 10% less than two at "
                 "100 calls) and carries about 600 calls a core; add threads for more calls on more cores")->envname("THREADS")->capture_default_str();
  cmd.add_option("--talk-timeout", c.call.talk_timeout_s, "Seconds of idle conversation before the call is ended (0 = never)")
      ->envname("TALK_TIMEOUT")->capture_default_str();
  cmd.add_option("--greeting", c.agent.greeting, "What the agent says when a call starts (\"\" for nothing)")
      ->envname("GREETING")->capture_default_str();
  cmd.add_option("--agent", c.agent.default_agent,
                 "Default agent: echo (repeats the caller), script (lines from --script), webhook (asks "
                 "--agent-webhook-url), llm (an OpenAI-compatible model: see the --llm-* flags) or external (silent: "
                 "driven by the control API, a client WebSocket or /generate). A call's `agent` parameter or the "
                 "control API's agent_id can choose another")
      ->envname("AGENT")->check(CLI::IsMember({"echo", "script", "webhook", "llm", "external"}))->capture_default_str();
  cmd.add_option("--script", c.agent.script_file, "Script agent's file: one reply per line")->envname("SCRIPT_FILE");
  cmd.add_option("--agent-webhook-url", c.agent.webhook.url,
                 "Webhook agent: each final transcript is POSTed here as JSON {call_sid, text, turn, ...}; the answer "
                 "(JSON {\"text\": ...}, NDJSON or plain text, streamed or not) is spoken")
      ->envname("AGENT_WEBHOOK_URL");
  cmd.add_option("--agent-webhook-timeout-ms", c.agent.webhook.timeout_ms,
                 "Webhook agent: no answer (or no progress) for this long speaks the fallback phrase")
      ->envname("AGENT_WEBHOOK_TIMEOUT_MS")->check(CLI::Range(100, 120000))->capture_default_str();
  cmd.add_option("--agent-fallback", c.agent.webhook.fallback_text, "Webhook agent: what to say when the webhook fails")
      ->envname("AGENT_FALLBACK_TEXT")->capture_default_str();
  cmd.add_option("--agent-webhook-secret", c.agent.webhook.secret,
                 "Webhook agent: sign each request body (X-Voxbridge-Signature: hex HMAC-SHA256 with this secret)")
      ->envname("AGENT_WEBHOOK_SECRET");
  cmd.add_option("--generate-api-key", c.api.generate_api_key,
                 "Key of the turn API GET /generate (clients send it as X-API-KEY); unset = /generate answers 503")
      ->envname("API_KEY");
  cmd.add_option("--silence-ms", c.call.inbound.endpointing.silence_ms, "Trailing silence that ends an utterance")
      ->envname("SILENCE_MS")->capture_default_str();
  cmd.add_option("--silence-chunks", silence_chunks,
                 "Trailing silence as a count of 20 ms frames (the original service's SILENCE_CHUNKS_TRIGGER); "
                 "overrides --silence-ms")
      ->envname("SILENCE_CHUNKS_TRIGGER");
  cmd.add_option("--min-speech-ms", c.call.inbound.endpointing.min_speech_ms, "Shorter bursts of sound are ignored")
      ->envname("MIN_SPEECH_MS")->capture_default_str();
  cmd.add_option("--vad-mode", c.call.inbound.vad.webrtc_mode, "WebRTC VAD aggressiveness 0..3")
      ->envname("VAD_MODE")->check(CLI::Range(0, 3))->capture_default_str();
  cmd.add_option("--tts-voice", c.espeak.voice, "espeak-ng voice for the embedded TTS")->envname("TTS_VOICE")->capture_default_str();
  cmd.add_option("--stt-mode", c.sphinx.mode, "Embedded STT mode: lm (open vocabulary) or grammar (phrases from --stt-grammar)")
      ->envname("STT_MODE")->check(CLI::IsMember({"lm", "grammar"}))->capture_default_str();
  cmd.add_option("--stt-grammar", c.sphinx.grammar_file, "Phrase list for grammar mode, one phrase per line")
      ->envname("STT_GRAMMAR_FILE");
  cmd.add_option("--api-key", c.api.api_keys,
                 "Control API key as tenant:key (repeat, or VOX_API_KEYS=a:key1,b:key2); none = open API (local use). "
                 "Each key must be at least 8 characters: short keys can be guessed by trying them")
      ->envname("VOX_API_KEYS")
      ->delimiter(',');
  cmd.add_option("--api-keys-file", c.api.api_keys_file, "File of control API keys, one 'tenant key' per line")
      ->envname("VOX_API_KEYS_FILE");
  cmd.add_option("--store-delay-ms", c.store_delay_ms,
                 "For tests only: every call-store read and commit first waits this long (a slow disk)")
      ->envname("VOX_STORE_DELAY_MS")->check(CLI::Range(0, 60000));
  cmd.add_option("--store", c.store_path,
                 "The call store: a SQLite file (created on first start), or postgresql://user:password@host:port/db")
      ->envname("VOX_STORE")
      ->capture_default_str();
  cmd.add_option("--max-text-chars", c.api.max_text_chars, "Longest text the control API speaks or synthesizes at once")
      ->envname("MAX_TEXT_CHARS")
      ->capture_default_str();
  cmd.add_option("--max-client-sockets", c.api.max_client_sockets_per_key, "Open client WebSockets per company key")
      ->envname("MAX_CLIENT_SOCKETS")
      ->capture_default_str();
  cmd.add_option("--max-calls", c.call.max_calls,
                 "Concurrent calls accepted; beyond it the voice webhook answers 503 (Twilio then uses the number's "
                 "fallback URL) and a media stream is closed with 1013")
      ->envname("MAX_CALLS")->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd.add_option("--shed-lag-ms", c.shed_lag_ms,
                 "Overload control: while a network thread's event loop has woken more than this late within the "
                 "last --shed-hold-ms, new calls and new control/generate work are refused (webhook 503, media "
                 "1013, API 503 with Retry-After) so live calls keep their latency; 0 turns it off. The lag is on "
                 "/health and /metrics (voxbridge_event_loop_lag_seconds)")
      ->envname("SHED_LAG_MS")->check(CLI::Range(0, 60000))->capture_default_str();
  cmd.add_option("--shed-hold-ms", c.shed_hold_ms,
                 "How long new work stays refused after the event-loop lag last exceeded --shed-lag-ms (also the "
                 "Retry-After given)")
      ->envname("SHED_HOLD_MS")->check(CLI::Range(100, 600000))->capture_default_str();
  cmd.add_option("--recording-dir", c.call.recording_dir,
                 "Record every call here as <CallSid>.wav (stereo: caller left, agent right)")
      ->envname("RECORDING_DIR");
  cmd.add_option("--shutdown-deadline-ms", c.shutdown_deadline_ms, "How long SIGTERM waits for calls to close")
      ->envname("SHUTDOWN_DEADLINE_MS")->capture_default_str();
  cmd.add_option("--http-idle-timeout", c.http_idle_timeout_s,
                 "Seconds a client may take to send a whole HTTP request (request line, headers and body), and an idle "
                 "keep-alive connection stays open; a slower client (slowloris) is disconnected")
      ->envname("HTTP_IDLE_TIMEOUT")->check(CLI::Range(1, 3600))->capture_default_str();
  cmd.add_option("--ws-idle-timeout", c.ws_idle_timeout_s,
                 "Seconds a WebSocket peer may send nothing (no message, no ping) before the socket is dropped")
      ->envname("WS_IDLE_TIMEOUT")->check(CLI::Range(1, 86400))->capture_default_str();
  cmd.add_option("--media-timeout", c.media_timeout_s,
                 "Seconds a Twilio media stream may send nothing before it is dropped and its call ended (Twilio sends "
                 "a frame every 20 ms, so silence means a dead connection or a network black hole; a shorter "
                 "--ws-idle-timeout wins)")
      ->envname("MEDIA_TIMEOUT")->check(CLI::Range(1, 86400))->capture_default_str();
  cmd.add_flag("--relaxed-call-sids", c.api.relaxed_call_sids,
               "Accept call sids of any shape (1-64 letters, digits, - and _) instead of only Twilio's CA + 32 hex "
               "digits: for tests and demos that make up their own ids")
      ->envname("VOX_RELAXED_CALL_SIDS");
  cmd.add_option("--mark-slack-ms", c.call.playout.mark_slack_ms,
                 "A reply counts as played this long after its audio should have ended, even if Twilio never echoes "
                 "its marks (a stuck or hostile media socket cannot hold a call open)")
      ->envname("MARK_SLACK_MS")->check(CLI::Range(100, 60000))->capture_default_str();
  cmd.add_option("--metrics-token", c.api.metrics_token,
                 "Bearer token GET /metrics requires (Authorization: Bearer TOKEN). Without it /metrics is open only "
                 "while the control API is open too")
      ->envname("METRICS_TOKEN");
  cmd.add_option("--metrics-listen", c.api.metrics_listen,
                 "Serve /metrics on this separate address instead of the main port, e.g. 127.0.0.1:9464 (open there "
                 "unless --metrics-token is set)")
      ->envname("METRICS_LISTEN");
  cmd.add_option("--drain-timeout", c.drain_timeout_s,
                 "On SIGTERM, first drain for up to this many seconds: new calls are refused (the voice webhook "
                 "answers 503 so Twilio uses the number's fallback URL; /health/ready answers 503) while live calls "
                 "finish; then what is left ends as without it. 0 ends calls at once")
      ->envname("DRAIN_TIMEOUT")->check(CLI::Range(0, 86400))->capture_default_str();
  vox::app::add_cluster_options(cmd, c);
  cmd.add_option("--database-url", c.store_path,
                 "The call store as a URL: postgresql://user:password@host:port/db keeps every call in PostgreSQL, "
                 "shared by the instances of a cluster (same as --store)")
      ->envname("DATABASE_URL");
  cmd.add_option("--instance-id", c.instance_id,
                 "This server's name in the call store; calls it leaves in progress (killed, crashed) are closed as "
                 "server_restart when it starts again (default: hostname:port)")
      ->envname("VOX_INSTANCE_ID");
}

// Twilio account settings.
void add_twilio_options(CLI::App& cmd, vox::app::ServerConfig& c) {
  auto& t = c.twilio;
  cmd.add_option("--twilio-account-sid", t.account_sid, "Twilio account SID (AC...)")->envname("TWILIO_ACCOUNT_SID");
  cmd.add_option("--twilio-auth-token", t.auth_token,
                 "Twilio auth token; when set, X-Twilio-Signature is required on the webhooks and on /media")
      ->envname("TWILIO_AUTH_TOKEN");
  cmd.add_option("--twilio-api-key", t.api_key_sid, "API key SID (SK...) for REST calls instead of the auth token")
      ->envname("TWILIO_API_KEY");
  cmd.add_option("--twilio-api-secret", t.api_key_secret, "Secret of --twilio-api-key")->envname("TWILIO_API_SECRET");
  cmd.add_option("--twilio-phone-number", t.phone_number, "Default caller id for outbound calls")
      ->envname("TWILIO_PHONE_NUMBER");
  cmd.add_option("--twilio-base-url", t.api_base_url, "Twilio REST API base URL")
      ->envname("TWILIO_BASE_URL")->capture_default_str();
  cmd.add_option("--validate-signatures", t.validate_signatures,
                 "Check X-Twilio-Signature when an auth token is set (false only for local experiments)")
      ->envname("TWILIO_VALIDATE_SIGNATURES")->capture_default_str();
}

// The llm agent: any OpenAI-compatible Chat Completions server.
void add_llm_options(CLI::App& cmd, vox::agent::LlmSettings& l, std::string& prompt_file) {
  cmd.add_option("--llm-base-url", l.base_url,
                 "LLM agent: the server's API base (POST {base}/chat/completions). OpenAI https://api.openai.com/v1, "
                 "Groq https://api.groq.com/openai/v1, OpenRouter https://openrouter.ai/api/v1, Ollama "
                 "http://localhost:11434/v1, vLLM http://localhost:8000/v1, llama.cpp http://localhost:8080/v1. With no "
                 "key and this default, a built-in model emulator answers (no account needed)")
      ->envname("LLM_BASE_URL")->capture_default_str();
  cmd.add_option("--llm-api-key", l.api_key, "LLM agent: API key sent as Authorization: Bearer (env LLM_API_KEY or OPENAI_API_KEY)")
      ->envname("LLM_API_KEY");
  cmd.add_option("--llm-model", l.model, "LLM agent: model name (e.g. gpt-4o-mini, llama-3.1-8b-instant, llama3.2)")
      ->envname("LLM_MODEL")->capture_default_str();
  cmd.add_option("--llm-temperature", l.temperature, "LLM agent: sampling temperature 0..2 (-1: the server's default)")
      ->envname("LLM_TEMPERATURE")->check(CLI::Range(-1.0, 2.0))->capture_default_str();
  cmd.add_option("--llm-max-tokens", l.max_tokens, "LLM agent: most tokens per answer (0: the server's default)")
      ->envname("LLM_MAX_TOKENS")->check(CLI::Range(0, 100000))->capture_default_str();
  cmd.add_option("--llm-system-prompt", l.system_prompt,
                 "LLM agent: the system prompt; {{from}}, {{to}}, {{call_sid}}, {{agent_id}} and the call's parameters "
                 "({{name}}) are filled in per call")
      ->envname("LLM_SYSTEM_PROMPT");
  cmd.add_option("--llm-system-prompt-file", prompt_file, "LLM agent: read the system prompt from this file")
      ->envname("LLM_SYSTEM_PROMPT_FILE")->check(CLI::ExistingFile);
  cmd.add_option("--llm-first-message", l.first_message,
                 "LLM agent: what it says when the call starts (default: a short hello; a call's `greeting` wins)")
      ->envname("LLM_FIRST_MESSAGE");
  cmd.add_option("--llm-tools", l.tools_file, "LLM agent: a YAML or JSON file of HTTP tools (see README)")
      ->envname("LLM_TOOLS_FILE")->check(CLI::ExistingFile);
  cmd.add_option("--llm-transfer-allow", l.transfer_allow,
                 "LLM agent: numbers or sip: addresses transfer_call may use (repeat, or comma-separated in the "
                 "environment; a trailing * allows a prefix). Without any, the model gets no transfer tool")
      ->envname("LLM_TRANSFER_ALLOW")->delimiter(',');
  cmd.add_option("--llm-timeout-ms", l.first_token_timeout_ms,
                 "LLM agent: no first token (or no progress while streaming) for this long is a failure")
      ->envname("LLM_TIMEOUT_MS")->check(CLI::Range(200, 120000))->capture_default_str();
  cmd.add_option("--llm-retry-budget-ms", l.retry_budget_ms,
                 "LLM agent: failures before the first token (429, 5xx, connection) are retried within this time")
      ->envname("LLM_RETRY_BUDGET_MS")->check(CLI::Range(0, 60000))->capture_default_str();
  cmd.add_option("--llm-fallback", l.fallback_text, "LLM agent: what to say when the model fails")
      ->envname("LLM_FALLBACK_TEXT")->capture_default_str();
  cmd.add_option("--llm-history-chars", l.history_max_chars,
                 "LLM agent: the most characters of history sent (older turns are dropped; the system prompt never is)")
      ->envname("LLM_HISTORY_CHARS")->check(CLI::Range(1000, 1000000))->capture_default_str();
  cmd.add_option("--llm-max-tool-rounds", l.max_tool_rounds, "LLM agent: tool rounds per turn before it gives up")
      ->envname("LLM_MAX_TOOL_ROUNDS")->check(CLI::Range(1, 16))->capture_default_str();
  cmd.add_option("--llm-filler", l.filler_text, "LLM agent: said when tools take longer than --llm-filler-after-ms")
      ->envname("LLM_FILLER_TEXT")->capture_default_str();
  cmd.add_option("--llm-filler-after-ms", l.filler_after_ms, "LLM agent: see --llm-filler")
      ->envname("LLM_FILLER_AFTER_MS")->check(CLI::Range(100, 60000))->capture_default_str();
}

// ElevenLabs and TTS cache settings (serve, say, voices).
void add_speech_options(CLI::App& cmd, vox::app::ServerConfig& c) {
  auto& e = c.elevenlabs;
  cmd.add_option("--elevenlabs-api-key", e.api_key,
                 "ElevenLabs API key; when set, ElevenLabs speaks and listens (env ELEVENLABS_API_KEY, also "
                 "ELEVEN_LABS_API_KEY or ELEVENLABS_API_KEY_GAL)")
      ->envname("ELEVENLABS_API_KEY");
  cmd.add_option("--elevenlabs-base-url", e.base_url, "ElevenLabs API base URL (WebSockets derive from it)")
      ->envname("ELEVENLABS_BASE_URL")->capture_default_str();
  cmd.add_option("--voice-id", e.voice_id, "Default ElevenLabs voice")->envname("VOICE_ID")->capture_default_str();
  cmd.add_option("--tts-model", e.tts_model, "ElevenLabs TTS model")->envname("ELEVENLABS_TTS_MODEL")->capture_default_str();
  cmd.add_option("--stt-model", e.stt_model, "ElevenLabs batch STT model")->envname("ELEVENLABS_STT_MODEL")->capture_default_str();
  cmd.add_option("--realtime-stt-model", e.realtime_stt_model, "ElevenLabs realtime STT model")
      ->envname("ELEVENLABS_REALTIME_STT_MODEL")->capture_default_str();
  cmd.add_option("--language", e.language, "Language code for ElevenLabs TTS/STT (e.g. es); empty = auto")
      ->envname("LANGUAGE");
  cmd.add_option("--tts-transport", e.tts_transport,
                 "How replies are requested: websocket (warm multi-stream-input socket) or http (REST stream)")
      ->envname("ELEVENLABS_TTS_TRANSPORT")->check(CLI::IsMember({"websocket", "http"}))->capture_default_str();
  cmd.add_option("--realtime-stt", e.realtime_stt, "Stream the caller's audio to realtime STT while they speak (true/false)")
      ->envname("ELEVENLABS_REALTIME_STT")->capture_default_str();
  cmd.add_option("--elevenlabs-breaker-ms", e.breaker_ms,
                 "After a request to ElevenLabs got no answer in time (a timeout, a socket with no audio for 3 s), "
                 "the embedded engines speak and listen for this long before one request tries ElevenLabs again (0: every request "
                 "tries, each waiting out its own timeouts)")
      ->envname("ELEVENLABS_BREAKER_MS")->check(CLI::Range(0, 600000))->capture_default_str();
  cmd.add_option("--ca-file", e.ca_file, "Extra CA certificates (PEM) trusted for ElevenLabs, e.g. a local emulator's")
      ->envname("ELEVENLABS_CA_FILE");
  auto& k = c.tts_cache;
  cmd.add_option("--tts-cache", k.enabled, "Cache synthesized replies (true/false)")->envname("TTS_CACHE")->capture_default_str();
  cmd.add_option("--tts-cache-mb", k.memory_mb, "Memory for cached audio")->envname("TTS_CACHE_MB")->capture_default_str();
  cmd.add_option("--tts-cache-dir", k.dir, "Also keep cached audio in this directory")->envname("TTS_CACHE_DIR");
  cmd.add_option("--tts-cache-disk-mb", k.disk_mb, "Bound of the cache directory")->envname("TTS_CACHE_DISK_MB")->capture_default_str();
  cmd.add_option("--prewarm", k.prewarm, "A phrase to synthesize at start (repeat); the greeting always is")
      ->envname("TTS_PREWARM")->delimiter('|');
}

}  // namespace

// Whether one of `names` was given as a flag on the command line (not by the environment).
static bool on_command_line(int argc, char** argv, std::initializer_list<std::string_view> names) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    for (const auto n : names)
      if (a == n || (a.size() > n.size() && a.substr(0, n.size()) == n && a[n.size()] == '=')) return true;
  }
  return false;
}

int main(int argc, char** argv) {
  // .env in the working directory fills variables the environment does not set;
  // flags override both.
  const char* env_file = std::getenv("VOXBRIDGE_ENV_FILE");
  vox::apply_dotenv(vox::read_dotenv(env_file ? env_file : ".env"));
  if (!std::getenv("WEBHOOK_BASE_URL") && std::getenv("BASE_URL")) ::setenv("WEBHOOK_BASE_URL", std::getenv("BASE_URL"), 1);
  // Key names used by the two services voxbridge replaces.
  for (const char* alias : {"ELEVEN_LABS_API_KEY", "ELEVENLABS_API_KEY_GAL"})
    if (!std::getenv("ELEVENLABS_API_KEY") && std::getenv(alias)) ::setenv("ELEVENLABS_API_KEY", std::getenv(alias), 1);
  if (!std::getenv("LLM_API_KEY") && std::getenv("OPENAI_API_KEY")) ::setenv("LLM_API_KEY", std::getenv("OPENAI_API_KEY"), 1);

  CLI::App app{
      "voxbridge: puts an AI voice on phone calls.\n\n"
      "Quick start (no accounts needed):\n"
      "  voxbridge serve                  # gateway on :8001 with embedded speech engines\n"
      "  voxbridge sim caller --say \"hello there\"   # a simulated phone call against it\n\n"
      "Every flag can also be set through the environment variable named in its help,\n"
      "or in a .env file in the working directory."};
  app.set_version_flag("--version,-V", "voxbridge " + std::string(vox::version()), "Print the version and exit");
  app.require_subcommand(1);

  // One Config per command: CLI11 (2.1) applies the environment to every subcommand's
  // options, so commands sharing one object would let one's environment overwrite
  // another's flags.
  vox::app::ServerConfig config, say_config, voices_config, call_config, talk_config;
  int silence_chunks = -1;
  vox::app::ServeOptions serve_opts;
  auto* serve = app.add_subcommand("serve", "Run the gateway: Twilio webhook, media streams, speech, agents");
  add_server_options(*serve, config, silence_chunks);
  std::string llm_prompt_file;
  add_llm_options(*serve, config.agent.llm, llm_prompt_file);
  add_speech_options(*serve, config);
  add_twilio_options(*serve, config);
  serve->add_option("--port-file", serve_opts.port_file, "Write the bound port to this file once listening");
  serve->add_option("--metrics-port-file", serve_opts.metrics_port_file,
                    "Write the --metrics-listen port to this file once listening");

  vox::app::SayOptions say_opts;
  auto* say = app.add_subcommand("say", "Synthesize text to an audio file (mp3, wav or ulaw) with the configured engine");
  say->add_option("text", say_opts.text, "What to say")->required();
  say->add_option("-o,--out", say_opts.out, "Output file; .mp3, .wav or .ulaw picks the format")->required();
  say->add_option("--format", say_opts.format, "mp3, wav or ulaw (overrides the extension)");
  say->add_option("--voice", say_opts.voice, "Voice (ElevenLabs voice id, or an espeak-ng voice)");
  add_speech_options(*say, say_config);
  std::string say_log = "warn";
  say->add_option("--log-level", say_log)->capture_default_str();

  vox::app::TranscribeOptions transcribe_opts;
  auto* transcribe = vox::app::add_transcribe_command(app, transcribe_opts);

  bool voices_json = false;
  auto* voices = app.add_subcommand("voices", "List the voices of the configured engine");
  voices->add_flag("--json", voices_json, "Print JSON");
  add_speech_options(*voices, voices_config);

  vox::app::CallOptions call_opts;
  auto* call = app.add_subcommand("call", "Place an outbound call through Twilio to a running voxbridge and follow it to the end");
  call->add_option("--to", call_opts.to, "Number to call, E.164 (+14155550123), or sip:/client:")->required();
  call->add_option("--from", call_opts.from, "Caller id (default TWILIO_PHONE_NUMBER)");
  call->add_option("--voice", call_opts.voice, "Voice for this call");
  call->add_option("--agent", call_opts.agent, "Agent for this call (echo, script)");
  call->add_option("--greeting", call_opts.greeting, "Greeting for this call");
  call->add_option("--server-url", call_opts.server_url,
                   "Public URL of the voxbridge server Twilio should reach (default WEBHOOK_BASE_URL)");
  call->add_option("--timeout", call_opts.timeout_s, "Hang up after this many seconds")->capture_default_str();
  add_twilio_options(*call, call_config);
  call->add_option("--base-url", call_config.api.base_url, "Same as --server-url")->envname("WEBHOOK_BASE_URL");

  vox::app::TalkOptions talk_opts;
  std::string talk_log = "warn";
  int talk_silence_chunks = -1;
  auto* talk = app.add_subcommand(
      "talk",
      "Test a phone agent with scripted conversations: call it through Twilio, play each scenario turn, check "
      "the replies.\n\n"
      "Each scenario (YAML or JSON, see README \"Testing phone agents\") lists what to say and what the replies\n"
      "must contain. voxbridge talk places the call (--to, --from) with Twilio, waits for the agent to speak\n"
      "first, then plays the turns and records the replies through a voxbridge server's GET /generate:\n"
      "the one at --server, or one run in-process (then Twilio must reach it: --public-url, e.g. an ngrok URL).\n"
      "Progress goes to the terminal; --report and --junit write results; the exit code is 1 when an\n"
      "expectation fails. SIGINT/SIGTERM complete the calls at Twilio before exiting.\n\n"
      "  voxbridge talk --scenario examples/scenarios/greeting-and-two-turns.yaml --to +15550009999 --from +15550001111\n"
      "  voxbridge talk --scenarios examples/scenarios --concurrency 4 --junit results.xml --to +1555...");
  talk->add_option("--scenario", talk_opts.scenario_files, "A scenario file (repeat for several)");
  talk->add_option("--scenarios", talk_opts.scenarios_dir, "Run every *.yaml, *.yml and *.json scenario in this directory");
  talk->add_option("--to", talk_opts.to, "Number of the phone agent under test (E.164), unless a scenario names one");
  talk->add_option("--from", talk_opts.from, "Caller id (default TWILIO_PHONE_NUMBER)");
  talk->add_option("--server", talk_opts.server,
                   "URL of a running voxbridge server to drive the calls through (its API_KEY: --generate-api-key); "
                   "default: run one in-process");
  talk->add_option("--public-url", talk_opts.public_url,
                   "URL Twilio reaches the driving server at (default: the server URL; for real Twilio and an "
                   "in-process server, a tunnel such as ngrok to --port)")
      ->envname("WEBHOOK_BASE_URL");
  talk->add_option("--agent-api", talk_opts.agent_api,
                   "Base URL of the voxbridge running the agent under test: scenarios' `expect: {tools: [...]}` "
                   "are checked against that call's tool_call events");
  talk->add_option("--agent-api-key", talk_opts.agent_api_key, "Key of that control API (X-API-KEY)")
      ->envname("AGENT_API_KEY");
  talk->add_option("--concurrency,-j", talk_opts.concurrency, "Scenarios run at once")
      ->check(CLI::Range(1, 256))->capture_default_str();
  talk->add_option("--report", talk_opts.report_json, "Write the results as JSON here");
  talk->add_option("--junit", talk_opts.junit, "Write the results as JUnit XML here (one test case per scenario)");
  talk->add_option("--transcripts", talk_opts.transcripts_dir, "Write each scenario's transcript to DIR/<name>.txt");
  add_server_options(*talk, talk_config, talk_silence_chunks);
  add_speech_options(*talk, talk_config);
  add_twilio_options(*talk, talk_config);
  talk->get_option("--log-level")->default_str("warn");

  vox::app::LoadtestOptions load_opts;
  auto* loadtest = app.add_subcommand(
      "loadtest",
      "Load-test a voxbridge server with N simulated Twilio calls (real-time 20 ms frames, marks echoed), "
      "started over a ramp; reports reply latency percentiles, the server's own per-turn latencies, failures, "
      "and the CPU and memory of the server (--server-pid) and of this load generator, as JSON and HTML.\n\n"
      "  voxbridge loadtest --url http://127.0.0.1:8001 --calls 200 --ramp-s 20 --server-pid $(pgrep -f 'voxbridge serve') "
      "--json load.json --html load.html");
  loadtest->add_option("--url", load_opts.url, "Server base URL")->capture_default_str();
  loadtest->add_option("--calls,-n", load_opts.calls, "Concurrent calls")->check(CLI::Range(1, 20000))->capture_default_str();
  loadtest->add_option("--ramp-s", load_opts.ramp_s, "Start the calls evenly over this many seconds")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  loadtest->add_option("--say", load_opts.lines, "A line each caller says (repeat; default two lines)");
  loadtest->add_option("--voice", load_opts.voice, "espeak-ng voice of the callers")->capture_default_str();
  loadtest->add_option("--server-pid", load_opts.server_pid, "Sample this server process's CPU and memory from /proc");
  loadtest->add_option("--api-key", load_opts.api_key, "Control API key, to read each call's server-side latency")
      ->envname("VOX_LOADTEST_API_KEY");
  loadtest->add_option("--json", load_opts.json_out, "Write the JSON report here");
  loadtest->add_option("--html", load_opts.html_out, "Write the HTML report (with plots) here");
  loadtest->add_option("--threads", load_opts.threads, "Load generator threads")->check(CLI::Range(1, 64))->capture_default_str();
  loadtest->add_option("--elevenlabs-emulator", load_opts.elevenlabs_emulator,
                       "Base URL of the ElevenLabs emulator the server uses; --ttfb-ms and --stt-delay-ms are set on it");
  loadtest->add_option("--ttfb-ms", load_opts.ttfb_ms, "Provider TTS time to first byte (emulated; subtracted from the overhead)")
      ->check(CLI::Range(0, 60000))->capture_default_str();
  loadtest->add_option("--stt-delay-ms", load_opts.stt_delay_ms, "Provider STT delay (emulated; subtracted from the overhead)")
      ->check(CLI::Range(0, 60000))->capture_default_str();
  loadtest->add_option("--silence-ms", load_opts.silence_ms, "The server's --silence-ms (subtracted from the overhead)")
      ->check(CLI::Range(0, 10000))->capture_default_str();
  std::string load_log = "warn";
  loadtest->add_option("--log-level", load_log)->capture_default_str();

  auto* emulate = app.add_subcommand("emulate", "Local emulators of the providers, for tests and offline development");
  emulate->require_subcommand(1);
  vox::app::EmulateElevenLabsOptions emu;
  std::string emu_log = "info";
  auto* emu_el = emulate->add_subcommand(
      "elevenlabs", "A local ElevenLabs: REST, TTS WebSockets and realtime STT with real audio (espeak-ng) and "
                    "recognition (pocketsphinx); faults and latency injectable (see /emulator/* endpoints)");
  emu_el->add_option("--host", emu.host)->capture_default_str();
  emu_el->add_option("--port,-p", emu.port, "Port (0 picks a free one)")->capture_default_str();
  emu_el->add_option("--port-file", emu.port_file, "Write the bound port here once listening");
  emu_el->add_option("--api-key", emu.api_keys, "Accepted xi-api-key value (repeat)")->capture_default_str();
  emu_el->add_option("--tls-cert", emu.tls_cert, "Serve HTTPS/WSS with this certificate (PEM)");
  emu_el->add_option("--tls-key", emu.tls_key, "Private key of --tls-cert (PEM)");
  emu_el->add_option("--stt-grammar", emu.stt_grammar, "Recognise only these phrases (one per line)");
  emu_el->add_option("--voice", emu.voice, "espeak-ng voice every emulated voice speaks with")->capture_default_str();
  emu_el->add_option("--ttfb-ms", emu.ttfb_ms, "Delay before the first audio byte")->capture_default_str();
  emu_el->add_option("--chunk-interval-ms", emu.chunk_interval_ms, "Pause between streamed chunks")->capture_default_str();
  emu_el->add_option("--stt-delay-ms", emu.stt_delay_ms, "Extra delay before transcripts")->capture_default_str();
  emu_el->add_option("--max-concurrent", emu.max_concurrent, "Concurrent generations before 429 (0 = no limit)")
      ->capture_default_str();
  emu_el->add_option("--threads", emu.threads)->capture_default_str();
  emu_el->add_option("--tts-cache-mb", emu.tts_cache_mb,
                     "Synthesize each distinct text once and replay it (load tests; 0 = off)")->capture_default_str();
  emu_el->add_option("--stt-fixed-text", emu.stt_fixed_text,
                     "Answer every transcription with this text, without recognition (load tests)");
  emu_el->add_option("--log-level", emu_log)->capture_default_str();
  vox::app::EmulateTwilioOptions tw;
  auto* emu_tw = emulate->add_subcommand(
      "twilio", "A local Twilio: Calls REST API, signed webhooks and status callbacks, and a scripted callee on the "
                "media stream (see /emulator/calls)");
  emu_tw->add_option("--host", tw.host)->capture_default_str();
  emu_tw->add_option("--port,-p", tw.port, "Port (0 picks a free one)")->capture_default_str();
  emu_tw->add_option("--port-file", tw.port_file, "Write the bound port here once listening");
  emu_tw->add_option("--account-sid", tw.account_sid)->capture_default_str();
  emu_tw->add_option("--auth-token", tw.auth_token)->capture_default_str();
  emu_tw->add_option("--callee-say", tw.callee_say, "A line the called party says (repeat for several turns)");
  emu_tw->add_option("--callee-idle-ms", tw.callee_idle_ms,
                     "After its lines the callee stays on the line silent this long (default: hangs up at once)");
  emu_tw->add_option("--voice", tw.voice, "espeak-ng voice of the callee")->capture_default_str();
  emu_tw->add_option("--stt-grammar", tw.stt_grammar, "Transcribe what the callee hears against these phrases");
  emu_tw->add_option("--ring-ms", tw.ring_ms)->capture_default_str();
  emu_tw->add_option("--number", tw.numbers,
                     "Register a number of the emulated phone network, NUMBER=VOICE_URL: calls to it ring that app "
                     "and the two legs are bridged (repeat for several; also POST /emulator/numbers)");
  emu_tw->add_option("--log-level", emu_log)->capture_default_str();

  vox::app::EmulateOpenAiOptions oai;
  auto* emu_oai = emulate->add_subcommand(
      "openai", "A local OpenAI-compatible model server: streamed and whole chat completions, tool calls, rules "
                "(regex on the last message -> text and/or tool calls), latency and faults (see /emulator/*)");
  emu_oai->add_option("--host", oai.host)->capture_default_str();
  emu_oai->add_option("--port,-p", oai.port, "Port (0 picks a free one)")->capture_default_str();
  emu_oai->add_option("--port-file", oai.port_file, "Write the bound port here once listening");
  emu_oai->add_option("--api-key", oai.api_keys, "Accepted Bearer key (repeat; none: any key or none is accepted)");
  emu_oai->add_option("--rules", oai.rules_file,
                      "JSON file of rules: [{\"match\": \"regex\", \"text\": \"...\", \"tool_calls\": "
                      "[{\"name\": \"...\", \"arguments\": {...}}]}]")
      ->check(CLI::ExistingFile);
  emu_oai->add_option("--ttft-ms", oai.ttft_ms, "Delay before the first token")->capture_default_str();
  emu_oai->add_option("--tokens-per-second", oai.tokens_per_second, "Streaming speed (0: as fast as possible)")
      ->capture_default_str();
  emu_oai->add_option("--threads", oai.threads)->capture_default_str();
  emu_oai->add_option("--log-level", emu_log)->capture_default_str();

  auto* sim = app.add_subcommand("sim", "Simulators for local testing without a phone network");
  sim->require_subcommand(1);
  vox::app::SimCallerCommand caller_cmd;
  std::string caller_log = "warn";
  auto* caller = sim->add_subcommand(
      "caller", "Call a voxbridge server the way Twilio would: webhook, media socket, real-time audio, marks");
  caller->add_option("--url", caller_cmd.caller.server_url, "Server base URL")->capture_default_str();
  caller->add_option("--say", caller_cmd.caller.lines, "A line the caller says (repeat for several turns)");
  caller->add_option("--calls,-n", caller_cmd.calls, "Concurrent calls")->check(CLI::Range(1, 5000))->capture_default_str();
  caller->add_option("--expect", caller_cmd.expect,
                     "A phrase the caller expects to hear (repeat); recognition then uses a phrase grammar");
  caller->add_flag("!--no-transcribe", caller_cmd.transcribe, "Skip transcribing what was heard");
  caller->add_option("--barge-in-at", caller_cmd.caller.barge_in_at_ms,
                     "Speak each line this many ms into the reply instead of waiting for it to end");
  caller->add_option("--pause-ms", caller_cmd.caller.pause_ms, "Silence between a reply and the next line")->capture_default_str();
  caller->add_option("--query", caller_cmd.caller.webhook_query, "Query string for the webhook, e.g. agent=script");
  caller->add_option("--from", caller_cmd.caller.from)->capture_default_str();
  caller->add_option("--auth-token", caller_cmd.caller.auth_token,
                     "Sign the webhook and the media upgrade with this Twilio auth token, as Twilio does")
      ->envname("TWILIO_AUTH_TOKEN");
  caller->add_option("--to", caller_cmd.caller.to)->capture_default_str();
  caller->add_option("--call-sid", caller_cmd.caller.call_sid,
                     "CallSid of the simulated call (default: random; e.g. one registered with POST /calls/incoming)");
  caller->add_option("--webhook-path", caller_cmd.caller.webhook_path, "Path of the voice webhook")->capture_default_str();
  caller->add_option("--greeting-wait-ms", caller_cmd.caller.greeting_wait_ms,
                     "Wait this long for the server's greeting before the first line (a server with no greeting "
                     "says so at once, and the caller speaks without waiting)")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  caller->add_option("--reply-timeout-ms", caller_cmd.caller.reply_timeout_ms,
                     "Give up on a line's reply after this long (the call then fails)")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();
  caller->add_option("--idle-after-ms", caller_cmd.caller.idle_after_ms,
                     "After the last line, stay on the line silent this long (then hang up)");
  caller->add_option("--record-dir", caller_cmd.record_dir, "Write each heard reply as a WAV file here");
  caller->add_option("--json-out", caller_cmd.json_out, "Also write the JSON summary to this file");
  caller->add_option("--log-level", caller_log)->capture_default_str();

  // Usage errors exit 2 (as every command documents); --help exits 0.
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    // Whatever a command was given that opens doors never reaches its log.
    for (const auto* c : {&config, &say_config, &voices_config, &call_config, &talk_config}) vox::app::hide_secrets(*c);
    if (serve->parsed()) {
      if (silence_chunks > 0) config.call.inbound.endpointing.silence_ms = silence_chunks * 20;
      if (!llm_prompt_file.empty()) {
        std::ifstream in(llm_prompt_file);
        std::stringstream text;
        text << in.rdbuf();
        config.agent.llm.system_prompt = text.str();
      }
      vox::setup_logging(config.log_level);
      return vox::app::run_serve(config, serve_opts);
    }
    if (talk->parsed()) {
      if (talk_silence_chunks > 0) talk_config.call.inbound.endpointing.silence_ms = talk_silence_chunks * 20;
      if (talk->get_option("--log-level")->count() == 0) talk_config.log_level = talk_log;
      // The in-process server listens on loopback, on a free port, unless the command
      // line says otherwise: HOST and PORT (environment, .env) are the settings of the
      // `serve` that often runs beside it, on that very port.
      if (!on_command_line(argc, argv, {"--host"})) talk_config.host = "127.0.0.1";
      if (!on_command_line(argc, argv, {"--port", "-p"})) talk_config.port = 0;
      talk_opts.in_process_store_given = talk->get_option("--store")->count() > 0;
      vox::setup_logging(talk_config.log_level);
      return vox::app::run_talk(talk_config, talk_opts);
    }
    if (loadtest->parsed()) {
      vox::setup_logging(load_log);
      return vox::app::run_loadtest(load_opts);
    }
    if (say->parsed()) {
      vox::setup_logging(say_log);
      return vox::app::run_say(say_config, say_opts);
    }
    if (transcribe->parsed()) {
      vox::setup_logging("warn");
      return vox::app::run_transcribe(transcribe_opts);
    }
    if (voices->parsed()) {
      vox::setup_logging("warn");
      return vox::app::run_voices(voices_config, voices_json);
    }
    if (call->parsed()) {
      vox::setup_logging("warn");
      return vox::app::run_call(call_config, call_opts);
    }
    if (emu_tw->parsed()) {
      vox::setup_logging(emu_log);
      return vox::app::run_emulate_twilio(tw);
    }
    if (emu_oai->parsed()) {
      vox::setup_logging(emu_log);
      return vox::app::run_emulate_openai(oai);
    }
    if (emu_el->parsed()) {
      vox::setup_logging(emu_log);
      return vox::app::run_emulate_elevenlabs(emu);
    }
    if (caller->parsed()) {
      vox::setup_logging(caller_log);
      return vox::app::run_sim_caller(caller_cmd);
    }
  } catch (const std::exception& e) {
    std::cerr << "voxbridge: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
