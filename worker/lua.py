"""Lua pieces shared by the project's Redis scripts."""

from __future__ import annotations

from typing import Final

__all__ = ["NOW"]

NOW: Final = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
"""
"""Defines ``now()``: Redis's own clock in seconds since the epoch (microseconds kept)."""
