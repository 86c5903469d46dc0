"""Keys derived from secrets kept outside the database, and what the app seals with them.

A reader of the database, its backups, the logs or Redis holds none of these secrets, so:

- a draft's answers are AES-GCM ciphertext (``seal_draft``/``open_draft``), padded so that its
  length does not give the answers away either;
- the respondent's session cookie carries a sealed handle, not the invitation's row id
  (``seal_handle``/``open_handle``);
- rate-limit keys in Redis are HMACs (``rate_limit_key``), never a token, its hash or an address.

Every key is derived with HKDF-SHA256 from a configured secret, each with an ``info`` string of
its own, so no two purposes share a key. Drafts use ``DRAFT_KEY`` when it is set (then
``SECRET_KEY`` can be rotated without losing drafts), otherwise ``SECRET_KEY``; the fallbacks
(``DRAFT_KEY_FALLBACKS``, ``SECRET_KEY_FALLBACKS``) still open what their keys sealed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from surveyapp.lru import LRU

# One info string per purpose: a key derived for one can never serve another.
DRAFT_INFO = b"surveyapp/draft-answers/v1"
HANDLE_INFO = b"surveyapp/respondent-session-handle/v1"
RATE_LIMIT_INFO = b"surveyapp/rate-limit-keys/v1"

DRAFT_FORMAT = "d1"  # the sealed draft's format: "d1.<key id>.<base64url(nonce ‖ ciphertext)>"
NONCE_BYTES = 12  # AES-GCM's standard nonce, random per seal
# Drafts are padded to a multiple of this many bytes: ciphertext length would otherwise follow
# the length of the answers (an open text's length could match a draft to its response).
DRAFT_PADDING = 1024
DRAFT_CIPHERS_KEPT = 4096  # invitations whose derived draft key is kept (respondents at work)


class SealError(ValueError):
    """A sealed value that none of the configured keys opens (or that is not a sealed value)."""


def derive_key(secret: str | bytes, info: bytes) -> bytes:
    """A 256-bit key for one purpose (``info``) from a configured secret (HKDF-SHA256)."""
    material = secret.encode("utf-8") if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(material)


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class DraftContents:
    """What a sealed draft holds: the answers and the respondent's place in the questionnaire.

    The pages done and the current page are sealed too: which pages someone saw follows from
    their answers (conditions), so they would give answers away as well.
    """

    answers: dict[str, Any]
    pages_done: list[str]
    current_page: str | None


EMPTY_DRAFT = DraftContents({}, [], None)


class Keys:
    """The app's derived keys (one instance per set of configured secrets, see ``keys``)."""

    def __init__(self, draft_secrets: Sequence[str | bytes], session_secrets: Sequence[str | bytes]) -> None:
        # Drafts: a key-encryption key per secret, named by a short id that reveals nothing about
        # it; each invitation's draft key is derived from it (and the invitation's id).
        self._draft_keks: dict[str, bytes] = {}
        for secret in draft_secrets:
            kek = derive_key(secret, DRAFT_INFO)
            self._draft_keks.setdefault(hmac.new(kek, b"key id", hashlib.sha256).hexdigest()[:8], kek)
        self._draft_kid = next(iter(self._draft_keks))
        self._draft_ciphers: LRU[tuple[str, int], AESGCM] = LRU(DRAFT_CIPHERS_KEPT)
        self._handle_ciphers = [AESGCM(derive_key(secret, HANDLE_INFO)) for secret in session_secrets]
        self._rate_limit_key = derive_key(session_secrets[0], RATE_LIMIT_INFO)

    # -- drafts ---------------------------------------------------------------------------------

    def _draft_cipher(self, kid: str, invitation_id: int) -> AESGCM:
        """The invitation's own draft key: derived, so every mail's token opens the same draft.

        Kept for the invitations seen lately: a respondent's every page reads the draft and
        every save writes it, and the derivation costs more than the encryption itself.
        """
        cipher = self._draft_ciphers.recent((kid, invitation_id))
        if cipher is None:
            cipher = AESGCM(derive_key(self._draft_keks[kid], b"invitation %d" % invitation_id))
            self._draft_ciphers.put((kid, invitation_id), cipher)
        return cipher

    def seal_draft(self, invitation_id: int, contents: DraftContents) -> str:
        """The draft as text for ``draft_answers.sealed``: padded JSON under AES-GCM."""
        document = {
            "answers": contents.answers,
            "pages_done": contents.pages_done,
            "current_page": contents.current_page,
        }
        plain = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        plain += b" " * (-len(plain) % DRAFT_PADDING)  # JSON allows trailing white space
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._draft_cipher(self._draft_kid, invitation_id)
        sealed = cipher.encrypt(nonce, plain, _draft_aad(invitation_id))
        return f"{DRAFT_FORMAT}.{self._draft_kid}.{_b64encode(nonce + sealed)}"

    def open_draft(self, invitation_id: int, sealed: str) -> DraftContents:
        """The contents of a sealed draft of this invitation (a draft moved to another fails)."""
        try:
            form, kid, body = sealed.split(".", 2)
            data = _b64decode(body)
        except (ValueError, binascii.Error) as error:
            raise SealError("not a sealed draft") from error
        if form != DRAFT_FORMAT or kid not in self._draft_keks:
            raise SealError("no configured key sealed this draft")
        cipher = self._draft_cipher(kid, invitation_id)
        try:
            plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _draft_aad(invitation_id))
        except (InvalidTag, ValueError) as error:  # ValueError: too short to hold a nonce
            raise SealError("this draft was not sealed for this invitation") from error
        document = json.loads(plain)
        return DraftContents(
            dict(document.get("answers") or {}),
            list(document.get("pages_done") or []),
            document.get("current_page"),
        )

    # -- the respondent's session handle ----------------------------------------------------------

    def seal_handle(self, invitation_id: int) -> str:
        """A handle for the session cookie: random-looking and new each time, not the row id."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._handle_ciphers[0].encrypt(nonce, invitation_id.to_bytes(8, "big"), _HANDLE_AAD)
        return _b64encode(nonce + sealed)

    def open_handle(self, handle: object) -> int | None:
        """The invitation a handle stands for, or None for anything not sealed by these keys."""
        if not isinstance(handle, str) or len(handle) > 64:
            return None
        try:
            data = _b64decode(handle)
        except (ValueError, binascii.Error):
            return None
        for cipher in self._handle_ciphers:
            try:
                plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _HANDLE_AAD)
            except (InvalidTag, ValueError):
                continue
            return int.from_bytes(plain, "big")
        return None

    # -- rate limits ----------------------------------------------------------------------------

    def rate_limit_key(self, value: str) -> str:
        """A key for a rate-limit counter: the same for the same value, meaningless without the key."""
        return hmac.new(self._rate_limit_key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def _draft_aad(invitation_id: int) -> bytes:
    return b"draft of invitation %d" % invitation_id


_HANDLE_AAD = b"respondent session"

# Built once per set of secrets (tests and key rotations change them); a handful at most.
_KEYS: dict[tuple[Any, ...], Keys] = {}


def keys(config: Mapping[str, Any] | None = None) -> Keys:
    """The derived keys of the current app's configuration (or of ``config``)."""
    config = current_app.config if config is None else config
    draft_key = config.get("DRAFT_KEY")
    secret_key = config["SECRET_KEY"]
    secret_fallbacks = tuple(config.get("SECRET_KEY_FALLBACKS") or ())
    if draft_key:
        draft_secrets = (draft_key, *(config.get("DRAFT_KEY_FALLBACKS") or ()))
    else:
        draft_secrets = (secret_key, *secret_fallbacks)
    cache_key = (draft_secrets, secret_key, secret_fallbacks)
    found = _KEYS.get(cache_key)
    if found is None:
        if len(_KEYS) > 8:
            _KEYS.clear()
        found = _KEYS[cache_key] = Keys(draft_secrets, (secret_key, *secret_fallbacks))
    return found
