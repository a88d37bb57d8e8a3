"""Alarms: current states from the alarm-state topic, operator actions to alarm-actions."""
