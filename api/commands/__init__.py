"""Commands to devices and their results."""
