"""Calls and messages signed like Twilio's, for the tests of the phone line and the SMS webhooks.

One place for the test deployment's Twilio auth token and public URL, the signature header, and `Call`, a caller
walking the voice menu. A test module takes them with a `config` fixture returning `signed_config(base_config)`.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from scheduler.config import Config

AUTH_TOKEN = "test-token"
BASE_URL = "https://termine.jobcenter.example"  # the deployment's public URL: Twilio signs requests to it
CALLER = "+4915123456799"


def signed_config(base_config: Config) -> Config:
    """The test configuration with the Twilio auth token and public URL the signatures below are made for."""
    sms = base_config.sms
    return dataclasses.replace(
        base_config, server=dataclasses.replace(base_config.server, public_base_url=BASE_URL),
        sms=dataclasses.replace(sms, twilio=dataclasses.replace(sms.twilio, auth_token=AUTH_TOKEN)))


def signature(url: str, params: dict[str, str]) -> str:
    """Twilio's signature of a form post to url (with the real SDK's validator)."""
    return RequestValidator(AUTH_TOKEN).compute_signature(url, params)


def signed_headers(url: str, params: dict[str, str]) -> dict[str, str]:
    """The header Twilio sends with a form post to url."""
    return {"X-Twilio-Signature": signature(url, params)}


class Call:
    """One caller going through the menu: posts where the last TwiML said, signed like Twilio."""

    def __init__(self, client: TestClient, *, caller: str = CALLER, sid: str = "CA" + "1" * 32) -> None:
        self.client = client
        self.caller = caller
        self.sid = sid
        self.next_url = f"{BASE_URL}/webhooks/twilio/voice"

    async def post(self, url: str, digits: str | None = None, *, signature: str | None = None) -> ET.Element:
        params = {"CallSid": self.sid, "From": self.caller, "To": "+4951112345", "AccountSid": "AC" + "0" * 32}
        if digits is not None:
            params["Digits"] = digits
        parts = urlsplit(url)
        headers = {"X-Twilio-Signature": signature} if signature else signed_headers(url, params)
        response = await self.client.post(parts.path + (f"?{parts.query}" if parts.query else ""), data=params,
                                          headers=headers)
        assert response.status == 200, await response.text()
        assert response.content_type == "text/xml"
        root = ET.fromstring(await response.text())
        redirect = root.find("Redirect")
        if redirect is not None:  # Twilio follows it at once, with the call's parameters and no digits
            assert redirect.attrib["method"] == "POST" and redirect.text
            return await self.post(redirect.text)
        gather = root.find("Gather")
        if gather is not None:
            self.next_url = gather.attrib["action"]
        return root

    async def press(self, digits: str) -> ET.Element:
        return await self.post(self.next_url, digits)


def said(root: ET.Element) -> list[str]:
    """Every sentence the TwiML speaks, in order."""
    return [el.text or "" for el in root.iter("Say")]
