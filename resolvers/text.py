"""Cleaning what people type: one rule for every title, description, comment, reason and link."""

from __future__ import annotations

from models.errors import BadUserInputError


def clean_text(
    value: str | None, *, field: str, label: str, maximum: int, required: bool = True
) -> str | None:
    """Trimmed text, or a `BAD_USER_INPUT` naming the field and what to fix."""
    cleaned = (value or "").strip()
    if not cleaned:
        if required:
            raise BadUserInputError(f"请填写{label}。", field=field)
        return None
    if len(cleaned) > maximum:
        raise BadUserInputError(f"{label}不能超过 {maximum} 个字。", field=field)
    return cleaned


def clean_urls(urls: list[str] | None, *, field: str, maximum: int) -> list[str]:
    urls = [u.strip() for u in urls or [] if u.strip()]
    if len(urls) > maximum:
        raise BadUserInputError(f"最多 {maximum} 个链接。", field=field)
    for url in urls:
        if not url.startswith("https://") or len(url) > 500 or any(c.isspace() for c in url):
            raise BadUserInputError("链接必须是以 https:// 开头的网址。", field=field)
    return urls
