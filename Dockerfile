# Channel Gateway: slim, non-root, configured by /etc/gateway/gateway.yaml.
# The embedded default config listens on 0.0.0.0 here, so it needs a secret of your own:
#   docker run -e GATEWAY_GENERIC_SECRET=whsec_... channel-gateway
# (the README's demo secret is refused off loopback and the container exits naming the variable).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY plugins ./plugins
# Any plugin that fails to build fails the image.
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
    && for project in plugins/*/pyproject.toml; do \
         pip wheel --no-cache-dir --no-deps --wheel-dir /wheels "$(dirname "$project")" || exit 1; \
       done

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/gateway --create-home gateway
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY gateway/default.yaml /etc/gateway/gateway.yaml
# GATEWAY_PORT is both the webhook port of the default config and the port HEALTHCHECK probes:
# a config of your own should write `port: ${GATEWAY_PORT:-8080}` (or set GATEWAY_PORT to match).
ENV GATEWAY_CONFIG=/etc/gateway/gateway.yaml \
    GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_STORAGE_URL=sqlite:////var/lib/gateway/gateway.db \
    PYTHONUNBUFFERED=1
USER gateway
WORKDIR /var/lib/gateway
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['GATEWAY_PORT'] + '/healthz', timeout=2)"
ENTRYPOINT ["gateway"]
CMD ["serve"]
