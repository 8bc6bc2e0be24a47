"""Reactions and mention counts (protocol v2, sections 13-15).

``toggle_reaction`` / ``react_optimistically`` change the user's own reaction at once and
send it through the conversation concern's outbox (``set_reaction``); an error ack puts the
reactions back as they were and says why in a sentence. Others' reactions (and an edit's
new mentions) arrive with ``message:updated`` and ``message:changes``, which the
conversation concern applies (one handler). A room's mention badge counts
new messages that mention the user, and clears with its unread count when it is read.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from desktop.net.core import ClientCore, RequestError
from desktop.net.outbox import OutboxEntry
from desktop.state.types import Message

logger = logging.getLogger(__name__)

Reactions = tuple[tuple[str, tuple[str, ...]], ...]

_REASONS = {
    "conflict": "the message was deleted",
    "bad_request": "a message can carry at most 20 different reactions",
    "forbidden": "you are not a member of this room",
    "not_found": "the message is gone",
    "rate_limited": "you are reacting too fast; wait a moment",
    "offline": "you are offline",
    "timeout": "the server did not answer in time",
}


def toggled(reactions: Reactions, emoji: str, user: str, on: bool) -> Reactions:
    """``reactions`` with ``user``'s ``emoji`` set to ``on``, keeping the server's order
    (an emoji keeps its place while anyone has it; a new one goes last)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    seen = False
    for e, users in reactions:
        if e == emoji:
            seen = True
            users = tuple(u for u in users if u.lower() != user.lower())
            if on:
                users = (*users, user)
        if users:
            out.append((e, users))
    if on and not seen:
        out.append((emoji, (user,)))
    return tuple(out)


class ReactionsMixin(ClientCore):
    """Optimistic reactions with rollback over the conversation concern's outbox.

    Listed before ConversationMixin in ChatClient's bases, so ``_refused`` and
    ``_send_change`` here wrap the conversation concern's.
    """

    # the conversation concern's (ConversationMixin), outbox-backed reaction:set
    set_reaction: Callable[[str, int, str, bool], None]

    def _init_reactions(self) -> None:
        # (room, id, emoji) -> the reactions before the user's first unacked toggle
        self._reaction_undo: dict[tuple[str, int, str], Reactions] = {}

    def has_reacted(self, msg: Message, emoji: str) -> bool:
        me = (self.username or "").lower()
        return any(e == emoji and any(u.lower() == me for u in users)
                   for e, users in msg.reactions)

    def toggle_reaction(self, msg: Message, emoji: str) -> None:
        """Flip the user's ``emoji`` on ``msg`` (a chip click, the quick bar, the picker)."""
        if msg.id is None or not self.username:
            return
        self.react_optimistically(msg.room, msg.id, emoji, not self.has_reacted(msg, emoji))

    def react_optimistically(self, room: str, message_id: int, emoji: str, on: bool) -> None:
        """Show the change at once and send it through the conversation concern's
        outbox-backed ``set_reaction`` (kept offline and across a restart); a refusal puts
        the reactions back as they were (``_refused``) and says why."""
        msg = self.messages.get(room, message_id)
        if msg is None or not self.username:
            return
        old = msg.reactions
        self._reaction_undo.setdefault((room, message_id, emoji), old)
        self.messages.set_reactions(room, message_id, toggled(old, emoji, self.username, on))
        self.set_reaction(room, message_id, emoji, on)

    def _refused(self, entry: OutboxEntry, target: int, exc: RequestError) -> None:
        if entry.op != "react":
            super()._refused(entry, target, exc)  # type: ignore[misc]
            return
        self.outbox.remove(entry.client_id)
        old = self._reaction_undo.pop((entry.room, target, entry.emoji or ""), None)
        if old is not None:
            self.messages.set_reactions(entry.room, target, old)
        logger.info("reaction:set refused: %s", exc.code)
        reason = _REASONS.get(exc.code, exc.message)
        verb = "add" if entry.on else "remove"
        self.errorOccurred.emit(f"Could not {verb} the reaction {entry.emoji}: {reason}.")

    async def _send_change(self, entry: OutboxEntry) -> None:
        await super()._send_change(entry)  # type: ignore[misc]
        if entry.op == "react" and entry.target_id is not None \
                and self.outbox.get(entry.client_id) is None:
            # acked (or refused and already undone): the server's reactions now stand
            self._reaction_undo.pop((entry.room, entry.target_id, entry.emoji or ""), None)
