"""SQL models (staging views, mart tables), their runner and the KPI catalogue."""
