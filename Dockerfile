# Channel Gateway: slim, non-root, configured by /etc/gateway/gateway.yaml.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY plugins ./plugins
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && for plugin in plugins/*/; do \
         [ -f "$plugin/pyproject.toml" ] && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels "$plugin"; \
       done; true

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/gateway --create-home gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY gateway/default.yaml /etc/gateway/gateway.yaml
ENV GATEWAY_CONFIG=/etc/gateway/gateway.yaml \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_STORAGE_URL=sqlite:////var/lib/gateway/gateway.db \
    PYTHONUNBUFFERED=1
USER gateway
WORKDIR /var/lib/gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"
ENTRYPOINT ["gateway"]
CMD ["serve"]
