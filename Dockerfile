# syntax=docker/dockerfile:1
# Build a wheel in one stage; run it, as an unprivileged user, in a slim one.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY auth ./auth
COPY models ./models
COPY resolvers ./resolvers
COPY schema ./schema
COPY migrations ./migrations
RUN python -m venv /opt/qilijia \
 && /opt/qilijia/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/qilijia/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 qilijia
COPY --from=build /opt/qilijia /opt/qilijia
ENV PATH="/opt/qilijia/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    QILIJIA_ENV=prod \
    QILIJIA_DATA_DIR=/home/qilijia/data
USER qilijia
WORKDIR /home/qilijia
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Configured entirely by environment: DATABASE_URL, QILIJIA_SECRET_KEY (required in prod), WECHAT_*.
CMD ["qilijia", "serve", "--host", "0.0.0.0", "--port", "8000"]
