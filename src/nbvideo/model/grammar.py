"""Small English for the offline planner's copy: articles, plurals, verb agreement, names.

Why: copy is built from what the brief says ("noise-cancelling earbuds", "a busy mom",
"people in open-plan offices", "Flowly"), so the glue around it must agree with it:
"Meet Flowly", not "Meet the Flowly"; "a busy mom knows", "busy moms know"; never
"for for". Rules, not a model: deterministic and fast, good for the phrases a brief holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Words that end a noun phrase's head: what follows qualifies it ("people in open-plan offices").
QUALIFIERS = ("in", "on", "at", "over", "under", "aged", "from", "across", "near", "who",
              "that", "with", "without", "of")
IRREGULAR = {"person": "people", "woman": "women", "man": "men", "child": "children",
             "team member": "team members", "foot": "feet", "mouse": "mice"}
PLURAL_ONLY = {"people", "folks", "women", "men", "children", "police", "staff", "crew",
               "family", "team", "everyone", "anyone", "everybody", "gen z", "millennials"}
COLLECTIVE = {"everyone", "anyone", "everybody", "anybody", "all", "gen z"}
DETERMINERS = {"a", "an", "the", "every", "each", "any", "one", "your", "our", "my", "their",
               "this", "that"}
VERBS = {"have": "has", "do": "does", "go": "goes"}


def article(phrase: str) -> str:
    """'a' or 'an' by sound (rough: vowel letters, with 'hour'/'honest' and 'uni-' exceptions)."""
    w = phrase.lower()
    if re.match(r"(?:hour|honest|honou?r|heir)", w):
        return "an"
    if re.match(r"(?:uni|use|usu|eu|one\b|once)", w):
        return "a"
    if re.match(r"[aeiou]", w) or re.match(r"(?:[fhlmnrsx])(?:[\s-]|$)", w):
        return "an"
    return "a"


def split_head(phrase: str) -> tuple[list[str], list[str]]:
    """('people', 'in open-plan offices'): the head noun phrase and what qualifies it."""
    words = phrase.split()
    cut = next((i for i, w in enumerate(words) if i and w.lower() in QUALIFIERS), len(words))
    return words[:cut], words[cut:]


def is_plural_noun(word: str) -> bool:
    w = word.lower()
    if w in IRREGULAR.values() or w in PLURAL_ONLY:
        return True
    return len(w) > 2 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ics"))


def pluralize(word: str) -> str:
    w = word.lower()
    if w in IRREGULAR:
        out = IRREGULAR[w]
    elif is_plural_noun(w):
        return word
    elif re.search(r"[^aeiou]y$", w):
        out = word[:-1] + "ies"
    elif re.search(r"(?:s|x|z|ch|sh)$", w):
        out = word + "es"
    else:
        out = word + "s"
    return out if word[:1].islower() else out[:1].upper() + out[1:]


def singularize(word: str) -> str:
    w = word.lower()
    back = {v: k for k, v in IRREGULAR.items()} | {"folks": "person", "everyone": "person",
                                                   "anyone": "person", "teams": "team member"}
    if w in back:
        return back[w]
    if w.endswith("ies") and len(w) > 4:
        return word[:-3] + "y"
    if re.search(r"(?:ches|shes|sses|xes)$", w):
        return word[:-2]
    if is_plural_noun(w):
        return word[:-1]
    return word


def verb(base: str, plural: bool) -> str:
    """Present tense for a plural or singular subject: know/knows, hit/hits, have/has."""
    if plural:
        return base
    if base in VERBS:
        return VERBS[base]
    if re.search(r"(?:s|x|z|ch|sh|o)$", base):
        return base + "es"
    if re.search(r"[^aeiou]y$", base):
        return base[:-1] + "ies"
    return base + "s"


def mid(s: str) -> str:
    """Lower-case the first letter for use mid-sentence, but keep acronyms ('Gen Z', 'SEO')."""
    if re.match(r"Gen [A-Z]\b", s):
        return s
    return s[:1].lower() + s[1:] if s[1:2].islower() or len(s) == 1 else s


def cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def undouble(text: str) -> str:
    """'built for for people' -> 'built for people': a repeated word is always a slip here."""
    return re.sub(r"\b([\w'-]+)(\s+\1\b)+", r"\1", text, flags=re.IGNORECASE)


@dataclass(frozen=True)
class Audience:
    """Who the ad speaks to, with the forms copy needs."""

    text: str  # mid-sentence, as a subject: 'weekend hikers', 'a busy mom', 'everyone'
    plural: bool
    collective: bool
    many: str  # always plural, no article: 'busy moms', 'people in open-plan offices'
    one: str  # one member, with article: 'a busy mom', 'a person in open-plan offices'

    @property
    def short(self) -> str:
        """For short copy ('Loved by ...'): the plural, or its head's last two words."""
        if len(self.many.split()) <= 4:
            return self.many
        head, _ = split_head(self.many)
        return " ".join(head[-2:])


def audience(raw: str) -> Audience:
    """'Busy mom' -> a busy mom / busy moms; 'People in open-plan offices' stays whole."""
    words = mid(" ".join(raw.split())).split() or ["everyone"]
    if words[0].lower() in ("a", "an", "the") and len(words) > 1:
        words = words[1:]
    phrase = " ".join(words)
    if phrase.lower() in COLLECTIVE:
        return Audience(phrase, False, True, phrase, "a person")
    head, rest = split_head(phrase)
    det = head[0].lower() in DETERMINERS and len(head) > 1
    noun = head[-1]
    plural = is_plural_noun(noun) and not det
    core = head[1:] if det else head
    many = " ".join([*core[:-1], pluralize(core[-1]), *rest])
    one = " ".join([*core[:-1], singularize(core[-1]), *rest])
    one = f"{article(one)} {one}"
    text = phrase if plural or det else one
    return Audience(text, plural, False, many, one)


@dataclass(frozen=True)
class Product:
    """What the ad sells, with the article it takes: 'the trail shoe', 'Flowly'."""

    text: str  # as named: 'waterproof trail shoe', 'Flowly'
    short: str  # the last words, without leading adjectives: 'trail shoe'
    name: bool  # a proper name takes no article
    plural: bool

    def the(self, short: bool = True) -> str:
        p = self.short if short else self.text
        return p if self.name else f"the {p}"

    def a(self, short: bool = True) -> str:
        p = self.short if short else self.text
        return p if self.name or self.plural else f"{article(p)} {p}"


def product(text: str, short: str, brief: str) -> Product:
    """A proper name when a word after the first is capitalised ('Acme CRM', 'Bright Smile
    Dental') or its first word is capitalised away from the brief's start ('... of Flowly')."""
    words = text.split()
    starts = brief.strip().lower().startswith(text.lower())
    name = any(w[:1].isupper() for w in words[1:]) or (
        words[0][:1].isupper() and not starts and not words[0].isupper())
    if not name:
        text, short = mid(text), mid(short)
    last = short.split()[-1] if short.split() else text
    return Product(text, short, name, not name and is_plural_noun(last))
