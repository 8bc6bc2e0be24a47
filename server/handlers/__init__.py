"""The protocol's behaviour, one module per concern (the way Synapse splits its handlers).

- ``context``: what every handler shares (config, storage, the Socket.IO server, the live
  connections, metrics) and the room helpers several of them need;
- ``accounts``: login, registration, tokens and the ``session`` payload;
- ``presence``: connections coming and going, presence, typing and notices;
- ``rooms``: listing, creating, joining, leaving, inviting, topics, closing and DMs;
- ``messages``: sending, history and media;
- ``receipts``: receipt positions, ``message:status`` and delivery waits.

Handlers talk to clients only through ``socketio.AsyncServer.emit`` and never parse
transport details: ``server.namespace`` and ``server.http_api`` hand them validated users
and payload dicts. :class:`server.chat.ChatService` wires them together.
"""
