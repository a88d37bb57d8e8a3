"""A Modbus TCP device simulator serving the machines of a devices file."""
