"""The progress line: at the start and every 10 % off a terminal, silent for short runs and when disabled, with its note."""
import io

from normlaws.progress import Progress


def test_a_line_per_decile_off_a_terminal_with_the_note():
    out = io.StringIO()
    bar = Progress(20, "sweep", stream=out)
    for i in range(20):
        bar.advance(1, note=f"epoch {i}")
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 11                 # the first unit, then each 10 %
    assert lines[0].startswith("sweep:   5%") and "1/20" in lines[0]
    assert lines[-1].startswith("sweep: 100%") and "20/20" in lines[-1]
    assert lines[-1].endswith("epoch 19]")


def test_a_terminal_gets_a_tqdm_bar_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    bar = Progress(4, "chains", stream=out)
    for _ in range(4):
        bar.advance()
    bar.close()
    assert "\r" in out.getvalue() and "4/4" in out.getvalue() and out.getvalue().count("\n") <= 1


def test_silent_when_disabled_or_shorter_than_after():
    for bar in (Progress(5, stream=io.StringIO(), enabled=False), Progress(5, stream=io.StringIO(), after=60)):
        for _ in range(5):
            bar.advance()
        bar.close()
        assert bar.stream.getvalue() == ""
