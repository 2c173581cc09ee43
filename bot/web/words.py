"""The console's words in English and Spanish, by the staff member's `Person.locale`."""

from __future__ import annotations

from typing import Any

LOCALES = ("en", "es")

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Staff console",
        "login_heading": "Sign in",
        "login_who": "Your name, phone number or Telegram handle",
        "login_send": "Send me a code",
        "code_heading": "Enter your code",
        "code_sent": "If that is a staff member of this program, a 6-digit code is on its way to their "
        "phone or chat. It works for 10 minutes.",
        "code_label": "6-digit code",
        "code_submit": "Sign in",
        "code_wrong": "That code is not right. Tries left: {left}.",
        "code_dead": "That code has expired or was tried too many times. Ask for a new one.",
        "rate_limited": "Too many sign-in requests from here. Wait a few minutes and try again.",
        "code_message": "Your staff console sign-in code: {code}. It expires in 10 minutes. "
        "If you did not ask for it, ignore this message.",
        "link_heading": "Sign in with a link",
        "link_submit": "Sign in",
        "link_dead": "This sign-in link has been used or has expired.",
        "logout": "Sign out",
        "signed_in_as": "Signed in as {name}",
        "alerts_heading": "Alerts",
        "alerts_none": "No open alerts.",
        "col_severity": "Severity",
        "col_person": "Person",
        "col_age": "Age",
        "col_status": "Status",
        "col_paged": "Paged",
        "col_acknowledged": "Acknowledged by",
        "nobody": "nobody",
        "status_open": "open",
        "status_acknowledged": "acknowledged",
        "status_resolved": "resolved",
        "severity_critical": "critical",
        "severity_high": "high",
        "severity_medium": "medium",
        "age_minutes": "{n} min",
        "age_hours": "{n} h",
        "age_days": "{n} d",
        "alert_heading": "Alert #{id}",
        "alert_who": "Who",
        "alert_why": "Why",
        "alert_categories": "Concerns",
        "alert_raised": "Raised",
        "alert_resolved_by": "Resolved by",
        "alert_note": "Note",
        "acknowledge": "Acknowledge",
        "resolve": "Resolve",
        "resolve_note": "Note (what was done)",
        "back": "Back to alerts",
        "result_changed": "Done.",
        "result_already_mine": "You had already acknowledged it.",
        "result_already_other": "Already taken by {who}.",
        "result_already_resolved": "Already resolved by {who}.",
        "not_found": "Not found.",
        "forbidden": "This form has expired. Reload the page and try again.",
        "live": "Updates by itself.",
    },
    "es": {
        "title": "Consola del personal",
        "login_heading": "Iniciar sesión",
        "login_who": "Tu nombre, número de teléfono o usuario de Telegram",
        "login_send": "Envíame un código",
        "code_heading": "Escribe tu código",
        "code_sent": "Si es alguien del personal de este programa, le enviamos un código de 6 dígitos a "
        "su teléfono o chat. Sirve durante 10 minutos.",
        "code_label": "Código de 6 dígitos",
        "code_submit": "Entrar",
        "code_wrong": "Ese código no es correcto. Intentos restantes: {left}.",
        "code_dead": "Ese código venció o se intentó demasiadas veces. Pide uno nuevo.",
        "rate_limited": "Demasiadas solicitudes desde aquí. Espera unos minutos y vuelve a intentarlo.",
        "code_message": "Tu código para entrar a la consola del personal: {code}. Vence en 10 minutos. "
        "Si no lo pediste, ignora este mensaje.",
        "link_heading": "Entrar con un enlace",
        "link_submit": "Entrar",
        "link_dead": "Este enlace ya se usó o venció.",
        "logout": "Cerrar sesión",
        "signed_in_as": "Sesión de {name}",
        "alerts_heading": "Alertas",
        "alerts_none": "No hay alertas abiertas.",
        "col_severity": "Gravedad",
        "col_person": "Persona",
        "col_age": "Hace",
        "col_status": "Estado",
        "col_paged": "Avisados",
        "col_acknowledged": "Atendida por",
        "nobody": "nadie",
        "status_open": "abierta",
        "status_acknowledged": "atendida",
        "status_resolved": "resuelta",
        "severity_critical": "crítica",
        "severity_high": "alta",
        "severity_medium": "media",
        "age_minutes": "{n} min",
        "age_hours": "{n} h",
        "age_days": "{n} d",
        "alert_heading": "Alerta #{id}",
        "alert_who": "Quién",
        "alert_why": "Por qué",
        "alert_categories": "Temas",
        "alert_raised": "Creada",
        "alert_resolved_by": "Resuelta por",
        "alert_note": "Nota",
        "acknowledge": "Atender",
        "resolve": "Resolver",
        "resolve_note": "Nota (qué se hizo)",
        "back": "Volver a las alertas",
        "result_changed": "Hecho.",
        "result_already_mine": "Ya la habías atendido.",
        "result_already_other": "Ya la atiende {who}.",
        "result_already_resolved": "Ya la resolvió {who}.",
        "not_found": "No encontrado.",
        "forbidden": "Este formulario venció. Recarga la página e inténtalo de nuevo.",
        "live": "Se actualiza sola.",
    },
}


def locale_of(value: str | None) -> str:
    """One of LOCALES: `es`, `es-MX` and `es_US` are Spanish; anything else English."""
    short = (value or "").replace("_", "-").split("-")[0].strip().lower()
    return short if short in LOCALES else "en"


def browser_locale(accept_language: str | None) -> str:
    """The first of LOCALES the browser asks for (before sign-in, when no person is known)."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower().split("-")[0]
        if tag in LOCALES:
            return tag
    return "en"


def text(locale: str, key: str, **values: Any) -> str:
    return _TEXTS[locale_of(locale)][key].format(**values)
