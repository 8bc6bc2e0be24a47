"""The client's network layer: ChatClient, Outbox, EmbeddedServer. QtCore only, no widgets."""
