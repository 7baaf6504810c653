"""Survey answers: from a latent satisfaction and effort to NPS, CSAT, CES, expectation, emotion and
verbatim, with the NPS drops of the scenarios applied."""

from __future__ import annotations

import random

from streams.contracts import (
    SurveyResponse,
)
from streams.simulator.verbatims import compose
from streams.simulator.world import (
    _NEGATIVE_EMOTIONS,
    _QUESTIONS,
    _VERBATIMS,
    SEGMENT_NAMES,
    SEGMENTS,
    SURVEY_QUARANTINE,
    _choose,
)


class _Answers:
    """Mixed into the engine's `_World`, whose state (clock, customers, random streams) it uses."""

    def _mood(self, slot: int) -> float:
        return SEGMENTS[self.seg[slot]].bias + self.loyal[slot]

    # -- survey answers --------------------------------------------------------------------------------------
    def _answer(
        self,
        t: int,
        slot: int,
        survey: str,
        channel: str,
        touchpoint: str,
        journey: str | None,
        s: float,
        effort: float | None,
        topic: str,
        contact_id: str | None = None,
        case_id: str | None = None,
    ) -> None:
        """One survey answer from a latent satisfaction `s` (about the NPS scale) and effort (CES scale)."""
        if t >= self.end_ts:
            return
        for since, toward, factor in self._mixes:
            # a mix shift: the other channels' survey invitations reach 1/factor of their customers
            if t >= since and channel != toward and self.rng.random() * factor >= 1:
                return
        # Survey fatigue rule: a customer answers at most one survey per quarantine period. It also keeps
        # answers independent of each other (no cluster of a customer's repeat contacts), as the tests of
        # the drift detector assume. The lead-in answers are not sent but count for the rule.
        if abs(t - self.surveyed[slot]) < SURVEY_QUARANTINE:
            return
        self.surveyed[slot] = t
        if t < self.start_ts:
            return
        rng = self.rng
        seg = self.seg[slot]
        if self._drops:
            scope = {"channel": channel, "touchpoint": touchpoint, "segment": SEGMENT_NAMES[seg]}
            for drop in self._drops:
                if scope[drop.dimension] != drop.value:
                    continue
                if t < drop.since:
                    nps_before = min(10, max(0, round(s)))
                    drop.answers_before += 1
                    drop.promoters_before += nps_before >= 9
                    drop.detractors_before += nps_before <= 6
                    continue
                # A bad experience is a sure detractor: replacing a share p of answers by them moves the
                # NPS from N to (1 - p) N - p, a drop of p (N + 1); p follows from the NPS measured before.
                before = drop.answers_before
                base = (drop.promoters_before - drop.detractors_before) / before if before >= 30 else 0.25
                grown = min(1.0, (t - drop.since) / drop.ramp_s) if drop.ramp_s else 1.0  # a gradual decline
                if rng.random() < grown * min(1.0, drop.points / 100 / (base + 1)):
                    s = 6.4 - abs(rng.gauss(0, 2.2))
                    effort = None if effort is None else effort - 2.0
                    topic = "incident-chat" if channel == "chat" else "incident"
        p_nps, p_csat, p_ces, p_expected = _QUESTIONS[survey]
        nps = min(10, max(0, round(s))) if rng.random() < p_nps else None
        if nps is not None and s < 5.5 and rng.random() < 0.3:
            nps = rng.choice((0, 0, 1, 2))  # an angry customer answers at the bottom of the scale
        csat = min(5, max(1, round((s + rng.gauss(0, 1.0) + 0.4) / 2))) if rng.random() < p_csat else None
        ces = None
        if effort is not None and rng.random() < p_ces:
            ces = min(7, max(1, round(effort + 0.2 * (s - 8) + rng.gauss(0, 1.0))))
        if nps is None and csat is None and ces is None:
            nps = min(10, max(0, round(s)))
        expected = None
        if rng.random() < p_expected:
            expected = min(5, max(1, round(rng.gauss(SEGMENTS[seg].expected, 0.75))))
        score = nps if nps is not None else round(s)
        band = "pos" if score >= 9 else ("mid" if score >= 7 else "neg")
        emotion = None
        if rng.random() < 0.55:
            if band == "pos":
                emotion = "joy" if rng.random() < 0.8 else "surprise"
            elif band == "mid":
                emotion = _choose(rng, ("joy", "surprise", "sadness", "fear"), (0.6, 0.3, 0.05, 0.05))
            else:
                names, weights = _NEGATIVE_EMOTIONS.get(topic, _NEGATIVE_EMOTIONS["any"])
                emotion = _choose(rng, names, weights)
        verbatim = None
        language = self.lang[slot]
        if rng.random() < (0.5 if score <= 4 or score == 10 else 0.25):
            texts = _VERBATIMS[language][band]
            # mostly about what happened, sometimes a general remark
            themed = texts.get(topic) or texts.get(topic.partition("-")[0])
            verbatim = rng.choice(themed if themed and rng.random() < 0.8 else texts["any"])
            # reworded, extended and mistyped from fragments (streams/simulator/verbatims.py) with a stream of
            # its own, seeded by what this run drew: the same seed gives the same verbatims, and the draws of
            # the simulation are those they were before verbatims varied
            verbatim = compose(random.Random(f"{verbatim}|{t}|{slot}"), language, band, topic, verbatim)
        self._emit(
            t,
            slot,
            SurveyResponse,
            channel=channel,
            touchpoint=touchpoint,
            survey=survey,
            journey=journey,
            contact_id=contact_id,
            case_id=case_id,
            nps=nps,
            csat=csat,
            ces=ces,
            expected=expected,
            emotion=emotion,
            verbatim=verbatim,
            language=language,
        )
