# A stand-in for haproxy:2.8 (Docker Hub is not reachable here): Debian bookworm's haproxy (2.6) on the stand-in base,
# reading the official image's config path. Build after the stand-in base (standin-base.Dockerfile):
#   docker build --network host -t rpm-haproxy-standin -f deploy/check/standin-haproxy.Dockerfile deploy/check
# and run the compose example with it: RPM_HAPROXY_IMAGE=rpm-haproxy-standin docker-compose -f deploy/compose.yaml up -d
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /usr/local/etc/haproxy
CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]
