"""The login page (HTML, Chinese or English; no script, assets from /static only)."""

from __future__ import annotations

import html

from api import i18n


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site only (no open redirect), else ``/map``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/map"
    return target


def login_html(lang: str, next_url: str | None = None, message: str | None = None, error: bool = False) -> str:
    """The login form posting to ``/login``; ``message``: an i18n key shown above the form."""
    e = html.escape
    other = "en" if lang == "zh" else "zh"
    note = ""
    if message:
        note = f'<p class="{"error" if error else "note"}" role="{"alert" if error else "status"}">' \
               f'{e(i18n.t(message, lang))}</p>'
    nxt = e(safe_next(next_url))
    return f"""<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(i18n.t("login.title", lang))}</title>
<link rel="icon" href="/favicon.ico"><link rel="stylesheet" href="/static/gridmap/login.css"></head>
<body><main class="login">
<h1>{e(i18n.t("login.title", lang))}</h1>
{note}
<form method="post" action="/login?lang={lang}">
<input type="hidden" name="next" value="{nxt}">
<label for="username">{e(i18n.t("login.user", lang))}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{e(i18n.t("login.password", lang))}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{e(i18n.t("login.submit", lang))}</button>
</form>
<p class="hint">{e(i18n.t("login.hint", lang))}</p>
<p class="lang"><a href="/login?lang={other}&amp;next={e(safe_next(next_url))}">{e(i18n.t("login.other_lang", lang))}</a></p>
</main></body></html>
"""
