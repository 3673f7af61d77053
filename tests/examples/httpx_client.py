# The "Python Client Example" of the integration guide
# (shared/reference/elevenlabs-twilio-integration.md, "Usage Examples"), run against a
# real voxbridge by tests/examples/run.sh:
#
#   /usr/bin/python3 httpx_client.py http://127.0.0.1:PORT
#
# The client class and main() are the documentation's code. The only changes, each
# marked "changed:" or "added:":
#   - the base URL comes from argv instead of "https://your-domain.com";
#   - webhook_url: the guide's "https://your-webhook.com" is a placeholder of a host that
#     does not exist here (and the test talks to 127.0.0.1 only). It is the URL Twilio
#     fetches TwiML from when the call connects, which the guide's "Webhook URLs" section
#     says should be this service's /api/v1/elevenlabs-twilio/webhook, so it points there
#     on the server under test (the emulated Twilio fetches it);
#   - main() prints the two JSON answers (one line each) for run.sh to check.
import asyncio
import json  # added: to print the answers
import sys  # added: the base URL comes from argv

import httpx

BASE_URL = sys.argv[1]  # added: e.g. http://127.0.0.1:8001


class ElevenLabsTwilioClient:
    def __init__(self, base_url: str):
        self.base_url = f"{base_url}/api/v1/elevenlabs-twilio"

    async def create_call(self, to_number: str, voice_id: str):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/calls",
                json={
                    "to_number": to_number,
                    "from_number": "+1234567890",
                    # changed: "https://your-webhook.com" (see the top of this file)
                    "webhook_url": f"{BASE_URL}/api/v1/elevenlabs-twilio/webhook",
                    "voice_id": voice_id,
                    "voice_settings": {
                        "stability": 0.8,
                        "similarity_boost": 0.9
                    }
                }
            )
            return response.json()

    async def stream_text(self, call_sid: str, text: str):
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{self.base_url}/calls/{call_sid}/stream",
                json={"text": text}
            )
            return response.json()

# Usage
async def main():
    client = ElevenLabsTwilioClient(BASE_URL)  # changed: was "https://your-domain.com"

    # Create call
    call = await client.create_call("+1234567890", "IKne3meq5aSn9XLyUdCD")
    print(json.dumps(call), flush=True)  # added

    # Stream text
    streamed = await client.stream_text(call["call_sid"], "Hello! How can I help you?")  # changed: keeps the answer
    print(json.dumps(streamed), flush=True)  # added

asyncio.run(main())
