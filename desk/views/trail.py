"""Not built yet."""


def urls(wrap) -> list:
    return []
