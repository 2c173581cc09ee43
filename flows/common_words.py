"""Words too common to gate a phrase or a term on: one keyed on them would be tried on most messages.

Shared by the lexicon's key planner (`flows.triage.keys`) and the concept index
(`flows.triage.concept_words`).
"""

from __future__ import annotations

_WORDS = """
i im me my a an the to too 2 and so it its is was be of in on at no not he she we they you u ur
have had has been just get got go do did don can will would could should for 4 with this that
there what if or but up out all some one two more now then than like really very want need know
feel day today time back off over from about bout as by his her him them their our your yo
de la el en y que mi lo se un una ya le les con por para es esta estoy muy mas pero si sin todo
voy va te tengo hoy bien ando al del los las mis tu su
"""
COMMON = frozenset(_WORDS.split())
