"""Liveness: heartbeats renew held work, the watchdog reaps what dead holders held."""
