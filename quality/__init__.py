"""Quality gates, drift detection, alert rules and sinks."""
