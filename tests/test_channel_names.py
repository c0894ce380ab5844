"""War-room names Slack accepts, whatever the title."""

import re

from hypothesis import given
from hypothesis import strategies as st

from bot.warroom.channel_names import war_room_name

VALID = re.compile(r"^[a-z0-9_-]{1,80}$")


def test_name_is_number_and_slug():
    assert war_room_name(42, "Checkout returns 500s!") == "inc-42-checkout-returns-500s"


def test_accents_fold_and_emoji_drop():
    assert war_room_name(7, "🔥 Café crème – Zahlung fehlgeschlagen 🔥") == "inc-7-cafe-creme-zahlung-fehlgeschlagen"


def test_titles_with_no_latin_letters_still_give_a_name():
    assert war_room_name(3, "Платежи не работают") == "inc-3"
    assert war_room_name(3, "決済が失敗") == "inc-3"
    assert war_room_name(3, "🔥🔥🔥") == "inc-3"


def test_collision_attempts_add_a_suffix_and_fit():
    long_title = "a" * 200
    names = [war_room_name(123456, long_title, attempt) for attempt in range(12)]
    assert names[0] == "inc-123456-" + "a" * 69
    assert names[1].endswith("-2") and names[11].endswith("-12")
    assert all(len(n) <= 80 for n in names)
    assert len(set(names)) == 12


@given(title=st.text(max_size=300), number=st.integers(min_value=1, max_value=10**9), attempt=st.integers(0, 20))
def test_any_title_gives_a_valid_slack_name(title, number, attempt):
    name = war_room_name(number, title, attempt)
    assert VALID.match(name), name
    assert not name.endswith("-")
