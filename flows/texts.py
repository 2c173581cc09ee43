"""Built-in interface words the engine and renderer need in every locale (Yes/No, Skip, re-ask hints).

They live in code, not in the flow files, because they are the same for every flow; a flow's own `hint`
overrides the generic re-ask text. Every key exists in every locale in `LOCALES` (a test checks it).
"""

from __future__ import annotations

from types import MappingProxyType

from flows.model import resolve_locale

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "yes": "Yes",
        "no": "No",
        "skip": "Skip",
        "hint_scale": "Please reply with a number from {lo} to {hi}.",
        "hint_yesno": "Please reply yes or no.",
        "hint_choice": "Please reply with the number of one of the options.",
        "hint_text": "Please reply with a few words.",
        "hint_skip": "Or reply SKIP to skip this one.",
        "moving_on": "No problem, let's move on.",
        "reply_range": "Reply {lo}-{hi}",
        "reply_skip": "Reply SKIP to skip",
        "terms_sms": "Msg & data rates may apply. Reply STOP any time to stop, HELP for help.",
        "terms_chat": "Send /stop any time to stop, /help for help.",
    },
    "es": {
        "yes": "Sí",
        "no": "No",
        "skip": "Saltar",
        "hint_scale": "Por favor, responde con un número del {lo} al {hi}.",
        "hint_yesno": "Por favor, responde sí o no.",
        "hint_choice": "Por favor, responde con el número de una de las opciones.",
        "hint_text": "Por favor, responde con unas palabras.",
        "hint_skip": "O responde SALTAR para saltar esta pregunta.",
        "moving_on": "No pasa nada, sigamos.",
        "reply_range": "Responde {lo}-{hi}",
        "reply_skip": "Responde SALTAR para saltar",
        "terms_sms": (
            "Pueden aplicarse tarifas de mensajes y datos. "
            "Responde STOP en cualquier momento para dejar de recibirlos, HELP para ayuda."
        ),
        "terms_chat": "Envía /stop en cualquier momento para dejar de recibirlos, /help para ayuda.",
    },
}
TEXTS = MappingProxyType({locale: MappingProxyType(texts) for locale, texts in _TEXTS.items()})


def ui(key: str, locale: str, **values: object) -> str:
    """Interface text `key` in `locale` (English if unknown), with `{placeholders}` filled in."""
    return TEXTS[resolve_locale(locale)][key].format(**values)
