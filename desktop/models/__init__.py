"""Thin QAbstractListModel adapters over the plain stores. No widgets."""
