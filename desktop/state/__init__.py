"""Plain-Python client state: dataclasses and stores. Never imports Qt."""
