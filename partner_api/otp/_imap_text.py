"""Reading a code email: who sent it, where the code is, and what of it may be quoted."""

from __future__ import annotations

import re
from email.utils import parseaddr
from html.parser import HTMLParser

from imap_tools import MailMessage

from .._errors import ConfigurationError


def parse_sender(sender: str) -> str:
    """The bare, lower-cased address of `sender` ("Name <a@b>" or "a@b")."""
    address = parseaddr(sender or "")[1].strip().lower()
    if not sender or "@" not in address:
        raise ConfigurationError(
            "PARTNER_OTP_SOURCE=imap needs PARTNER_IMAP_SENDER, the address the partner's "
            f"code emails come from{f' (got {sender!r})' if sender else ''}"
        )
    return address


def sender_of(message: MailMessage) -> str:
    """The bare, lower-cased address the message says it is from."""
    return (message.from_values.email if message.from_values else "").lower()


def code_in(pattern: re.Pattern[str], message: MailMessage) -> str | None:
    """The code from the subject, else the text body, else the HTML body's text.

    The code is `pattern`'s first group, or its whole match when it has no group.
    """
    for text in (message.subject, message.text, text_of_html(message.html)):
        match = pattern.search(text or "")
        if match:
            return (match.group(1) if pattern.groups else match.group(0)).strip()
    return None


def safe_subject(subject: str) -> str:
    """The subject for an error message: one line, short, with long digit runs masked
    (a code that the pattern missed must not leak through the error)."""
    text = re.sub(r"\d{4,}", lambda m: "#" * len(m.group(0)), " ".join(subject.split()))
    return text if len(text) <= 80 else text[:77] + "..."


class _HtmlText(HTMLParser):
    """The visible text of an HTML body: tags dropped, entities decoded, blocks separated."""

    # fmt: off
    _BLOCKS = frozenset((
        "address", "article", "br", "dd", "div", "dt", "footer", "h1", "h2", "h3", "h4", "h5",
        "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "tbody", "td",
        "tfoot", "th", "thead", "title", "tr", "ul",
    ))
    # fmt: on
    #: Not `head`: an unclosed `<head>` would hide the whole body.
    _HIDDEN = frozenset(("script", "style"))

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def text_of_html(html: str) -> str:
    """The visible text of `html` (tags joined inline, separated at block boundaries)."""
    if not html:
        return ""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())
