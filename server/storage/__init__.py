"""Persistence behind one async interface (:class:`server.storage.base.Storage`)."""
