"""What one arrival sets off: live contacts until the need is solved or given up, written cases and
complaints, purchases, deliveries, store visits, self-care, onboarding and terminations."""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from streams.contracts import (
    CaseOpened,
    CaseReopened,
    CaseReplied,
    CaseResolved,
    Contact,
)
from streams.simulator.world import (
    CATEGORIES,
    COMPENSATED,
    COMPLAINT_INBOXES,
    DAY,
    HOUR,
    PRIVACY_INBOXES,
    QUEUES,
    REASONS,
    REQUEST_INBOXES,
    SEGMENT_NAMES,
    SEGMENTS,
    SELFCARE,
    SEVERITY_WEIGHTS,
    STORE_WEIGHTS,
    STORES,
    _pick,
    _Queue,
    _Segment,
    _weighted,
)


@dataclass(frozen=True)
class _Attempt:
    """One contact attempt: the customer's slot, the queue, why they call or chat, the contact's id."""

    slot: int
    queue: _Queue
    journey: str
    reason: str
    contact_id: str


class _Stories:
    """Mixed into the engine's `_World`, whose state (clock, customers, random streams) it uses."""

    # -- live contacts -------------------------------------------------------------------------------------
    def _need(
        self, t: int, slot: int, reason: str, *, chat: bool | None = None, stop_after: int = 0
    ) -> tuple[int, bool]:
        """Live contacts for one need until it is solved, escalated or given up; returns (end, solved).

        stop_after > 0: the customer stops after that many answered, unresolved contacts (and writes a
        complaint, in a complaint story).
        """
        rng = self.rng
        journey, phone_queue = REASONS[reason]
        segment = SEGMENTS[self.seg[slot]]
        use_chat = (rng.random() < self.digital[slot]) if chat is None else chat
        answered = 0
        abandoned_before = False
        for _ in range(6):
            service = "chat" if use_chat else "phone"
            if not self._hour(t).open[service]:
                if use_chat or not self._hour(t).open["chat"]:
                    t = self._when_open(t, service)
                else:
                    use_chat = True  # phone lines closed, the chat is open
            if t >= self.end_ts:
                return t, False
            if use_chat:
                queue = QUEUES["app_chat" if self.app[slot] else "web_chat"]
            else:
                queue = QUEUES[phone_queue]
            wait = self._wait(t, queue, segment)
            patience = 8 + rng.expovariate(1.0) * segment.patience_s * (2.2 if use_chat else 1.0)
            attempt = _Attempt(slot, queue, journey, reason, contact_id=f"{self._ct}{self._next_id()}")
            if wait > patience:
                self._contact(t, attempt, round(patience, 1))
                abandoned_before = True
                if rng.random() < 0.3:
                    self._bad(slot, t)
                    return t, False
                t += int(patience + rng.lognormvariate(6.8, 0.8))  # tries again after ~15 min
                if rng.random() < 0.2:
                    use_chat = not use_chat
                continue
            answered += 1
            roster = self.agents[queue.name]
            agent_id, skill, speed = roster[rng.randrange(len(roster))]
            talk = queue.talk_s * speed * rng.lognormvariate(0, 0.5)
            hold = rng.expovariate(1 / queue.hold_s) if rng.random() < queue.hold_share else 0.0
            acw = queue.acw_s * rng.lognormvariate(0, 0.35)
            if stop_after:
                solved = False
            else:
                chance = queue.resolution + skill + 0.06 * (answered - 1) + (0.04 if segment.priority < 1 else 0)
                solved = rng.random() < chance
            self._contact(t, attempt, round(wait, 1), round(talk), round(hold), round(acw), agent_id)
            done = t + int(wait + talk + hold)
            if rng.random() < (0.38 if use_chat else 0.24):
                self._contact_survey(done, attempt, wait, solved, answered, abandoned_before)
            if solved:
                return done, True
            if stop_after and answered >= stop_after:
                return done, False
            if answered >= 3:
                self._bad(slot, done)
                return done, False
            fate = rng.random()
            if fate < 0.72:  # calls or chats again, usually within hours
                t = done + int(min(3 * DAY, rng.lognormvariate(8.2, 0.7)))
            elif fate < 0.86:  # writes instead
                opened = done + int(min(3 * DAY, rng.lognormvariate(9.2, 0.7)))
                channel, touchpoint = _pick(rng, REQUEST_INBOXES)
                self._case(opened, slot, reason, journey, channel, touchpoint)
                return opened, False
            else:
                self._bad(slot, done)
                return done, False
        return t, False

    def _wait(self, t: int, queue: _Queue, segment: _Segment) -> float:
        """Seconds in queue: the hour's load raises occupancy, and waits explode as it nears 1."""
        rng = self.rng
        load = self._hour(t).load["phone" if queue.channel == "phone" else "chat"]
        rho = min(0.97, queue.occupancy * load**0.25)
        # A spike (missing staff) multiplies the mean wait by its factor: more callers queue, and longer.
        spike = 1.0
        for since, factor in self._spikes.get(queue.name, ()):
            if t >= since:
                spike *= math.sqrt(factor)
        if rng.random() < rho**5 * spike:
            wait = rng.expovariate(1.0) * queue.wait_scale_s / (1 - rho) * spike
        else:
            wait = rng.random() * 4  # routed straight to a free agent
        return wait * segment.priority

    def _contact(
        self,
        t: int,
        attempt: _Attempt,
        wait: float,
        talk: float | None = None,
        hold: float | None = None,
        acw: float | None = None,
        agent_id: str | None = None,
    ) -> None:
        if not self.start_ts <= t < self.end_ts:
            return
        self._emit(
            t,
            attempt.slot,
            Contact,
            channel=attempt.queue.channel,
            touchpoint=attempt.queue.name,
            journey=attempt.journey,
            contact_id=attempt.contact_id,
            outcome="abandoned" if talk is None else "answered",
            wait_s=wait,
            reason=attempt.reason,
            talk_s=talk,
            hold_s=hold,
            acw_s=acw,
            agent_id=agent_id,
        )

    def _contact_survey(
        self, t: int, attempt: _Attempt, wait: float, solved: bool, answered: int, abandoned_before: bool
    ) -> None:
        rng = self.rng
        slot, queue, reason = attempt.slot, attempt.queue, attempt.reason
        segment = SEGMENTS[self.seg[slot]]
        over = max(0.0, wait - segment.tolerance_s)
        effects = self.options.effects
        wait_penalty = min(effects.wait, over / 45 * (effects.wait / 3.0))
        s = 8.8 + segment.bias + self.loyal[slot] - wait_penalty - effects.repeat * (answered - 1) + rng.gauss(0, 1.25)
        effort = 6.1 - 0.85 * (answered - 1) - min(2.0, wait / 100)
        if not solved:
            s -= effects.unresolved
            effort -= 1.7
        if abandoned_before:
            s -= effects.abandonment
            effort -= 0.6
        if over > 45:
            topic = "wait"
        elif not solved:
            topic = "unresolved"
        elif answered > 1:
            topic = "repeat"
        else:
            topic = {"billing": "billing", "delivery": "delivery"}.get(reason, "agent")
        delay = rng.randrange(30, 900) if queue.channel == "chat" else 300 + int(rng.expovariate(1 / 3600))
        channel, name, journey = queue.channel, queue.name, attempt.journey
        self._answer(t + delay, slot, "post_contact", channel, name, journey, s, effort, topic, attempt.contact_id)

    def _bad(self, slot: int, t: int) -> None:
        self.bad_from[slot] = t
        self.bad_until[slot] = t + 7 * DAY

    # -- cases -----------------------------------------------------------------------------------------------
    def _case(
        self,
        t: int,
        slot: int,
        reason: str,
        journey: str,
        channel: str,
        touchpoint: str,
        category: str | None = None,
        severity: int = 0,
    ) -> None:
        """A written request or complaint: opened, replied and resolved in office hours, maybe reopened.

        A case opened during the lead-in is played out but not sent (no case events without their
        case_opened); its survey answer, when it comes after the start, is.
        """
        if t >= self.end_ts:
            return
        rng = self.rng
        complaint = category is not None
        shown = t >= self.start_ts
        case_id = f"{self._cs}{self._next_id()}"
        key = self.ckey[slot]
        common = {
            "customer_id": self.cid[slot],
            "channel": channel,
            "touchpoint": touchpoint,
            "journey": journey,
            "segment": SEGMENT_NAMES[self.seg[slot]],
            "case_id": case_id,
        }

        def emit(at: int, event_type: type[msgspec.Struct], **fields: object) -> None:
            if shown:
                event = event_type(
                    event_id=f"{self._ev}{self._next_id()}", occurred_at=self._dt(at), **common, **fields
                )
                self._put(at, "touchpoints", event, key)

        emit(t, CaseOpened, reason=reason, is_complaint=complaint, category=category)
        if complaint:
            self._bad(slot, t)
            reply_median = (22 * HOUR, 16 * HOUR, 8 * HOUR)[severity]
            reply_at = self._when_open(t + int(rng.lognormvariate(math.log(reply_median), 1.0)), "office")
            reply_handle = 900 * (1, 1.6, 2.5)[severity] * rng.lognormvariate(0, 0.5)
        else:
            reply_at = self._when_open(t + int(rng.lognormvariate(math.log(14 * HOUR), 0.9)), "office")
            reply_handle = 360 * rng.lognormvariate(0, 0.5)
        if reply_at >= self.end_ts:
            return
        emit(reply_at, CaseReplied, handle_s=float(round(reply_handle)))
        if complaint:
            median = (40 * HOUR, 90 * HOUR, 200 * HOUR)[severity]
            resolved_at = self._when_open(reply_at + int(rng.lognormvariate(math.log(median), 0.9)), "office")
            resolve_handle = 1200 * (1, 1.6, 2.5)[severity] * rng.lognormvariate(0, 0.5)
            grid = CATEGORIES[category].grid
            compensation = float(grid[severity]) if rng.random() < COMPENSATED[severity] else 0.0
        else:
            if rng.random() < 0.55:  # the reply solves it
                resolved_at = reply_at + rng.randrange(300, 3600)
            else:
                resolved_at = self._when_open(reply_at + int(rng.lognormvariate(math.log(30 * HOUR), 1.0)), "office")
            resolve_handle = 240 * rng.lognormvariate(0, 0.5)
            compensation = 0.0
        if resolved_at >= self.end_ts:
            return
        emit(resolved_at, CaseResolved, handle_s=float(round(resolve_handle)), compensation_eur=compensation)
        reopened = False
        reopen_chance = 0.05
        if complaint:
            # an uncompensated serious complaint comes back more often
            reopen_chance = 0.09 + (0.08 if compensation == 0 and severity >= 1 else 0)
        if rng.random() < reopen_chance:
            reopened = True
            reopen_at = resolved_at + int(rng.lognormvariate(math.log(2 * DAY), 0.7))
            if reopen_at >= self.end_ts:
                return
            emit(reopen_at, CaseReopened)
            resolved_at = self._when_open(reopen_at + int(rng.lognormvariate(math.log(3 * DAY), 0.8)), "office")
            top_up = float(CATEGORIES[category].grid[0] or 10) if complaint and rng.random() < 0.4 else 0.0
            compensation += top_up
            if resolved_at >= self.end_ts:
                return
            emit(
                resolved_at,
                CaseResolved,
                handle_s=float(round(600 * rng.lognormvariate(0, 0.5))),
                compensation_eur=top_up,
            )
        if rng.random() < (0.25 if complaint else 0.16):
            days_open = (resolved_at - t) / DAY
            seg = SEGMENTS[self.seg[slot]]
            s = (
                (8.1 - self.options.effects.complaint if complaint else 8.1)
                + seg.bias
                + self.loyal[slot]
                - min(2.5, 0.25 * days_open)
            )
            effort = (5.0 if complaint else 5.6) - min(1.5, days_open / 6)
            if reopened:
                s -= 1.8
                effort -= 1.2
            if compensation > 0:
                s += 1.3
            s += rng.gauss(0, 1.4)
            topic = "complaint" if complaint else "any"
            answer_at = resolved_at + int(rng.lognormvariate(math.log(5 * HOUR), 1.0))
            self._answer(
                answer_at, slot, "post_contact", channel, touchpoint, journey, s, effort, topic, case_id=case_id
            )

    def _complaint(self, t: int, slot: int, category: str) -> None:
        """A complaint and the story before it, which the customer lived first."""
        rng = self.rng
        cat = CATEGORIES[category]
        severity = _weighted(rng, SEVERITY_WEIGHTS)
        reason = cat.reason or rng.choice(("billing", "technical", "contract"))
        journey = REASONS[reason][0]
        digital = "app" if self.app[slot] and rng.random() < 0.7 else "web"
        if cat.story == "termination":
            self._termination(t, slot, fees_complaint=True)
            return
        if cat.story == "bill":
            self._step(t, slot, digital, "bill_view", "billing", "ok", rng.lognormvariate(4.0, 0.6))
            t += rng.randrange(600, 4 * HOUR)
        elif cat.story == "delivery":
            self._step(t, slot, "mail", "home_delivery", "delivery", "failed", 0)
            t += rng.randrange(HOUR, 6 * HOUR)
            self._step(t, slot, digital, "order_tracking", "delivery", "ok", rng.lognormvariate(3.5, 0.5))
            t += rng.randrange(600, 3 * HOUR)
        elif cat.story == "troubleshooting":
            self._step(t, slot, digital, "diagnostic", "support", "ok", rng.lognormvariate(4.5, 0.5))
            t += rng.randrange(120, 900)
            self._step(t, slot, digital, "self_repair", "support", "failed", rng.lognormvariate(5.5, 0.5))
            t += rng.randrange(600, 3 * HOUR)
        elif cat.story == "purchase":
            self._step(t, slot, digital, "payment", "purchase", "ok", rng.lognormvariate(3.8, 0.4))
            t += rng.randrange(3 * DAY, 10 * DAY)
        elif cat.story == "store":
            store = STORES[_weighted(rng, STORE_WEIGHTS)]
            self._step(t, slot, "store", store, "purchase", "failed", rng.lognormvariate(6.8, 0.5))
            t += rng.randrange(2 * HOUR, DAY)
        contacts = _weighted(rng, cat.contacts)
        if contacts:
            t, _ = self._need(t, slot, reason, stop_after=contacts)
            t += int(rng.lognormvariate(math.log(5 * HOUR), 1.0))
        channel, touchpoint = _pick(rng, PRIVACY_INBOXES if category == "data_privacy" else COMPLAINT_INBOXES)
        self._case(t, slot, reason, journey, channel, touchpoint, category, severity)

    # -- journeys ------------------------------------------------------------------------------------------
    def _risk(self, t: int, journey: str, step: str, p: float) -> float:
        """The probability that a step goes wrong at instant t: p, times the factor of a journey-rupture
        scenario on that step once it has started (at most 0.95). Exactly p without one, and no draw: runs
        without the scenario are unchanged."""
        for since, factor in self._ruptures.get(f"{journey}/{step}", ()):
            if t >= since:
                p = min(0.95, p * factor)
        return p

    def _carry_on(self, t: int, journey: str, step: str, p: float) -> float:
        """The probability that a step goes right: p, or 1 - the raised risk under a journey-rupture."""
        risk = self._risk(t, journey, step, 1 - p)
        return p if risk == 1 - p else 1 - risk

    def _purchase(self, t: int, slot: int) -> None:
        rng = self.rng
        if rng.random() < 0.12:
            self._store_visit(t, slot, "purchase")
            return
        channel = "app" if self.app[slot] and rng.random() < 0.7 else "web"
        for step, carry_on, median in (("product_page", 0.72, 60), ("cart", 0.80, 40), ("checkout", 0.93, 90)):
            if rng.random() > self._carry_on(t, "purchase", step, carry_on):
                self._step(t, slot, channel, step, "purchase", "abandoned", median * rng.lognormvariate(0, 0.6))
                if rng.random() < 0.04:
                    self._need(t + rng.randrange(60, 1800), slot, "purchase", chat=rng.random() < 0.7)
                return
            duration = median * rng.lognormvariate(0, 0.6)
            self._step(t, slot, channel, step, "purchase", "ok", duration)
            t += int(duration) + rng.randrange(10, 240)
        if rng.random() < self._risk(t, "purchase", "payment", 0.035):
            self._step(t, slot, channel, "payment", "purchase", "failed", 30 * rng.lognormvariate(0, 0.4))
            if rng.random() < 0.45:
                self._need(t + rng.randrange(120, 1800), slot, "purchase", chat=rng.random() < 0.7)
            return
        self._step(t, slot, channel, "payment", "purchase", "ok", 45 * rng.lognormvariate(0, 0.4))
        if rng.random() < 0.04:
            self._answer(
                t + rng.randrange(30, 600),
                slot,
                "post_journey",
                channel,
                "payment",
                "purchase",
                8.6 + self._mood(slot) + rng.gauss(0, 1.2),
                5.6,
                "digital",
            )
        self._delivery(t, slot, channel)

    def _delivery(self, t: int, slot: int, channel: str) -> None:
        rng = self.rng
        transit = int(rng.lognormvariate(math.log(1.8 * DAY), 0.45))
        delayed = transit > 4 * DAY
        if rng.random() < 0.55:
            self._step(t + int(transit * rng.uniform(0.3, 0.9)), slot, channel, "order_tracking", "delivery", "ok", 40)
        if delayed and rng.random() < 0.35:
            self._need(t + 4 * DAY + rng.randrange(DAY // 2), slot, "delivery")
        arrival = self._when_open(t + transit, "office")
        pickup = rng.random() < 0.25
        missed = not pickup and rng.random() < self._risk(arrival, "delivery", "home_delivery", 0.05)
        if pickup:
            self._step(arrival, slot, "store", "store_pickup", "delivery", "ok", rng.lognormvariate(5.5, 0.5))
        else:
            self._step(arrival, slot, "mail", "home_delivery", "delivery", "failed" if missed else "ok", 0)
            if missed:
                if rng.random() < 0.3:
                    self._need(arrival + rng.randrange(HOUR, 6 * HOUR), slot, "delivery")
                arrival = self._when_open(arrival + DAY, "office")
                self._step(arrival, slot, "mail", "home_delivery", "delivery", "ok", 0)
        if rng.random() < 0.11:
            s = 8.7 + self._mood(slot) + rng.gauss(0, 1.2) - (2.5 if delayed else 0) - (1.5 if missed else 0)
            effort = 5.5 - (1.5 if delayed else 0) - (1.5 if missed else 0)
            touchpoint = "store_pickup" if pickup else "home_delivery"
            answer_at = arrival + int(rng.lognormvariate(math.log(4 * HOUR), 0.8))
            self._answer(answer_at, slot, "post_journey", channel, touchpoint, "delivery", s, effort, "delivery")

    def _store_visit(self, t: int, slot: int, journey: str) -> None:
        rng = self.rng
        store = STORES[_weighted(rng, STORE_WEIGHTS)]
        draw = rng.random()
        status = "ok" if draw < 0.93 else ("failed" if draw < 0.98 else "abandoned")
        self._step(t, slot, "store", store, journey, status, 900 * rng.lognormvariate(0, 0.5))
        if rng.random() < 0.14:
            s = (
                8.5
                + self._mood(slot)
                + rng.gauss(0, 1.2)
                - {"ok": 0, "failed": self.options.effects.failed_step, "abandoned": 1.5}[status]
            )
            effort = 5.4 - (0 if status == "ok" else 1.5)
            self._answer(
                t + rng.randrange(HOUR, 6 * HOUR), slot, "post_journey", "store", store, journey, s, effort, "store"
            )

    def _selfcare(self, t: int, slot: int) -> None:
        rng = self.rng
        channel = "app" if self.app[slot] and rng.random() < 0.75 else "web"
        touchpoint, journey, _ = SELFCARE[_weighted(rng, [w for _, _, w in SELFCARE])]
        if rng.random() < self._risk(t, journey, "login", 0.03):
            self._step(t, slot, channel, "login", journey, "failed", rng.lognormvariate(3.0, 0.5))
            t += rng.randrange(60, 600)
            if rng.random() < 0.2:
                self._need(t, slot, "technical")
                return
        self._step(t, slot, channel, "login", journey, "ok", rng.lognormvariate(2.5, 0.5))
        t += rng.randrange(5, 60)
        draw = rng.random()
        status = "ok" if draw < 0.955 else ("failed" if draw < 0.98 else "abandoned")
        self._step(t, slot, channel, touchpoint, journey, status, rng.lognormvariate(4.2, 0.7))
        if status == "failed" and rng.random() < 0.4:
            self._need(t + rng.randrange(300, 3 * HOUR), slot, "billing" if journey == "billing" else "contract")
        elif rng.random() < 0.04:
            s = 8.4 + self._mood(slot) + rng.gauss(0, 1.2) - (2.5 if status != "ok" else 0)
            answer_at = t + rng.randrange(60, 1800)
            self._answer(answer_at, slot, "post_journey", channel, touchpoint, journey, s, 5.5, "digital")

    def _troubleshooting(self, t: int, slot: int) -> None:
        rng = self.rng
        channel = "app" if self.app[slot] and rng.random() < 0.8 else "web"
        self._step(t, slot, channel, "diagnostic", "support", "ok", rng.lognormvariate(4.5, 0.5))
        t += rng.randrange(120, 900)
        fixed = rng.random() < self._carry_on(t, "support", "self_repair", 0.62)
        self._step(
            t, slot, channel, "self_repair", "support", "ok" if fixed else "failed", rng.lognormvariate(5.5, 0.5)
        )
        if not fixed and rng.random() < 0.65:
            self._need(t + rng.randrange(300, 3 * HOUR), slot, "technical")
        elif fixed and rng.random() < 0.08:
            s = 8.7 + self._mood(slot) + rng.gauss(0, 1.2)
            answer_at = t + rng.randrange(60, 1800)
            self._answer(answer_at, slot, "post_journey", channel, "self_repair", "support", s, 5.3, "digital")

    def _onboarding(self, t: int, slot: int) -> None:
        rng = self.rng
        draw = rng.random()
        channel = "web" if draw < 0.5 else ("app" if draw < 0.7 else "store")
        signup = STORES[_weighted(rng, STORE_WEIGHTS)] if channel == "store" else "signup"
        self._step(t, slot, channel, signup, "onboarding", "ok", rng.lognormvariate(5.7, 0.5))
        t += rng.randrange(60, 600)
        if channel != "store":
            if rng.random() < self._risk(t, "onboarding", "identity_check", 0.06):
                self._step(t, slot, channel, "identity_check", "onboarding", "failed", rng.lognormvariate(4.5, 0.5))
                t += rng.randrange(HOUR, 6 * HOUR)
            self._step(t, slot, channel, "identity_check", "onboarding", "ok", rng.lognormvariate(4.5, 0.5))
            t += rng.randrange(60, 600)
        self._step(t, slot, channel, "contract_signature", "onboarding", "ok", rng.lognormvariate(4.0, 0.5))
        t = self._when_open(t + int(rng.lognormvariate(math.log(20 * HOUR), 0.5)), "office")
        failed = rng.random() < self._risk(t, "onboarding", "activation", 0.07)
        self._step(t, slot, "web", "activation", "onboarding", "failed" if failed else "ok", 0)
        if failed:
            self._need(t + rng.randrange(HOUR, 4 * HOUR), slot, "activation")
            t = self._when_open(t + DAY, "office")
            self._step(t, slot, "web", "activation", "onboarding", "ok", 0)
        if rng.random() < 0.7:
            first_login = t + int(rng.lognormvariate(math.log(12 * HOUR), 0.8))
            self._step(first_login, slot, "app", "login", "onboarding", "ok", rng.lognormvariate(2.5, 0.5))
        if rng.random() < 0.22:
            s = 8.4 + self._mood(slot) + rng.gauss(0, 1.3) - (self.options.effects.failed_step if failed else 0)
            answer_at = t + int(rng.lognormvariate(math.log(6 * HOUR), 0.8))
            effort = 5.3 - (1.8 if failed else 0)
            self._answer(answer_at, slot, "post_journey", channel, "activation", "onboarding", s, effort, "onboarding")

    def _termination(self, t: int, slot: int, fees_complaint: bool = False) -> None:
        """A customer leaves (or is retained); a leaver's slot goes to a new customer who onboards."""
        rng = self.rng
        if rng.random() < 0.4:
            t, _ = self._need(t, slot, "termination", chat=False)
            if not fees_complaint and rng.random() < 0.3:
                return  # the retention line kept them
        else:
            channel = "app" if self.app[slot] and rng.random() < 0.3 else "web"
            self._step(t, slot, channel, "cancellation_request", "termination", "ok", rng.lognormvariate(4.8, 0.5))
            if not fees_complaint and rng.random() < 0.12:
                return  # accepted the retention offer
        end_at = self._when_open(t + rng.randrange(DAY, 10 * DAY), "office")
        self._step(end_at, slot, "web", "contract_end", "termination", "ok", 0)
        if rng.random() < 0.25:
            s = 5.8 + self._mood(slot) + rng.gauss(0, 1.6)
            answer_at = end_at + int(rng.lognormvariate(math.log(8 * HOUR), 0.8))
            effort = 4.8 + rng.gauss(0, 0.5)
            self._answer(
                answer_at, slot, "post_journey", "web", "contract_end", "termination", s, effort, "termination"
            )
        if fees_complaint:
            opened = end_at + rng.randrange(5 * DAY, 20 * DAY)
            channel, touchpoint = _pick(rng, COMPLAINT_INBOXES)
            severity = _weighted(rng, SEVERITY_WEIGHTS)
            self._case(opened, slot, "termination", "termination", channel, touchpoint, "termination_fees", severity)
        # Events already scheduled keep the leaver's id; from now on the slot is a newcomer's.
        self._new_customer(slot)
        self._onboarding(t + rng.randrange(DAY), slot)

    def _relationship(self, t: int, slot: int) -> None:
        rng = self.rng
        s = 8.3 + SEGMENTS[self.seg[slot]].bias + 1.2 * self.loyal[slot] + rng.gauss(0, 1.5)
        if self.bad_from[slot] <= t < self.bad_until[slot]:
            s -= 1.6
        self._answer(t, slot, "relationship", "email", "relationship_survey", None, s, None, "relationship")
