"""Which changes of an event trigger's firing state switch a guard off (guard/switches.py).

The real-PostgreSQL cases are in test_tripwire.py; these are the transitions between the four
``evtenabled`` states, which a migration reaches with ALTER EVENT TRIGGER … ENABLE [REPLICA|ALWAYS]
or DISABLE.
"""

from __future__ import annotations

import pytest

from nyxops.guard.switches import EventTrigger, State, turned_off

TRANSITIONS = [
    ("A", "A", False),
    ("A", "O", True),  # no longer fires under session_replication_role = replica
    ("A", "R", True),
    ("A", "D", True),
    ("O", "A", False),  # fires in more sessions than before
    ("O", "R", True),
    ("R", "O", True),
    ("D", "O", False),  # enabled again
    ("D", "D", False),
]


@pytest.mark.parametrize(("was", "now", "off"), TRANSITIONS)
def test_a_trigger_that_fires_in_fewer_sessions_is_switched_off(was: str, now: str, off: bool) -> None:
    def state(enabled: str) -> State:
        return State(event_triggers={"nyxops_protect": EventTrigger(enabled, 1, "md5", False)})

    assert bool(turned_off(state(was), state(now))) is off


def test_a_new_event_trigger_of_an_extension_is_left_alone() -> None:
    before = State(event_triggers={})
    ours = State(event_triggers={"x": EventTrigger("O", 2, "m", False)})
    theirs = State(event_triggers={"graphql_watch_ddl": EventTrigger("O", 3, "m", True)})
    assert turned_off(before, ours) == ["created event trigger x (it would run on every later session's DDL)"]
    assert turned_off(before, theirs) == []
