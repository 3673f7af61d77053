#!/usr/bin/env python3
"""Runs the README's examples exactly as written, against the binary under test.

    python3 tests/examples/readme.py path/to/voxbridge [README.md]    (ctest: Examples.Readme)

A README code block is run when the line before it is a marker comment:

    <!-- example: NAME; setup: COMMAND; wait: URL; env: A=1 B=2; exit: N; expect: REGEX; serves: URL -->

Each example runs in its own temporary directory, where `./build/voxbridge` and
`voxbridge` (on PATH) are the binary under test and `examples/` is the repository's, with
none of voxbridge's settings inherited from the environment.

- setup:  a hidden command run first, in the background (e.g. the server an example talks to);
- wait:   a URL that must answer before the block runs (the setup's server);
- env:    variables the block's text assumes (e.g. $API_KEY);
- exit:   the block's expected exit status (default 0);
- expect: a regular expression its output must match;
- serves: the block runs servers in the foreground: it passes once this URL answers while
          the block is still running.

Every process an example starts is stopped when it ends. The examples use the README's
fixed loopback ports (8001-8003, 9100), so they run one after another.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

MARKER = re.compile(r"^<!--\s*example:\s*(.*?)\s*-->\s*$")
# Settings of voxbridge that must not leak from the caller's environment into the examples.
SETTINGS = re.compile(
    r"^(HOST|PORT|WEBHOOK_BASE_URL|BASE_URL|LOG_LEVEL|THREADS|TALK_TIMEOUT|GREETING|AGENT|SCRIPT_FILE|SILENCE_MS|"
    r"SILENCE_CHUNKS_TRIGGER|MIN_SPEECH_MS|VAD_MODE|WS_IDLE_TIMEOUT|HTTP_IDLE_TIMEOUT|TTS_.*|STT_.*|VOX_.*|MAX_.*|RECORDING_DIR|SHUTDOWN_DEADLINE_MS|"
    r"TWILIO_.*|ELEVENLABS_.*|ELEVEN_LABS_.*|VOICE_ID|LANGUAGE|API_KEY|LLM_.*|OPENAI_.*|AGENT_API_KEY|"
    r"VOXBRIDGE_.*|.*_proxy|.*_PROXY)$")


def parse(readme):
    """Returns [(name, attrs, code, line)] of the marked blocks."""
    lines = open(readme, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            attrs = {}
            for part in m.group(1).split(";"):
                if not part.strip():
                    continue
                key, _, value = part.partition(":")
                attrs[key.strip()] = value.strip()
            name = attrs.pop("name", None) or m.group(1).split(";")[0].strip()
            j = i + 2
            code = []
            while j < len(lines) and not lines[j].startswith("```"):
                code.append(lines[j])
                j += 1
            out.append((name, attrs, "\n".join(code) + "\n", i + 2))
            i = j
        i += 1
    return out


def answers(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


def wait_for(url, seconds, proc=None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if answers(url):
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.1)  # polling for the server to answer, bounded by the deadline
    return False


def stop(procs):
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:  # what did not stop on SIGTERM, and anything its children left
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def run_example(binary, repo, name, attrs, code):
    work = tempfile.mkdtemp(prefix="vox-readme-")
    try:
        os.makedirs(os.path.join(work, "build"))
        os.makedirs(os.path.join(work, "bin"))
        os.symlink(binary, os.path.join(work, "build", "voxbridge"))
        os.symlink(binary, os.path.join(work, "bin", "voxbridge"))
        os.symlink(os.path.join(repo, "examples"), os.path.join(work, "examples"))
        env = {k: v for k, v in os.environ.items() if not SETTINGS.match(k)}
        env["PATH"] = os.path.join(work, "bin") + os.pathsep + env.get("PATH", "")
        env["NO_PROXY"] = env["no_proxy"] = "*"
        for pair in attrs.get("env", "").split():
            k, _, v = pair.partition("=")
            env[k] = v
        log = open(os.path.join(work, "output.txt"), "w+")
        procs = []
        try:
            if "setup" in attrs:
                procs.append(subprocess.Popen(["bash", "-c", attrs["setup"]], cwd=work, env=env, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True))
            if "wait" in attrs and not wait_for(attrs["wait"], 90, procs[0] if procs else None):
                return False, "the setup's server at %s did not answer" % attrs["wait"], log
            with open(os.path.join(work, "example.sh"), "w") as f:
                f.write(code)
            block = subprocess.Popen(["bash", "-e", "-o", "pipefail", "example.sh"], cwd=work, env=env, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
            procs.append(block)
            if "serves" in attrs:
                if wait_for(attrs["serves"], 120, block) and block.poll() is None:
                    return True, "", log
                return False, "it did not serve %s" % attrs["serves"], log
            try:
                code_ = block.wait(timeout=float(attrs.get("timeout", 300)))
            except subprocess.TimeoutExpired:
                return False, "it did not finish within %s s" % attrs.get("timeout", 300), log
            want = int(attrs.get("exit", 0))
            if code_ != want:
                return False, "it exited with %d, not %d" % (code_, want), log
            if "expect" in attrs:
                log.flush()
                log.seek(0)
                if not re.search(attrs["expect"], log.read()):
                    return False, "its output does not match /%s/" % attrs["expect"], log
            return True, "", log
        finally:
            stop(procs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    binary = os.path.realpath(sys.argv[1])
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    readme = sys.argv[2] if len(sys.argv) > 2 else os.path.join(repo, "README.md")
    examples = parse(readme)
    if not examples:
        print("FAIL: no marked example in %s" % readme)
        return 1
    failed = 0
    for n, (name, attrs, code, line) in enumerate(examples, 1):
        started = time.monotonic()
        ok, why, log = run_example(binary, repo, name, attrs, code)
        took = time.monotonic() - started
        if ok:
            print("ok %d - %s (README.md:%d, %.1f s)" % (n, name, line, took))
        else:
            failed += 1
            log.flush()
            log.seek(0)
            output = log.read()
            print("FAIL %d - %s (README.md:%d): %s\n--- the example:\n%s--- its output (last 6000 bytes):\n%s" %
                  (n, name, line, why, code, output[-6000:]))
        log.close()
    print("%d of %d README examples passed" % (len(examples) - failed, len(examples)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
