"""Widgets and delegates of the Parley desktop app.

Everything here talks to the network only through ``ChatClient`` signals, slots and
coroutines; no widget touches the socket.
"""
