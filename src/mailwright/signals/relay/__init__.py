"""``mailwright relay``: the signal engine run live, from Segment-style events to every ESP."""
