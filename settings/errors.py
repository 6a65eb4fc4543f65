"""The one exception a user's configuration mistake turns into."""


class SettingsError(Exception):
    """Raised with every problem found, one per line, so the user can fix them all in one go."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"  - {problem}" for problem in problems))
