"""The `messenger` and `instagram` senders: replies through the Send API (DESIGN §12).

Messenger: `POST https://graph.facebook.com/{api_version}/{page_id}/messages` with the Page
access token. Instagram (the Instagram API with Instagram Login, no Facebook Page):
`POST https://graph.instagram.com/{api_version}/{ig_user_id}/messages` with the Instagram user
access token. Both as `Authorization: Bearer` (never in the URL), JSON
`{recipient: {id}, messaging_type, message}`; `recipient.id` is the customer's PSID or IGSID.

`messaging_type` is `RESPONSE` (within 24 h of the customer's last message), or `MESSAGE_TAG`
with the request's `tag` (`HUMAN_AGENT`: a person answering within 7 days). A `message` holds
text or one attachment, never both: the text goes first (its `message_id` is the provider
message id), then each attachment by URL in a request of its own (`GraphSender`). Messenger's
`message.metadata` carries `ECHO_PREFIX` + the message's `Idempotency-Key` (`own_marker`): the
Page's echo of it names the gateway's own message.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

from pydantic import Field, SecretStr

from gateway.plugin import Rejected
from gateway.schema import Attachment, Interaction
from gateway_meta.graph_send import GraphErrors, GraphSender, GraphSendSettings, own_marker

__all__ = [
    "MESSAGING_REFUSED",
    "InstagramSendSettings",
    "InstagramSender",
    "MessagingSender",
    "MessengerSendSettings",
    "MessengerSender",
]

INSTAGRAM_ROOT: Final = "https://graph.instagram.com"
WINDOW_HINT: Final = (
    "outside the 24-hour messaging window: reply within 24 h of the customer's last message,"
    " or with the tag HUMAN_AGENT within 7 days"
)
UNAVAILABLE: Final = "the person isn't available: they blocked the account, or cannot receive"
MESSAGING_REFUSED: Final = {
    2018278: WINDOW_HINT,
    2018065: WINDOW_HINT,
    2534022: WINDOW_HINT,
    1545041: UNAVAILABLE,
    2018001: "no matching user: the id is not a customer of this Page or account",
    2018028: "the app cannot message people other than its admins, developers and testers yet",
    2018109: "the attachment is over the size Meta takes",
}
"""Send API subcodes that refuse a message for good, whatever their code (the window's code is
10, otherwise a permission error)."""
ATTACHMENT_TYPES: Final = ("image", "video", "audio")
"""`message.attachment.type` values named by a media type's top level; others are `file`."""


def _errors(product: str) -> GraphErrors:
    return GraphErrors(
        product=product,
        rate_limited=frozenset({1, 2, 4, 17, 32, 613, 1200, 80006}),
        auth=frozenset({10, 102, 190, 200, 230}),
        refused={551: UNAVAILABLE},
        refused_subcodes=MESSAGING_REFUSED,
    )


class MessengerSendSettings(GraphSendSettings):
    """The `send:` block of a `messenger` channel."""

    token_field: ClassVar[str] = "page_access_token"
    token_example: ClassVar[str] = "MESSENGER_PAGE_ACCESS_TOKEN"
    page_access_token: SecretStr
    """A Page access token with `pages_messaging` (from a person with the Page's MESSAGE
    task, or a System User)."""
    page_id: str = Field(pattern=r"^[0-9]{1,32}$")
    """The Facebook Page's id (Page > About > Page transparency, or `GET /me?fields=id`)."""


class InstagramSendSettings(GraphSendSettings):
    """The `send:` block of an `instagram` channel (Instagram API with Instagram Login)."""

    token_field: ClassVar[str] = "access_token"
    token_example: ClassVar[str] = "INSTAGRAM_ACCESS_TOKEN"
    access_token: SecretStr
    """An Instagram user access token with `instagram_business_manage_messages`."""
    ig_user_id: str = Field(pattern=r"^[0-9]{1,32}$")
    """The Instagram professional account's id (`GET graph.instagram.com/me?fields=user_id`)."""


class MessagingSender(GraphSender[Any]):
    """Sends a Send API message: text, then each attachment by URL."""

    identity_kind: ClassVar[str]
    """The kind of the customer's id: `messenger_psid` or `instagram_id`."""
    max_text: ClassVar[int]
    """Longest text the product takes, in characters."""
    echoes_metadata: ClassVar[bool] = False
    """Whether `message.metadata` is sent (echoed back in the Page's `message_echoes`)."""
    reusable_attachments: ClassVar[bool] = False
    """Whether an attachment's payload says `is_reusable` (Messenger's field)."""

    def bodies(self, interaction: Interaction) -> list[dict[str, Any]] | Rejected:
        """Return the text request, then one request per attachment."""
        ids = [i.value for i in interaction.recipient.identities if i.kind == self.identity_kind]
        if not ids:
            return Rejected(f"the recipient has no {self.identity_kind} to send to")
        content = interaction.content
        text = content.text if content else None
        if not text:
            return Rejected(f"{self.errors.product} sends text: the message has none")
        if len(text) > self.max_text:
            return Rejected(
                f"{self.errors.product} text is at most {self.max_text} characters, got {len(text)}"
            )
        common: dict[str, Any] = {"recipient": {"id": ids[0]}, "messaging_type": "RESPONSE"}
        if tag := interaction.metadata.get("tag"):
            common = common | {"messaging_type": "MESSAGE_TAG", "tag": tag}
        messages: list[dict[str, Any]] = [{"text": text}]
        for index, attachment in enumerate(content.attachments if content else []):
            if not attachment.url:
                return Rejected(f"attachment {index} has no url: the Send API takes files by URL")
            messages.append({"attachment": self._attachment(attachment)})
        if self.echoes_metadata:
            marker = own_marker(interaction, 1000)  # Messenger's limit
            messages = [message | {"metadata": marker} for message in messages]
        return [common | {"message": message} for message in messages]

    def _attachment(self, attachment: Attachment) -> dict[str, Any]:
        top = (attachment.content_type or "").partition("/")[0].lower()
        payload: dict[str, Any] = {"url": attachment.url}
        if self.reusable_attachments:
            payload["is_reusable"] = False
        return {"type": top if top in ATTACHMENT_TYPES else "file", "payload": payload}

    def message_id(self, answer: Any) -> str | None:
        """Return the answer's `message_id`, if it has one."""
        mid = answer.get("message_id") if isinstance(answer, dict) else None
        return mid if isinstance(mid, str) and mid else None


class MessengerSender(MessagingSender):
    """Sends Messenger messages as the Page."""

    type_name = "messenger-sender"
    settings_model: ClassVar[type[MessengerSendSettings]] = MessengerSendSettings
    errors = _errors("Messenger")
    identity_kind = "messenger_psid"
    max_text = 2000
    echoes_metadata = True
    reusable_attachments = True

    @property
    def account_id(self) -> str:
        """Return the Page's id."""
        return str(self.settings.page_id)


class InstagramSender(MessagingSender):
    """Sends Instagram direct messages as the professional account."""

    type_name = "instagram-sender"
    settings_model: ClassVar[type[InstagramSendSettings]] = InstagramSendSettings
    errors = _errors("Instagram")
    root = INSTAGRAM_ROOT
    identity_kind = "instagram_id"
    max_text = 1000

    @property
    def account_id(self) -> str:
        """Return the Instagram professional account's id."""
        return str(self.settings.ig_user_id)
