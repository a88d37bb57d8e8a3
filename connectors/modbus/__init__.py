"""Polling Modbus devices: the request planner, the poller and its clients, decoding of
registers into values, report by exception and staleness."""
