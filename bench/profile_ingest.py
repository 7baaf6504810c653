"""Profile the consumer on 200k realistic events: python -m bench.profile_ingest (prints cProfile's top 35)."""

from __future__ import annotations

import cProfile
import pstats

from bench.ingest import produce_with_kcat, realistic_messages
from bench.support import own_broker
from streams.consumer import LandingConsumer


def main(events: int = 200_000) -> None:
    with own_broker(
        "cxpulse-profile-", topic_touchpoints="profile.t", topic_surveys="profile.s", idle_exit_seconds=2
    ) as settings:
        data = settings.home / "events.jsonl"
        data.write_bytes(b"\n".join(realistic_messages(events)) + b"\n")
        produce_with_kcat(settings.kafka_bootstrap, settings.topic_touchpoints, data)
        profiler = cProfile.Profile()
        profiler.enable()
        stats = LandingConsumer(settings).run(until_idle=True)
        profiler.disable()
        print(f"{stats.valid / stats.busy_seconds:,.0f} events/s under the profiler")
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
