# Images of docker-compose.yaml. `cxpulse`: the consumer service. `airflow`: Airflow 3 with cxpulse installed.
# Both run as the same non-root user, uid 50000 (the `airflow` user of the official image): the data
# volume's files are owner-only (0600/0700), and the consumer writes landing files that the Airflow
# tasks load and `cxpulse forget` rewrites.
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
# /data exists in the image with its owner, so a new named volume mounted there starts owned by 50000.
RUN useradd --uid 50000 --gid 0 --no-create-home --home-dir /data cxpulse \
    && install -d -o 50000 -g 0 -m 0700 /data
ENV CXPULSE_HOME=/data
USER 50000:0

FROM apache/airflow:3.3.2-python3.11 AS airflow
COPY --chown=airflow:root pyproject.toml constraints.txt /opt/cxpulse/
COPY --chown=airflow:root cxpulse /opt/cxpulse/cxpulse
COPY --chown=airflow:root streams /opt/cxpulse/streams
COPY --chown=airflow:root warehouse /opt/cxpulse/warehouse
COPY --chown=airflow:root transforms /opt/cxpulse/transforms
COPY --chown=airflow:root quality /opt/cxpulse/quality
RUN pip install --no-cache-dir -c /opt/cxpulse/constraints.txt /opt/cxpulse
COPY --chown=airflow:root dags /opt/cxpulse/dags
USER root
RUN install -d -o airflow -g root -m 0700 /data
USER airflow
