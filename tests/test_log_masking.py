"""install_log_masking (knowledge/privacy.py): no log output keeps personal data, tracebacks included.

Real loggers and real handlers (a stream, a file, pytest's capture): the message, the traceback
of ``log.exception`` / ``exc_info=`` and the ``stack_info`` stack are all masked, whatever
handler or formatter prints them. The exception's message holds an ID number and a phone in
full-width digits, as residents type them.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.privacy import install_log_masking

ID_NUMBER = "11010519491231002X"
FULL_WIDTH_MOBILE = "１３９－１２３４－５６７８"
SECRETS = (ID_NUMBER, FULL_WIDTH_MOBILE, "13912345678", "１３９", "１２３４－５６７８")


class ResidentError(Exception):
    pass


@pytest.fixture
def outputs(tmp_path: Path) -> Iterator[tuple[logging.Logger, io.StringIO, Path]]:
    install_log_masking()
    logger = logging.getLogger(f"test.logmask.{tmp_path.name}")
    logger.setLevel(logging.DEBUG)
    stream = io.StringIO()
    stream_handler = logging.StreamHandler(stream)
    stream_handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    file_handler = logging.FileHandler(tmp_path / "app.log", encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(stream_handler)
    logger.addHandler(file_handler)
    try:
        yield logger, stream, tmp_path / "app.log"
    finally:
        for handler in (stream_handler, file_handler):
            logger.removeHandler(handler)
            handler.close()


def fail_with_personal_data() -> None:
    raise ResidentError(f"查询失败：身份证{ID_NUMBER}，电话{FULL_WIDTH_MOBILE}")


def assert_masked(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into:\n{text}"
        assert "[身份证号]" in text and "[手机号]" in text, text


def test_messages_are_masked_full_width_digits_too(outputs, caplog):
    logger, stream, log_file = outputs
    install_log_masking()  # idempotent
    with caplog.at_level(logging.INFO):
        logger.info("resident wrote %s and %s", ID_NUMBER, FULL_WIDTH_MOBILE)
    assert_masked(stream.getvalue(), log_file.read_text(encoding="utf-8"), caplog.text)


def test_log_exception_tracebacks_are_masked(outputs, caplog):
    logger, stream, log_file = outputs
    with caplog.at_level(logging.INFO):
        try:
            fail_with_personal_data()
        except ResidentError:
            logger.exception("Rasa failed on a resident message")
    for text in (stream.getvalue(), log_file.read_text(encoding="utf-8"), caplog.text):
        assert "Traceback (most recent call last)" in text and "ResidentError" in text
        assert "fail_with_personal_data" in text  # still a useful traceback
    assert_masked(stream.getvalue(), log_file.read_text(encoding="utf-8"), caplog.text)


def test_exc_info_given_as_an_exception_is_masked(outputs):
    logger, stream, _ = outputs
    try:
        fail_with_personal_data()
    except ResidentError as exc:
        error = exc
    logger.error("a late answer failed", exc_info=error)
    logger.warning("again, as a tuple", exc_info=(type(error), error, error.__traceback__))
    assert stream.getvalue().count("ResidentError: 查询失败") == 2
    assert_masked(stream.getvalue())


def test_chained_exceptions_are_masked(outputs):
    logger, stream, _ = outputs
    try:
        try:
            fail_with_personal_data()
        except ResidentError as exc:
            raise RuntimeError(f"wrapped: {exc}") from exc
    except RuntimeError:
        logger.exception("wrapped")
    assert "The above exception was the direct cause" in stream.getvalue()
    assert_masked(stream.getvalue())


def test_stack_info_is_masked(outputs):
    logger, stream, _ = outputs
    # the stack shows this source line, comment included: 身份证11010519491231002X 电话１３９－１２３４－５６７８
    logger.info("where am I", stack_info=True)  # 身份证11010519491231002X 电话１３９－１２３４－５６７８
    assert "Stack (most recent call last)" in stream.getvalue()
    assert_masked(stream.getvalue())


def test_a_handler_that_formats_exc_info_itself_gets_no_personal_data(outputs):
    """A handler that ignores the cached text and renders ``exc_info`` again (as some
    third-party handlers do) finds nothing to render when the traceback held personal data."""
    logger, _, _ = outputs
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logger.addHandler(keep)
    try:
        try:
            fail_with_personal_data()
        except ResidentError:
            logger.exception("failed")
        try:
            raise ValueError("no personal data here")
        except ValueError:
            logger.exception("failed without personal data")
    finally:
        logger.removeHandler(keep)
    masked, plain = seen
    assert masked.exc_info is None and "ResidentError" in masked.exc_text
    assert_masked(masked.exc_text)
    assert plain.exc_info is not None and plain.exc_info[0] is ValueError  # untouched when nothing to hide
