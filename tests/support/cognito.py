"""Reading Cognito's error answers in tests: the ``ClientError`` a call raises and its code."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

__all__ = ["code_of", "error_of"]


def error_of(call: Callable[..., Any], **kwargs: Any) -> ClientError:
    """The ClientError that ``call(**kwargs)`` raises (fails the test otherwise)."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value


def code_of(call: Callable[..., Any], **kwargs: Any) -> str:
    """The error code botocore parsed from the answer to ``call(**kwargs)``."""
    return str(error_of(call, **kwargs).response["Error"]["Code"])
