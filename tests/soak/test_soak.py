"""A short soak, so that ``make soak`` keeps working: the host stays flat and answers every call."""

from tests.soak.soak import run, verdict


def test_a_short_soak_is_flat_and_loses_no_call() -> None:
    soak = run(seconds=16, interval=2, report=lambda line: None)
    assert soak.samples and soak.messages and soak.bad_frames and soak.replies
    assert verdict(soak) == [], soak.lines()
