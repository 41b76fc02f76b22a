"""The `slack` notifier: Slack incoming webhook with Block Kit and a plain-text fallback.

The webhook URL's path is the credential, so it never appears in a log record or an
exception: messages name the notifier only, and every error text is scrubbed. Slack's
answers map onto the shared status table (`notifiers/http.py`): 429 retries after
`Retry-After`, 5xx retries, and the permanent errors (`invalid_payload`,
`channel_not_found`, `channel_is_archived`, 404, 410, ...) dead-letter at once with
Slack's response body in the error and the log.
"""

from __future__ import annotations

import logging
import time

from ..errors import DeliveryError
from ..model import Notification, dumps
from .http import NotifierContext, Scrubber, make_client, post, secret_value
from .render import slack_payload
from .settings import SlackSettings

log = logging.getLogger(__name__)


class SlackNotifier:
    """One incoming webhook (bound by Slack to one channel)."""

    def __init__(self, name: str, settings: SlackSettings, ctx: NotifierContext) -> None:
        self.name = name
        self._url = secret_value(settings.webhook_url) or ""
        self._scrub = Scrubber([self._url])
        self._what = f"slack {name}"
        self._client = make_client(ctx, float(settings.timeout))
        self._closed = False

    async def send(self, notification: Notification) -> None:
        body = dumps(slack_payload(notification)).encode()
        try:
            await post(self._client, self._url, what=self._what, scrub=self._scrub,
                       now=time.time(), content=body,
                       headers={"Content-Type": "application/json"})
        except DeliveryError as exc:
            if not exc.retry:
                # Permanent: the webhook needs reconfiguring; say so with Slack's reason.
                log.warning("%s rejected %s permanently (reconfigure the webhook): %s",
                            self._what, notification.id, exc)
            raise

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def build(name: str, settings: SlackSettings, ctx: NotifierContext | None) -> SlackNotifier:
    """NOTIFIERS factory for `kind: slack`."""
    return SlackNotifier(name, settings, ctx or NotifierContext())
