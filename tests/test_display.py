"""Hidden characters shown as escapes: the table of them, and printable text passed through without it."""

from xl_pipelines.display import hidden, visible


def test_every_hidden_character_is_escaped_and_printable_text_is_left_as_it_is():
    # worked out by hand: ESC (Cc), U+202E (Cf), U+2028 (Zl), U+E0041 (Cf, a tag character beyond the BMP)
    assert visible("a\x1bb\u202ec\u2028d\U000e0041") == "a\\x1bb\\u202ec\\u2028d\\U000e0041"
    assert visible("摄像机 Camera 1 \\ ok") == "摄像机 Camera 1 \\ ok"
    # unprintable to Python but not hidden (a no-break space, Zs; Mongolian's vowel separator, kept): unchanged
    assert visible("a\u00a0b\u180ec") == "a\u00a0b\u180ec"
    # what lets printable text skip the table: no hidden character is printable (229 of them in Unicode 15)
    assert len(hidden()) > 200 and not any(char.isprintable() for char in hidden())
