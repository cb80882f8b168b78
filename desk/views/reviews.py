"""Not built yet."""


def home_section(request, now) -> dict:
    """What the desk home shows this role (templates/desk/home/reviewer.html)."""
    return {}


def urls(wrap) -> list:
    return []
