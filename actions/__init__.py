"""Custom actions of the Rasa bot (run by ``python -m rasa_sdk --actions actions``)."""

from actions.answer import ActionAnswer

__all__ = ["ActionAnswer"]
