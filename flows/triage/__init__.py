"""Free-text triage: red-flag lexicons, concept rules and the statistical model, over one message."""

from flows.textfold import normalize
from flows.triage.assess import Scorer, Triage
from flows.triage.lexicon import Category, Lexicon
from flows.triage.model import ModelScore
from flows.triage.result import NO_FLAGS, LexiconError, Match, TriageResult

__all__ = [  # normalize and ModelScore are re-exported: the lexicon's view of a text, the model's score
    "NO_FLAGS",
    "Category",
    "Lexicon",
    "LexiconError",
    "Match",
    "ModelScore",
    "Scorer",
    "Triage",
    "TriageResult",
    "normalize",
]
