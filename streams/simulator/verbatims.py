"""Simulated verbatims, composed from fragments so that topics are not a lookup of a few fixed sentences.

A verbatim is what happened (one fragment of the topic and band, several wordings each), sometimes a
second aspect, an opener or a closing remark, in the customer's language; then how people type: no
accents, lower case, missing letters, swapped letters, doubled punctuation. Everything is drawn from
the `rng` given, so a seed gives the same verbatims.
"""

from __future__ import annotations

import random

# fragments by language, band (from the NPS) and topic (what happened); "any": general remarks
_FRAGMENTS: dict[str, dict[str, dict[str, tuple[str, ...]]]] = {
    "fr": {
        "pos": {
            "any": (
                "service client au top",
                "réponse rapide et claire",
                "très satisfait, rien à redire",
                "je conseille cette enseigne à mes amis",
            ),
            "agent": (
                "conseiller très aimable et efficace",
                "conseillère à l'écoute, elle a pris le temps de tout m'expliquer",
                "la personne au téléphone était adorable et patiente",
                "interlocuteur compétent et souriant",
            ),
            "wait": ("quelqu'un a répondu presque aussitôt", "pas d'attente, on m'a répondu tout de suite"),
            "billing": (
                "facture enfin claire",
                "remboursement reçu en deux jours",
                "erreur de facturation corrigée vite",
            ),
            "digital": (
                "application simple et intuitive",
                "tout s'est fait en deux clics sur le site",
                "l'espace client est bien plus clair",
            ),
            "delivery": ("livraison en avance", "colis en parfait état", "livreur ponctuel et sympa"),
            "store": ("accueil chaleureux en boutique", "vendeur de bon conseil au magasin"),
            "complaint": ("ma réclamation a été prise au sérieux", "le geste commercial est apprécié"),
            "unresolved": ("souci résolu dès le premier contact", "mon dossier est enfin réglé"),
            "repeat": ("souci résolu dès le premier contact",),
            "onboarding": ("inscription rapide", "ligne activée dès le lendemain"),
            "relationship": ("client depuis des années et toujours content", "les tarifs restent raisonnables"),
        },
        "mid": {
            "any": ("dans l'ensemble ça va", "correct, sans plus", "rien d'exceptionnel", "bof, ça dépend des fois"),
            "agent": ("conseiller poli mais pas très à l'écoute",),
            "wait": (
                "l'attente était un peu longue",
                "un quart d'heure d'attente quand même",
                "il a fallu patienter un moment",
            ),
            "repeat": ("il a fallu rappeler une deuxième fois", "j'ai dû réexpliquer mon dossier"),
            "unresolved": ("problème à moitié résolu",),
            "billing": ("réponse un peu vague sur ma facture", "le détail de la facture reste flou"),
            "digital": (
                "le site fonctionne mais le paiement a mis du temps",
                "il faut chercher longtemps dans l'appli",
            ),
            "delivery": (
                "livraison dans les temps mais aucun suivi par SMS",
                "colis livré au point relais au lieu de chez moi",
            ),
            "store": ("un peu d'attente en boutique",),
            "complaint": ("délai de traitement de ma demande un peu long",),
            "relationship": (
                "les prix ont augmenté, le service reste correct",
                "forfait un peu cher pour ce que c'est",
            ),
        },
        "neg": {
            "any": (
                "je vais partir à la concurrence",
                "très déçu, ce n'est plus comme avant",
                "service de plus en plus nul",
            ),
            "wait": (
                "vingt minutes d'attente pour finalement être coupé",
                "temps d'attente inacceptable, j'ai raccroché deux fois",
                "45 min avec la musique d'attente",
                "impossible de joindre quelqu'un",
            ),
            "unresolved": (
                "toujours pas de solution après plusieurs appels",
                "on me renvoie d'un service à l'autre, personne ne sait répondre",
                "le problème revient encore",
            ),
            "repeat": (
                "troisième appel pour le même problème, c'est épuisant",
                "j'ai dû tout réexpliquer à chaque fois",
            ),
            "agent": (
                "conseiller peu aimable, aucune empathie",
                "on m'a parlé comme à une idiote",
                "vendeur désagréable et pressé",
            ),
            "billing": (
                "erreur sur ma facture et toujours pas remboursé",
                "prélèvement en double, c'est inadmissible",
                "des frais que personne ne m'avait annoncés sur la facture",
            ),
            "delivery": (
                "colis en retard d'une semaine et aucune information",
                "livreur jamais passé alors que j'étais chez moi",
                "colis perdu par le transporteur",
            ),
            "digital": (
                "l'application plante au moment du paiement",
                "impossible de me connecter à mon espace client",
                "le site bug sans arrêt",
            ),
            "complaint": (
                "réclamation traitée en un mois, beaucoup trop long",
                "il a fallu relancer trois fois pour obtenir une réponse",
            ),
            "termination": ("frais de résiliation abusifs", "résilier est un vrai parcours du combattant"),
            "onboarding": ("activation de ma ligne ratée, une semaine sans service",),
            "store": (
                "boutique bondée, personne pour me renseigner",
                "magasin fermé alors que le site le disait ouvert",
            ),
            "incident": ("rien n'a fonctionné comme d'habitude", "on m'a promis un rappel qui n'est jamais venu"),
            "incident-chat": (
                "le chat me renvoie en boucle vers l'assistant virtuel",
                "conversation coupée au moment du transfert vers un conseiller",
                "le chatbot ne comprend pas ma demande",
            ),
            "relationship": ("encore une hausse de prix", "trop cher pour ce que c'est"),
        },
    },
    "en": {
        "pos": {
            "any": ("great service", "very happy, nothing to add", "would recommend"),
            "agent": ("the agent was kind and helpful", "the advisor really listened"),
            "wait": ("answered straight away",),
            "delivery": ("parcel arrived early and in perfect condition",),
            "digital": ("the app is easy to use",),
            "unresolved": ("sorted on the first call",),
        },
        "mid": {
            "any": ("ok overall, nothing special", "fine I guess"),
            "wait": ("the wait was a bit long",),
            "repeat": ("solved in the end, but I had to call twice",),
            "billing": ("the bill is still a bit confusing",),
        },
        "neg": {
            "any": ("very disappointed, thinking of leaving", "worst service ever"),
            "wait": ("waited twenty minutes and then got cut off", "on hold for 40 minutes"),
            "unresolved": ("still no solution after several calls", "nobody could fix it"),
            "agent": ("the agent was rude",),
            "billing": ("wrong bill and still no refund", "charged twice this month"),
            "delivery": ("parcel a week late and no information", "the courier never showed up"),
            "digital": ("the app keeps crashing", "can't log in to my account"),
            "complaint": ("it took a month to handle my complaint",),
            "incident": ("nothing worked this time",),
            "incident-chat": ("the chat keeps sending me back to the bot",),
        },
    },
}
_OPENERS = {
    "fr": ("bonjour, ", "franchement, ", "alors voilà : ", "honnêtement ", ""),
    "en": ("hi, ", "honestly ", "well, ", ""),
}
_CLOSERS = {
    "pos": {"fr": ("merci !", "bravo.", "continuez comme ça"), "en": ("thanks!", "cheers")},
    "mid": {"fr": ("voilà.", "à améliorer."), "en": ("could be better.",)},
    "neg": {"fr": ("c'est inadmissible !!", "pas normal.", "j'en ai marre"), "en": ("unacceptable.", "fed up")},
}
_PLAIN = str.maketrans("éèêëàâîïôûùç", "eeeeaaiiouuc")


def _typo(rng: random.Random, text: str) -> str:
    """One typing slip in a word of 5 letters or more: a letter dropped, doubled or swapped."""
    words = text.split(" ")
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not long_words:
        return text
    i = rng.choice(long_words)
    w = words[i]
    k = rng.randrange(1, len(w) - 1)
    kind = rng.random()
    if kind < 0.4:
        w = w[:k] + w[k + 1 :]
    elif kind < 0.7:
        w = w[:k] + w[k] + w[k:]
    else:
        w = w[: k - 1] + w[k] + w[k - 1] + w[k + 1 :]
    words[i] = w
    return " ".join(words)


def compose(rng: random.Random, language: str, band: str, topic: str, base: str | None = None) -> str:
    """A verbatim about `topic` (what happened) in `language`, for a score band (pos, mid, neg); `base`, a
    sentence already chosen, is kept half of the time and reworded from the fragments otherwise."""
    table = _FRAGMENTS[language][band]
    themed = table.get(topic) or table.get(topic.partition("-")[0])
    main = rng.choice(themed if themed and rng.random() < 0.8 else table["any"])
    if base is not None and rng.random() < 0.5:
        main = base.rstrip(".!").lower()
    parts = [main]
    if rng.random() < 0.3:  # a second aspect of the same experience
        other = rng.choice([k for k in table if k not in (topic, "any")] or ["any"])
        parts.append(rng.choice(table[other]))
    text = (", " if rng.random() < 0.5 else ". ").join(parts)
    if rng.random() < 0.3:
        text = rng.choice(_OPENERS[language]) + text
    if rng.random() < 0.35:
        text += (", " if rng.random() < 0.5 else ". ") + rng.choice(_CLOSERS[band][language])
    if rng.random() < 0.6:
        text = text[0].upper() + text[1:]
    if rng.random() < 0.15:
        text = text.translate(_PLAIN)  # typed without accents
    for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
        text = _typo(rng, text)
    if text[-1] not in ".!?":
        text += rng.choice((".", "", "!", " !!", "..."))
    return text.strip()
