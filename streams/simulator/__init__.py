"""Deterministic scenario simulator: customers living journeys, as touchpoint events and survey answers.

`cxpulse simulate` and `cxpulse demo` call `simulate()`; every valid message it produces is built from
the classes of `streams.contracts` and encoded with msgspec, so it decodes with `decode_touchpoint` /
`decode_survey` by construction (and the tests check it).

The model
---------
- **Customers.** A base of `customers` slots, each with a segment (residential 72 %, pro 18 %, premium
  10 %), a language (mostly French), a loyalty (a personal offset of every score), an affinity for
  digital channels (chat rather than phone) and whether they use the app. A segment sets how often
  its customers need help, how long they accept to wait and hold on, what they expect (`expected`)
  and how demanding they are; premium calls are routed first. Customers who leave (termination
  journey) are replaced by a new customer who starts an onboarding journey, so the base stays the
  same size and the process stays stationary.
- **Arrivals.** Independent Poisson streams per hour: contact needs, written requests, complaints,
  purchases, self-care sessions, troubleshooting, store visits, terminations, relationship surveys.
  Each stream has a weekday x hour-of-day profile in Paris time (phone lines Mon-Sat 8-20 h, chat
  8-22 h every day, stores Mon-Sat 9-19 h, web and app around the clock with an evening peak).
  Rates are per customer, so volume scales with `customers`; nothing trends, nothing grows.
- **Live contacts.** A need (reason) goes to a phone queue of its reason or to a chat queue. Queues
  are staffed for the average hour, so occupancy rises with the hour's load and waits grow sharply
  at peaks (Monday morning, Sunday chat). A caller whose patience runs out abandons and often tries
  again. An answered contact has talk/hold/after-contact-work times of its queue and agent (a roster
  sized to the volume), and is resolved with a probability of its queue and agent; an unresolved need
  comes back within hours (a repeat contact: FCR), is escalated to a written request, or is given up.
- **Cases.** Written requests and complaints are opened on a mailbox, form or social account, get a
  first reply and a resolution in office hours, and are sometimes reopened. Complaint categories
  follow a Pareto shape (billing errors and late deliveries are most of them); each complaint has a
  story before it (the bill, the missed parcel, the failed self-repair, one or two unresolved calls)
  and a severity; compensation comes from a grid of euros by category and severity.
- **Journeys.** Purchase funnels (product page -> cart -> checkout -> payment, with abandonment),
  deliveries (sometimes late or missed, which brings contacts), self-care in the app or on the web,
  troubleshooting, store visits, onboarding and termination, as `journey_step` events.
- **Surveys.** Post-contact (linked by `contact_id` or `case_id`), post-journey and relationship
  surveys. One latent satisfaction per answer (segment, loyalty, wait beyond the segment's
  tolerance, resolution, repeat contacts, failures, compensation) gives NPS, CSAT and the expectation
  gap; a latent effort gives CES; emotions and French (or English) verbatims are composed from the
  score and what happened. Service KPIs and experience scores therefore move together. How much each
  service lever (wait, unresolved need, repeat contacts, abandonment, complaint, failed step) lowers
  that satisfaction is `SimulationOptions.effects` (`LeverEffects`, documented there): the known truth
  against which marts.drivers is checked. A survey-
  fatigue rule (at most one answer per customer per 14 days) keeps answers independent, as the
  statistical tests of the drift detector assume.
- **Scenarios** change the process from a moment on: `nps-drop` turns a share of the answers in a
  scope into bad experiences, sized from the scope's NPS before the drop so that its NPS falls by
  about `points` (with `ramp=21d`, gradually: the share grows linearly over 21 days); `wait-spike`
  multiplies the waits of a queue (abandonment and scores follow); `complaint-burst` multiplies the
  rate of a complaint category; `mix-shift` makes the survey answers of the other channels `factor`
  times rarer, so the answers move toward one channel while no channel's scores change (the chat is
  only a few points below the other channels here: combined with an nps-drop on it from the start,
  it pulls the overall NPS down by its weight alone).
  `journey-rupture` multiplies the probability that one journey step goes wrong (abandoned in the
  purchase funnel's first steps, failed elsewhere: `journey-rupture:journey=purchase:step=payment:from=-7d:
  factor=4`), which marts.journey_steps reports as a rupture; without it no draw changes.
- **Noise.** Malformed messages (one of the classes the consumer rejects) and redeliveries of the
  same bytes are drawn from a random stream of their own, so the valid events do not depend on the
  malformed and duplicate rates.

Determinism: one `random.Random(seed)` drives the world and another the noise; ids are counters
under a tag hashed from the options, so the same options (with the same `end`) give byte-identical
messages in the same order, and a run with other options never reuses an id for a different event.
Messages come out day by day in time order; events that would happen after `end` (replies to recent
cases, late surveys) are not produced yet. The 21 days before the start are played but not sent, so
the first day already carries the replies, resolutions and answers of stories begun earlier (no
warm-up: the drift windows need `days` >= 35 only).

Volume: about 50 messages per 1,000 customers per day (90 days x 125,000 customers is about 557,000
messages, with about 1,400 chat survey answers a week); generation runs at about 100,000 messages a
second in one process on a small 2-core machine.

Package layout: `world.py` (the world's tables, as data), `scenarios.py` (what a run injects and its
options), `engine.py` (the clock, customers, arrivals and output), `stories.py` (what one arrival
sets off: contacts, cases, journeys), `answers.py` (survey answers), `sinks.py` (where messages go,
and the malformed copies).
"""

from streams.simulator.engine import SimulationSummary, default_end, simulate
from streams.simulator.scenarios import LeverEffects, Scenario, SimulationOptions, parse_scenario
from streams.simulator.sinks import JsonlSink, Sink
from streams.simulator.world import CATEGORY_NAMES, MALFORMED_CLASSES, QUEUE_NAMES, SEGMENT_NAMES

__all__ = [
    "CATEGORY_NAMES",
    "MALFORMED_CLASSES",
    "QUEUE_NAMES",
    "SEGMENT_NAMES",
    "JsonlSink",
    "LeverEffects",
    "Scenario",
    "SimulationOptions",
    "SimulationSummary",
    "Sink",
    "default_end",
    "parse_scenario",
    "simulate",
]
