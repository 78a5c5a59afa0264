"""No module of ``mentor`` is over 600 lines: a longer one holds more than one concept (issue 13)."""

from pathlib import Path

import mentor

MAX_LINES = 600


def test_no_module_is_over_600_lines():
    package = Path(mentor.__file__).parent
    sizes = {path.relative_to(package): len(path.read_text().splitlines()) for path in package.rglob("*.py")}
    over = {str(path): n for path, n in sizes.items() if n > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"
    assert len(sizes) > 50  # the walk found the package
