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
from collections.abc import Sequence
from typing import Any

from ..errors import DeliveryError
from ..model import Notification, dumps
from .http import NotifierContext, Scrubber, make_client, post, secret_value
from .render import custom_text, escape_slack, plain_text, slack_payload
from .settings import SlackSettings

log = logging.getLogger(__name__)


class SlackNotifier:
    """One incoming webhook (bound by Slack to one channel)."""

    def __init__(self, name: str, settings: SlackSettings, ctx: NotifierContext) -> None:
        self.name = name
        self.settings = settings   # the delivery worker reads group_wait from it
        self._url = secret_value(settings.webhook_url) or ""
        self._scrub = Scrubber([self._url])
        self._what = f"slack {name}"
        self._client = make_client(ctx, float(settings.timeout))
        self._closed = False

    async def send(self, notification: Notification) -> None:
        custom = custom_text(notification, self.settings.template)
        payload = slack_payload(notification) if custom is None else {
            "text": custom, "blocks": [{"type": "section", "text": {
                "type": "mrkdwn", "text": escape_slack(custom[:2900])}}]}
        body = dumps(payload).encode()
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

    async def send_group(self, group_key: str,
                         notifications: Sequence[Notification]) -> None:
        """One message listing the group (plain mrkdwn-escaped text, one block each)."""
        # Slack allows 50 blocks and 3,000 characters each; clip before escaping.
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn",
            "text": escape_slack(plain_text(n)[:2800])}} for n in notifications[:47]]
        if len(notifications) > 47:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"… and {len(notifications) - 47} more"}]})
        head = f"{len(notifications)} alerts"
        payload = {"text": head, "unfurl_links": False, "unfurl_media": False,
                   "blocks": [{"type": "header", "text": {"type": "plain_text",
                                                          "text": head}}, *blocks]}
        await post(self._client, self._url, what=self._what, scrub=self._scrub,
                   now=time.time(), content=dumps(payload).encode(),
                   headers={"Content-Type": "application/json"})

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def build(name: str, settings: SlackSettings, ctx: NotifierContext | None) -> SlackNotifier:
    """NOTIFIERS factory for `kind: slack`."""
    return SlackNotifier(name, settings, ctx or NotifierContext())
