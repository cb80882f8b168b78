"""What counts as text written for a later reader (a break-glass justification, a review's
findings): at least 20 characters and a few different words, so twenty copies of one letter
or a tick is not enough."""

import re

_WORD = re.compile(r"[^\W\d_]{2,}")


def is_written_out(text: str, *, min_words: int) -> bool:
    words = {word.casefold() for word in _WORD.findall(text)}
    return len(text.strip()) >= 20 and len(words) >= min_words
