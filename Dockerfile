# syntax=docker/dockerfile:1
# Install exactly what CI tested (requirements.lock, every file checked by its hash), then the
# project itself without resolving anything more; run it, as an unprivileged user, in a slim stage.
FROM python:3.11-slim AS build
WORKDIR /src
COPY requirements.lock ./
RUN python -m venv /opt/qilijia \
 && /opt/qilijia/bin/pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY app ./app
COPY auth ./auth
COPY models ./models
COPY resolvers ./resolvers
COPY schema ./schema
COPY migrations ./migrations
RUN /opt/qilijia/bin/pip install --no-cache-dir --no-deps .

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
# ready: the process answers and reaches its database (serve migrates first, hence the start period)
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
# Configured entirely by environment: DATABASE_URL and QILIJIA_SECRET_KEY (required in prod), WECHAT_*.
CMD ["qilijia", "serve", "--host", "0.0.0.0", "--port", "8000"]
