# Images of docker-compose.yaml. `cxpulse`: the consumer service. `airflow`: Airflow 3 with cxpulse installed.
FROM python:3.11.7-slim-bookworm AS cxpulse
WORKDIR /app
COPY pyproject.toml constraints.txt ./
COPY cxpulse cxpulse
COPY streams streams
COPY warehouse warehouse
COPY transforms transforms
COPY quality quality
RUN pip install --no-cache-dir -c constraints.txt .
COPY dags dags
ENV CXPULSE_HOME=/data

FROM apache/airflow:3.3.2-python3.11 AS airflow
COPY --chown=airflow:root pyproject.toml constraints.txt /opt/cxpulse/
COPY --chown=airflow:root cxpulse /opt/cxpulse/cxpulse
COPY --chown=airflow:root streams /opt/cxpulse/streams
COPY --chown=airflow:root warehouse /opt/cxpulse/warehouse
COPY --chown=airflow:root transforms /opt/cxpulse/transforms
COPY --chown=airflow:root quality /opt/cxpulse/quality
RUN pip install --no-cache-dir -c /opt/cxpulse/constraints.txt /opt/cxpulse
COPY --chown=airflow:root dags /opt/cxpulse/dags
