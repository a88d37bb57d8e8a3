"""``millstream``: a terminal client of the API (``tail``, ``query``, ``import``).

It talks to the API over HTTP and WebSocket only; of Millstream's own code it imports
nothing but ``contracts``.
"""
