"""Write concurrency backs off while listmonk pushes back and recovers after."""

from hypothesis import given
from hypothesis import strategies as st

from destination_listmonk.pacing import AdaptiveConcurrency


def test_given_pushback_then_concurrency_halves_and_recovers_one_step_per_clean_round() -> None:
    pacing = AdaptiveConcurrency(8)
    assert [pacing.observe(True), pacing.observe(True), pacing.observe(False), pacing.observe(False)] == [4, 2, 3, 4]


@given(st.integers(1, 32), st.lists(st.booleans(), max_size=50))
def test_concurrency_stays_between_one_and_the_ceiling(ceiling: int, rounds: list[bool]) -> None:
    pacing = AdaptiveConcurrency(ceiling)
    for pushed_back in rounds:
        assert 1 <= pacing.observe(pushed_back) <= ceiling
