"""Kafka side: event contracts, consumer, producer, dead letters, hot-path rules."""
