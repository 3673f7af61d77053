'use strict';
// The "JavaScript WebSocket Example" of the integration guide
// (shared/reference/elevenlabs-twilio-integration.md, "Usage Examples"): the browser code
// runs as written, in Node, against a real voxbridge; a small harness around it plays
// the browser's part (WebSocket, atob, playAudio) and the phone call's.
//
//   node browser_client.js http://127.0.0.1:PORT /path/to/voxbridge
//
// The harness waits for connection_established, registers a call for agent "agent456"
// (POST /calls/incoming), lets `voxbridge sim caller` call in as Twilio would, and once
// the socket is bound to that call (call_bound) uses the example's functions:
// synthesizeText() must bring synthesis_started with the text and audio,
// updateVoice() and stopSynthesis() a successful control_response each. It then ends
// the call (DELETE /calls/{sid}) and exits 0; on a failure, or after 60 s, it exits 1
// saying why. The last line on success is "browser_client: ok call_sid=CA...".
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');

const [BASE, BIN] = process.argv.slice(2);
if (!BASE || !BIN) {
  console.error('usage: node browser_client.js http://127.0.0.1:PORT /path/to/voxbridge');
  process.exit(2);
}
const HOST = new URL(BASE).host; // the one change to the documented code: its host

// ---- what a browser provides, and what the example leaves to its page -------------
globalThis.WebSocket = require('ws'); // atob is a global in Node as in browsers
let audioBytes = 0;
let audioMessages = 0;
function playAudio(audioData) {
  audioBytes += audioData.length; // a binary string: one character per byte
  audioMessages += 1;
}

// ---- the documented example, verbatim but for the host ----------------------------
const ws = new WebSocket(`ws://${HOST}/api/v1/webrtc/twilio-elevenlabs-stream/peer123/company-key/agent456`);

ws.onopen = function() {
    console.log('Connected to ElevenLabs Twilio stream');
};

ws.onmessage = function(event) {
    const message = JSON.parse(event.data);
    
    switch(message.type) {
        case 'connection_established':
            console.log('Connection established:', message);
            break;
        case 'audio':
            // Handle audio data
            const audioData = atob(message.data);
            playAudio(audioData);
            break;
        case 'synthesis_started':
            console.log('Synthesis started:', message.text);
            break;
        case 'synthesis_error':
            console.error('Synthesis error:', message.error);
            break;
    }
};

// Send text for synthesis
function synthesizeText(text) {
    ws.send(JSON.stringify({
        type: 'text',
        text: text
    }));
}

// Stop synthesis
function stopSynthesis() {
    ws.send(JSON.stringify({
        type: 'control',
        action: 'stop_synthesis'
    }));
}

// Update voice settings
function updateVoice(voiceId, settings) {
    ws.send(JSON.stringify({
        type: 'control',
        action: 'update_voice',
        voice_id: voiceId,
        voice_settings: settings
    }));
}

// ---- the harness ------------------------------------------------------------------
const TEXT = 'Hello! How can I help you today?';
const VOICE = '21m00Tcm4TlvDq8ikWAM';
const API = `${BASE}/api/v1/elevenlabs-twilio`;
const callSid = 'CA' + crypto.randomBytes(16).toString('hex');
const received = {}; // message type -> count
let step = 'connecting';
let synthesisStarted = false;
let caller = null;
let callerExit = null;
let callerOutput = '';
let finished = false;

const overall = setTimeout(() => fail('no result within 60 s'), 60000);

function log(text) {
  console.log(`browser_client: ${text}`);
}

function finish(code) {
  if (finished) return;
  finished = true;
  clearTimeout(overall);
  if (caller && !callerExit) caller.kill('SIGTERM');
  step = 'done';
  try {
    ws.close();
  } catch (e) {
    // closing a socket that never opened
  }
  process.exitCode = code;
  // Let the close frame and the kill go out, then leave even if something lingers.
  setTimeout(() => process.exit(code), 500).unref();
}

function fail(why) {
  if (finished) return;
  console.error(`browser_client: FAIL at step '${step}': ${why}`);
  console.error(`browser_client: messages received: ${JSON.stringify(received)}; audio bytes: ${audioBytes}`);
  if (callerOutput) console.error(`browser_client: sim caller output:\n${callerOutput}`);
  finish(1);
}

async function request(method, path, body) {
  const res = await fetch(`${API}${path}`, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch (e) {
    // not JSON: reported below
  }
  return { status: res.status, text, json };
}

// Registers the call for agent456 and starts the simulated phone call.
async function registerAndCall() {
  step = 'registering the call';
  const res = await request('POST', '/calls/incoming', {
    call_sid: callSid,
    from_number: '+15550001111',
    to_number: '+15550002222',
    company_api_key: 'company-key',
    agent_id: 'agent456',
    voice_id: 'IKne3meq5aSn9XLyUdCD',
  });
  if (res.status !== 200 || !res.json || res.json.status !== 'handled')
    return fail(`POST /calls/incoming answered ${res.status}: ${res.text}`);
  log(`registered ${callSid} for agent456`);
  step = 'waiting for call_bound';
  // The Twilio side: the simulated caller posts the voice webhook (signed with
  // TWILIO_AUTH_TOKEN from the environment, as Twilio would) and opens the media stream.
  caller = spawn(BIN, ['sim', 'caller', '--url', BASE, '--call-sid', callSid, '--say', 'good morning',
                       '--idle-after-ms', '4000', '--no-transcribe'],
                 { stdio: ['ignore', 'pipe', 'pipe'] });
  caller.stdout.on('data', (d) => { callerOutput += d; });
  caller.stderr.on('data', (d) => { callerOutput += d; });
  caller.on('error', (e) => fail(`cannot start the simulated caller: ${e.message}`));
  caller.on('exit', (code, signal) => {
    callerExit = { code, signal };
    if (step === 'ending the call') {
      log(`the simulated caller hung up (exit ${code})`);
      maybeDone();
    } else if (!finished) {
      fail(`the simulated caller ended early (exit ${code}, signal ${signal})`);
    }
  });
}

function maybeUpdateVoice() {
  if (step !== 'synthesizing' || !synthesisStarted || audioBytes === 0) return;
  log(`synthesis started and ${audioBytes} audio bytes played; updating the voice`);
  step = 'updating the voice';
  updateVoice(VOICE, { stability: 0.8 });
}

// Ends the call the documented way; the simulated caller then hangs up, as the server
// closes its media stream (possibly before the DELETE's answer arrives).
let ended = false;
async function endCall() {
  step = 'ending the call';
  const res = await request('DELETE', `/calls/${callSid}`);
  if (res.status !== 200 || !res.json || res.json.status !== 'ended')
    return fail(`DELETE /calls/${callSid} answered ${res.status}: ${res.text}`);
  log('DELETE /calls/{sid} answered ended');
  ended = true;
  setTimeout(() => fail('the simulated caller was still on the line 30 s after DELETE /calls/{sid}'), 30000);
  maybeDone();
}

function maybeDone() {
  if (!ended || !callerExit) return;
  log(`ok call_sid=${callSid} audio_messages=${audioMessages} audio_bytes=${audioBytes}`);
  finish(0);
}

ws.addEventListener('error', (event) => fail(`WebSocket error: ${event.message || event.error}`));
ws.addEventListener('close', (event) => {
  if (!finished) fail(`the socket closed (code ${event.code} ${event.reason})`);
});
// Runs after the example's onmessage (registered first), so playAudio has counted the audio.
ws.addEventListener('message', (event) => {
  const m = JSON.parse(event.data);
  received[m.type] = (received[m.type] || 0) + 1;
  switch (m.type) {
    case 'connection_established':
      if (step !== 'connecting') return fail('a second connection_established');
      if (m.peer_id !== 'peer123') return fail(`connection_established names peer ${m.peer_id}`);
      registerAndCall().catch((e) => fail(e.stack || String(e)));
      break;
    case 'call_bound':
      if (m.call_sid !== callSid) return fail(`bound to ${m.call_sid}, not ${callSid}`);
      log(`bound to ${m.call_sid}`);
      step = 'synthesizing';
      synthesizeText(TEXT);
      break;
    case 'synthesis_started':
      if (step === 'synthesizing' && m.text === TEXT) synthesisStarted = true;
      maybeUpdateVoice();
      break;
    case 'audio':
      maybeUpdateVoice();
      break;
    case 'synthesis_error':
      if (step === 'synthesizing') fail(`synthesis_error: ${m.error}`);
      break;
    case 'control_response':
      if (m.action === 'update_voice' && step === 'updating the voice') {
        if (m.success !== true) return fail(`update_voice failed: ${event.data}`);
        if (m.voice_id !== VOICE) return fail(`update_voice answered voice ${m.voice_id}`);
        if (!m.voice_settings || m.voice_settings.stability !== 0.8)
          return fail(`update_voice answered settings ${JSON.stringify(m.voice_settings)}`);
        log('voice updated; stopping the synthesis');
        step = 'stopping';
        stopSynthesis();
      } else if (m.action === 'stop_synthesis' && step === 'stopping') {
        if (m.success !== true) return fail(`stop_synthesis failed: ${event.data}`);
        log('synthesis stopped; ending the call');
        endCall().catch((e) => fail(e.stack || String(e)));
      } else {
        fail(`unexpected control_response: ${event.data}`);
      }
      break;
    case 'error':
      fail(`error message: ${event.data}`);
      break;
    default:
      break; // transcript, synthesis_finished, barge_in, call_ended, ...
  }
});

process.on('SIGTERM', () => fail('terminated'));
process.on('SIGINT', () => fail('interrupted'));
