# The cxpulse image used by the consumer and Airflow services of docker-compose.yaml.
FROM python:3.11.7-slim-bookworm
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
