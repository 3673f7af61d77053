#!/usr/bin/env bash
# The documented clients of the control API, run against the real binaries: every
# example of shared/reference/elevenlabs-twilio-integration.md ("Usage Examples": the
# cURL commands, the Python httpx client, the JavaScript WebSocket example, the wscat
# commands) with only the host changed, plus the /docs page rendered in jsdom.
#
#   bash tests/examples/run.sh path/to/voxbridge      (ctest: Examples.DocumentedClients)
#
# Needs tests/examples/node_modules (npm ci --prefix tests/examples), curl, node and
# /usr/bin/python3 with httpx (Debian's python3-httpx). Starts the Twilio and ElevenLabs
# emulators and a gateway on free loopback ports; talks to 127.0.0.1 only. Prints each
# check as it passes; on a failure, the logs' last lines.
set -euo pipefail

BIN=${1:?usage: run.sh path/to/voxbridge}
BIN=$(realpath -m "$BIN")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WSCAT=$HERE/node_modules/.bin/wscat
PYTHON=/usr/bin/python3
# The emulated Twilio account (what the gateway's REST calls and the webhooks' signatures use).
ACCOUNT=AC0123456789abcdef0123456789abcdef
TOKEN=examples-twilio-token

# Loopback only: no proxy, and none of the gateway's settings from the caller's environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export NO_PROXY='*' no_proxy='*'
unset HOST PORT WEBHOOK_BASE_URL BASE_URL LOG_LEVEL THREADS TALK_TIMEOUT GREETING AGENT SCRIPT_FILE SILENCE_MS \
  SILENCE_CHUNKS_TRIGGER MIN_SPEECH_MS VAD_MODE TTS_VOICE STT_MODE STT_GRAMMAR_FILE VOX_API_KEYS VOX_API_KEYS_FILE \
  VOX_STORE MAX_TEXT_CHARS MAX_CLIENT_SOCKETS MAX_CALLS RECORDING_DIR SHUTDOWN_DEADLINE_MS \
  TWILIO_ACCOUNT_SID TWILIO_AUTH_TOKEN TWILIO_API_KEY TWILIO_API_SECRET TWILIO_PHONE_NUMBER TWILIO_BASE_URL \
  TWILIO_VALIDATE_SIGNATURES ELEVENLABS_API_KEY ELEVEN_LABS_API_KEY ELEVENLABS_API_KEY_GAL ELEVENLABS_BASE_URL \
  VOICE_ID ELEVENLABS_TTS_MODEL ELEVENLABS_STT_MODEL ELEVENLABS_REALTIME_STT_MODEL LANGUAGE ELEVENLABS_TTS_TRANSPORT \
  ELEVENLABS_REALTIME_STT ELEVENLABS_CA_FILE TTS_CACHE TTS_CACHE_MB TTS_CACHE_DIR TTS_CACHE_DISK_MB TTS_PREWARM \
  VOXBRIDGE_ENV_FILE

T=''
TW='' EL='' PORT=''  # the emulators' and the gateway's ports (set by wait_port)
CHECKS=0
PIDS=()      # every process started, each the leader of its own session (setsid)
LOG_NAMES=()
LOG_FILES=()

pass() {
  CHECKS=$((CHECKS + 1))
  echo "ok $CHECKS - $*"
}
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
show() {  # show FILE: prints FILE indented
  sed 's/^/    /' "$1"
}

# alive PID: whether PID runs (a zombie does not).
alive() {
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state=$(sed -n 's/^[0-9]* (.*) \([A-Za-z]\) .*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}
# wait_gone PID SECONDS: polls until PID has exited; false if it still runs after SECONDS.
wait_gone() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}
# signal_group SIGNAL PID: signals PID's whole session (e.g. the harness and its simulated caller).
signal_group() {
  kill -"$1" -- "-$2" 2>/dev/null || kill -"$1" "$2" 2>/dev/null || true
}

cleanup() {
  local rc=$? i pid
  set +e
  trap - EXIT INT TERM
  if [ "$rc" -ne 0 ]; then
    for i in "${!LOG_NAMES[@]}"; do
      [ -s "${LOG_FILES[$i]}" ] || continue
      echo "---- last lines of ${LOG_NAMES[$i]} (${LOG_FILES[$i]})" >&2
      tail -n 40 "${LOG_FILES[$i]}" >&2
    done
  fi
  for pid in "${PIDS[@]}"; do alive "$pid" && signal_group TERM "$pid"; done
  for pid in "${PIDS[@]}"; do wait_gone "$pid" 10 || signal_group KILL "$pid"; done
  [ -n "$T" ] && rm -rf "$T"
  [ "$rc" -ne 0 ] && echo "examples: FAILED after $CHECKS checks passed" >&2
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

T=$(mktemp -d "${TMPDIR:-/tmp}/vox-examples.XXXXXX")
cd "$T"  # the processes' working directory: no stray .env is read, and curl's --output lands here

# start NAME LOG COMMAND...: starts a server in its own session, output to LOG.
start() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  PIDS+=("$!")
  LOG_NAMES+=("$name")
  LOG_FILES+=("$log")
  LAST_PID=$!
}
# wait_port NAME PID FILE VAR: waits (60 s at most) for the port file a server writes once
# listening, and sets VAR to the port.
wait_port() {
  local name=$1 pid=$2 file=$3 var=$4 i port
  for ((i = 0; i < 600; i++)); do
    if [ -s "$file" ]; then
      port=$(<"$file")
      if [[ $port =~ ^[0-9]+$ ]]; then
        printf -v "$var" '%s' "$port"
        pass "$name listens on 127.0.0.1:$port"
        return 0
      fi
    fi
    alive "$pid" || fail "$name exited before listening"
    sleep 0.1
  done
  fail "$name was not listening within 60 s"
}
# run_step NAME SECONDS OUT COMMAND...: runs a client in its own session, stdout to OUT and
# stderr to OUT.err; returns its exit status; fails when it runs longer than SECONDS.
run_step() {
  local name=$1 secs=$2 out=$3 pid rc=0
  shift 3
  setsid "$@" >"$out" 2>"$out.err" </dev/null &
  pid=$!
  PIDS+=("$pid")
  LOG_NAMES+=("$name (stdout)" "$name (stderr)")
  LOG_FILES+=("$out" "$out.err")
  if ! wait_gone "$pid" "$secs"; then
    signal_group KILL "$pid"
    fail "$name did not finish within $secs s"
  fi
  wait "$pid" || rc=$?
  return "$rc"
}

# curl_check NAME STATUS curl ARGS...: runs a cURL command as written (the documented
# ones differ from the guide in their host only), adding -sS, --noproxy, --max-time and
# -w to read the status; checks the status. The body lands in $T/body, or in the
# command's own --output file.
curl_check() {
  local name=$1 want=$2 code arg
  shift 2
  [ "$1" = curl ] || fail "curl_check $name: not a curl command"
  shift
  local output_args=(-o "$T/body")
  for arg in "$@"; do
    if [ "$arg" = --output ]; then output_args=(); fi
  done
  rm -f "$T/body"
  if ! code=$(curl -sS --noproxy '*' --max-time 120 "${output_args[@]}" -w '%{http_code}' "$@" 2>"$T/curl.err"); then
    fail "$name: curl failed: $(cat "$T/curl.err")"
  fi
  [ "$code" = "$want" ] || fail "$name: HTTP $code, expected $want; body: $(head -c 2000 "$T/body" 2>/dev/null)"
  pass "$name: HTTP $code"
}
# check_json NAME FILE EXPR: the Python expression EXPR must hold of `d`, FILE's JSON.
check_json() {
  local name=$1 file=$2 expr=$3
  if "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if eval("(" + sys.argv[2] + ")") else 1)' "$file" "$expr" 2>"$T/py.err"; then
    pass "$name"
  else
    fail "$name: does not hold: $expr
  of: $(head -c 3000 "$file")
  $(cat "$T/py.err")"
  fi
}
# check_messages NAME FILE EXPR: EXPR must hold of `m`, the JSON messages of FILE (one a line).
check_messages() {
  local name=$1 file=$2 expr=$3
  if "$PYTHON" -c 'import json, sys
m = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
sys.exit(0 if m and eval("(" + sys.argv[2] + ")") else 1)' "$file" "$expr" 2>"$T/py.err"; then
    pass "$name"
  else
    fail "$name: does not hold: $expr
  of: $(head -c 3000 "$file")
  $(cat "$T/py.err")"
  fi
}
# json_value FILE EXPR: prints EXPR of `d`, FILE's JSON ("" when it cannot).
json_value() {
  "$PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval("(" + sys.argv[2] + ")"))' "$1" "$2" 2>/dev/null || true
}

# ---- prerequisites -------------------------------------------------------------------
[ -x "$BIN" ] || fail "no voxbridge binary at $BIN"
command -v curl >/dev/null || fail "curl is not installed"
command -v node >/dev/null || fail "node is not installed"
"$PYTHON" -c 'import httpx' 2>/dev/null || fail "$PYTHON has no httpx (apt-get install python3-httpx)"
for m in ws wscat jsdom; do
  [ -d "$HERE/node_modules/$m" ] || fail "tests/examples/node_modules/$m is missing: run npm ci --prefix tests/examples"
done
[ -x "$WSCAT" ] || fail "$WSCAT is missing: run npm ci --prefix tests/examples"

# ---- the emulated providers and the gateway ------------------------------------------
# What the simulated caller says; the gateway and the emulated ElevenLabs recognise these.
printf '%s\n' "good morning" "hello there" "thank you very much" >"$T/grammar.txt"

start "Twilio emulator" "$T/twilio.log" \
  "$BIN" emulate twilio --host 127.0.0.1 --port 0 --port-file "$T/tw.port" \
  --account-sid "$ACCOUNT" --auth-token "$TOKEN" --log-level debug
TW_PID=$LAST_PID
start "ElevenLabs emulator" "$T/elevenlabs.log" \
  "$BIN" emulate elevenlabs --host 127.0.0.1 --port 0 --port-file "$T/el.port" --api-key test-key \
  --stt-grammar "$T/grammar.txt" --log-level debug
EL_PID=$LAST_PID
wait_port "the Twilio emulator" "$TW_PID" "$T/tw.port" TW
wait_port "the ElevenLabs emulator" "$EL_PID" "$T/el.port" EL

# Overload control off (SHED_LAG_MS=0): on a busy CI machine a sanitizer-built server's loop
# lags past the production threshold, and the documented clients are not about shedding.
start "voxbridge serve" "$T/serve.log" \
  env SHED_LAG_MS=0 ELEVENLABS_API_KEY=test-key ELEVENLABS_BASE_URL="http://127.0.0.1:$EL" \
  TWILIO_ACCOUNT_SID="$ACCOUNT" TWILIO_AUTH_TOKEN="$TOKEN" TWILIO_BASE_URL="http://127.0.0.1:$TW" \
  TWILIO_PHONE_NUMBER=+15005550006 \
  "$BIN" serve --host 127.0.0.1 --port 0 --port-file "$T/srv.port" --store "$T/calls.db" --greeting "" \
  --stt-mode grammar --stt-grammar "$T/grammar.txt" --log-level debug \
  --relaxed-call-sids  # the guide's CallSid, CA1234567890abcdef, is not Twilio's shape (CA + 32 hex digits)
SERVE_PID=$LAST_PID
wait_port "voxbridge serve" "$SERVE_PID" "$T/srv.port" PORT

# ---- the cURL examples, in the guide's order; only https://your-domain.com is changed --
echo "# cURL examples"
curl_check "health check" 200 \
curl -X GET "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/health"
check_json "health: healthy, both providers configured" "$T/body" \
  'd["status"] == "healthy" and d["elevenlabs_configured"] is True and d["twilio_configured"] is True'

curl_check "get available voices" 200 \
curl -X GET "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/voices"
check_json "voices: a list with IKne3meq5aSn9XLyUdCD" "$T/body" \
  'isinstance(d, list) and any(v["voice_id"] == "IKne3meq5aSn9XLyUdCD" for v in d)'

curl_check "validate voice ID" 200 \
curl -X GET "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/voices/IKne3meq5aSn9XLyUdCD/validate"
check_json "validate: IKne3meq5aSn9XLyUdCD is valid" "$T/body" \
  'd["voice_id"] == "IKne3meq5aSn9XLyUdCD" and d["valid"] is True'

# The guide's from_number "+0987654321" is no E.164 number (no country code starts with
# 0), so the call is refused, naming the field.
curl_check "create integrated call (the guide's from_number)" 400 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls" \
  -H "Content-Type: application/json" \
  -d '{
    "to_number": "+1234567890",
    "from_number": "+0987654321",
    "webhook_url": "http://127.0.0.1:'"$PORT"'/api/v1/elevenlabs-twilio/webhook",
    "voice_id": "IKne3meq5aSn9XLyUdCD",
    "voice_settings": {
      "stability": 0.7,
      "similarity_boost": 0.8,
      "style": 0.1,
      "use_speaker_boost": true
    },
    "metadata": {
      "customer_id": "12345",
      "call_type": "support"
    }
  }'
check_json "create call: the detail names from_number" "$T/body" '"from_number" in d["detail"]'

# The same command with a caller id the (emulated) account owns.
curl_check "create integrated call (from_number +15005550006)" 200 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls" \
  -H "Content-Type: application/json" \
  -d '{
    "to_number": "+1234567890",
    "from_number": "+15005550006",
    "webhook_url": "http://127.0.0.1:'"$PORT"'/api/v1/elevenlabs-twilio/webhook",
    "voice_id": "IKne3meq5aSn9XLyUdCD",
    "voice_settings": {
      "stability": 0.7,
      "similarity_boost": 0.8,
      "style": 0.1,
      "use_speaker_boost": true
    },
    "metadata": {
      "customer_id": "12345",
      "call_type": "support"
    }
  }'
check_json "create call: initiated, as asked" "$T/body" \
  'd["status"] == "initiated" and d["call_sid"].startswith("CA") and d["direction"] == "outbound-api"
   and d["to"] == "+1234567890" and d["from_"] == "+15005550006" and d["voice_id"] == "IKne3meq5aSn9XLyUdCD"
   and d["voice_settings"]["stability"] == 0.7 and d["voice_settings"]["style"] == 0.1'
CREATED_SID=$(json_value "$T/body" 'd["call_sid"]')

curl_check "handle incoming call" 200 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/incoming" \
  -H "Content-Type: application/json" \
  -d '{
    "call_sid": "CA1234567890abcdef",
    "from_number": "+1234567890",
    "to_number": "+0987654321",
    "company_api_key": "your-company-key",
    "agent_id": "agent-123",
    "voice_id": "IKne3meq5aSn9XLyUdCD",
    "voice_settings": {
      "stability": 0.8,
      "similarity_boost": 0.9
    }
  }'
check_json "incoming call: handled, with TwiML that connects a stream" "$T/body" \
  'd["status"] == "handled" and d["call_sid"] == "CA1234567890abcdef" and "<Stream" in d["twiml"]'

curl_check "synthesize text for call (REST)" 200 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef/synthesize" \
  -H "Content-Type: application/json" \
  -d '{
    "text": "Hello! How can I help you today?",
    "voice_id": "IKne3meq5aSn9XLyUdCD",
    "voice_settings": {
      "stability": 0.8
    }
  }' \
  --output synthesized_audio.mp3
magic=$(head -c 3 "$T/synthesized_audio.mp3" | od -An -tx1 | tr -d ' \n')
case $magic in
  494433*) pass "synthesized_audio.mp3 is MP3 (ID3 tag), $(stat -c %s "$T/synthesized_audio.mp3") bytes" ;;
  ff[ef]*) pass "synthesized_audio.mp3 is MP3 (frame sync), $(stat -c %s "$T/synthesized_audio.mp3") bytes" ;;
  *) fail "synthesized_audio.mp3 is not MP3: it starts with ${magic:-nothing}" ;;
esac

# "Hello! How can I help you today?" is 32 characters (the guide's sample answer says 35).
# The call is registered but its media stream has not started, so the text waits (queued).
curl_check "stream text to call" 200 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef/stream" \
  -H "Content-Type: application/json" \
  -d '{
    "text": "Hello! How can I help you today?"
  }'
check_json "stream: streaming 32 characters, queued for the stream" "$T/body" \
  'd["call_sid"] == "CA1234567890abcdef" and d["status"] == "streaming" and d["text_length"] == 32 and d["queued"] is True'

curl_check "stop call synthesis" 200 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef/stop"
check_json "stop: stopped" "$T/body" 'd["call_sid"] == "CA1234567890abcdef" and d["status"] == "stopped"'

curl_check "get call integration info" 200 \
curl -X GET "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef"
check_json "call info: the registered voice and settings" "$T/body" \
  'd["call_sid"] == "CA1234567890abcdef" and d["voice_id"] == "IKne3meq5aSn9XLyUdCD"
   and d["voice_settings"]["stability"] == 0.8 and d["voice_settings"]["similarity_boost"] == 0.9'

# "new-voice-id" is the guide's placeholder, not a voice: refused as the guide's errors say.
curl_check "update call voice settings (voice_id=new-voice-id)" 404 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef/voice?voice_id=new-voice-id" \
  -H "Content-Type: application/json" \
  -d '{
    "stability": 0.9,
    "similarity_boost": 0.95
  }'
check_json "update voice: Invalid voice ID: new-voice-id" "$T/body" 'd["detail"] == "Invalid voice ID: new-voice-id"'

# The same command with a voice the (emulated) account has.
curl_check "update call voice settings (voice_id=21m00Tcm4TlvDq8ikWAM)" 200 \
curl -X POST "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef/voice?voice_id=21m00Tcm4TlvDq8ikWAM" \
  -H "Content-Type: application/json" \
  -d '{
    "stability": 0.9,
    "similarity_boost": 0.95
  }'
check_json "update voice: updated" "$T/body" \
  'd["status"] == "updated" and d["voice_id"] == "21m00Tcm4TlvDq8ikWAM"
   and d["voice_settings"]["stability"] == 0.9 and d["voice_settings"]["similarity_boost"] == 0.95'

curl_check "end integrated call" 200 \
curl -X DELETE "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls/CA1234567890abcdef"
check_json "end call: ended" "$T/body" 'd["call_sid"] == "CA1234567890abcdef" and d["status"] == "ended"'

# ---- the Python client example (httpx) --------------------------------------------------
echo "# Python client example (httpx)"
run_step "httpx client" 120 "$T/httpx.out" "$PYTHON" "$HERE/httpx_client.py" "http://127.0.0.1:$PORT" ||
  fail "the httpx client failed: $(cat "$T/httpx.out.err")"
show "$T/httpx.out"
sed -n 1p "$T/httpx.out" >"$T/httpx_call.json"
sed -n 2p "$T/httpx.out" >"$T/httpx_stream.json"
check_json "httpx create_call: initiated" "$T/httpx_call.json" \
  'd["status"] == "initiated" and d["call_sid"].startswith("CA") and d["voice_id"] == "IKne3meq5aSn9XLyUdCD"
   and d["voice_settings"]["stability"] == 0.8 and d["voice_settings"]["similarity_boost"] == 0.9'
HTTPX_SID=$(json_value "$T/httpx_call.json" 'd["call_sid"]')
check_json "httpx stream_text: streaming the 26 characters to that call" "$T/httpx_stream.json" \
  "d['status'] == 'streaming' and d['call_sid'] == '$HTTPX_SID' and d['text_length'] == 26"

# ---- the JavaScript WebSocket example ---------------------------------------------------
echo "# JavaScript WebSocket example"
# The simulated caller it starts signs Twilio's requests with the gateway's auth token.
run_step "browser client" 90 "$T/browser.out" \
  env TWILIO_AUTH_TOKEN="$TOKEN" node "$HERE/browser_client.js" "http://127.0.0.1:$PORT" "$BIN" ||
  fail "the JavaScript WebSocket example failed: $(tail -n 20 "$T/browser.out.err")"
show "$T/browser.out"
BROWSER_SID=$(sed -n 's/^browser_client: ok call_sid=\(CA[0-9a-f]\{32\}\) .*/\1/p' "$T/browser.out")
[ -n "$BROWSER_SID" ] || fail "the JavaScript WebSocket example did not report its call"
pass "JavaScript WebSocket example: bound to $BROWSER_SID, synthesized with audio, voice updated, synthesis stopped"

# ---- the wscat commands -----------------------------------------------------------------
echo "# wscat commands"
WS_URL="ws://127.0.0.1:$PORT/api/v1/webrtc/twilio-elevenlabs-stream/peer123/company-key/agent456"
# wscat_run NAME OUT [MESSAGE]: the guide's `wscat -c URL`, or `echo MESSAGE | wscat -c URL`.
# wscat reads stdin lines only once connected and quits as soon as its input ends, so
# the piped form would send nothing: the message goes with -x (sent on connecting) and
# -w 2 (then wait 2 s for the answers). Its stdin is a FIFO held open meanwhile; for the
# bare command the input is ended (as Ctrl+D would) once the greeting is printed.
wscat_run() {
  local name=$1 out=$2 msg=${3-} pid i rc=0
  local fifo=$T/wscat.$CHECKS.in
  mkfifo "$fifo"
  exec 9<>"$fifo"
  if [ -n "$msg" ]; then
    setsid "$WSCAT" -c "$WS_URL" -x "$msg" -w 2 <"$fifo" >"$out" 2>"$out.err" 9>&- &
  else
    setsid "$WSCAT" -c "$WS_URL" <"$fifo" >"$out" 2>"$out.err" 9>&- &
  fi
  pid=$!
  PIDS+=("$pid")
  LOG_NAMES+=("$name (stdout)" "$name (stderr)")
  LOG_FILES+=("$out" "$out.err")
  if [ -z "$msg" ]; then
    for ((i = 0; i < 300; i++)); do
      grep -q connection_established "$out" && break
      alive "$pid" || break
      sleep 0.1
    done
    exec 9>&-
  fi
  if ! wait_gone "$pid" 30; then
    exec 9>&-
    signal_group KILL "$pid"
    fail "$name: wscat still ran after 30 s"
  fi
  exec 9>&-
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name: wscat exited with $rc: $(cat "$out.err")"
  show "$out"
}
FIRST_IS_GREETING='m[0]["type"] == "connection_established" and m[0]["peer_id"] == "peer123" and m[0]["call_sid"] is None'

wscat_run "wscat connect" "$T/wscat-connect.out"
check_messages "wscat -c: connection_established (no call named)" "$T/wscat-connect.out" "$FIRST_IS_GREETING"

wscat_run "wscat text" "$T/wscat-text.out" \
  '{"type": "text", "text": "Hello! How can I help you today?"}'
check_messages "wscat text: synthesis_error, as no call is bound" "$T/wscat-text.out" \
  "$FIRST_IS_GREETING"' and any(x["type"] == "synthesis_error" and x["text"] == "Hello! How can I help you today?" for x in m)'

wscat_run "wscat stop_synthesis" "$T/wscat-stop.out" \
  '{"type": "control", "action": "stop_synthesis"}'
check_messages "wscat stop_synthesis: control_response success false (no call bound)" "$T/wscat-stop.out" \
  "$FIRST_IS_GREETING"' and any(x["type"] == "control_response" and x["action"] == "stop_synthesis" and x["success"] is False for x in m)'

wscat_run "wscat update_voice" "$T/wscat-voice.out" \
  '{"type": "control", "action": "update_voice", "voice_id": "new-voice-id", "voice_settings": {"stability": 0.8}}'
check_messages "wscat update_voice: control_response success false (no call bound)" "$T/wscat-voice.out" \
  "$FIRST_IS_GREETING"' and any(x["type"] == "control_response" and x["action"] == "update_voice" and x["success"] is False for x in m)'

wscat_run "wscat get_call_info" "$T/wscat-info.out" \
  '{"type": "control", "action": "get_call_info"}'
check_messages "wscat get_call_info: control_response success false (no call bound)" "$T/wscat-info.out" \
  "$FIRST_IS_GREETING"' and any(x["type"] == "control_response" and x["action"] == "get_call_info" and x["success"] is False for x in m)'

wscat_run "wscat ping" "$T/wscat-ping.out" \
  '{"type": "ping"}'
check_messages "wscat ping: pong" "$T/wscat-ping.out" \
  "$FIRST_IS_GREETING"' and any(x["type"] == "pong" for x in m)'
grep -q pong "$T/wscat-ping.out" || fail "wscat ping: no line with pong"

# ---- the /docs page ---------------------------------------------------------------------
echo "# the /docs page"
run_step "docs page" 60 "$T/docs.out" node "$HERE/docs_render.js" "http://127.0.0.1:$PORT" ||
  fail "the /docs page did not render: $(cat "$T/docs.out" "$T/docs.out.err")"
show "$T/docs.out"
pass "/docs renders one section per operation of /openapi.json, titled \"voxbridge control API\""

# ---- the call history -------------------------------------------------------------------
echo "# the calls created"
curl_check "list calls" 200 \
curl -X GET "http://127.0.0.1:$PORT/api/v1/elevenlabs-twilio/calls"
"$PYTHON" -c 'import json, sys
for c in json.load(open(sys.argv[1]))["calls"]:
    print("    %s %-12s %-13s to=%s agent=%s" % (c["call_sid"], c["status"], c["direction"], c["to"], c["agent_id"]))' "$T/body"
check_json "list calls: every call created above" "$T/body" \
  "{c['call_sid'] for c in d['calls']} >= {'$CREATED_SID', 'CA1234567890abcdef', '$HTTPX_SID', '$BROWSER_SID'}"
check_json "list calls: the ended calls are completed" "$T/body" \
  "all(c['status'] == 'completed' and c['ended_at'] for c in d['calls'] if c['call_sid'] in ('CA1234567890abcdef', '$BROWSER_SID'))"

# ---- shutdown: each server exits cleanly on SIGTERM (under ASan: without leaks) ---------
for entry in "voxbridge serve:$SERVE_PID" "the Twilio emulator:$TW_PID" "the ElevenLabs emulator:$EL_PID"; do
  name=${entry%:*}
  pid=${entry##*:}
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone "$pid" 20 || fail "$name did not exit within 20 s of SIGTERM"
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "$name exited with $rc after SIGTERM"
  pass "$name exited cleanly on SIGTERM"
done

echo "examples: $CHECKS checks passed"
