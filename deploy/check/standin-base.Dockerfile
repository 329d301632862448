# A stand-in for python:3.11-slim-bookworm (Docker Hub is not reachable here): Debian bookworm from debootstrap with
# Debian's Python 3.11 with its headers (python:3.11-slim has them); pip reads this machine's local wheels over the host network (docker build --network host).
# Build (where Docker Hub cannot be reached; run as root, Debian host):
#   debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates bookworm rootfs \
#       http://deb.debian.org/debian && tar -C rootfs -cf rootfs.tar . && cp /etc/ssl/certs/ca-certificates.crt .
#   (cd /opt && python3 -m http.server $WHEELS_PORT --bind 127.0.0.1 &)    # the machine's local wheels
#   docker build --network host --build-arg WHEELS_PORT=$WHEELS_PORT -t python:3.11-slim-bookworm \
#       -f standin-base.Dockerfile .
#   docker build --network host -t rpm-explorer /path/to/repo && sh deploy/check/check_image.sh
FROM scratch
ARG WHEELS_PORT
ADD rootfs.tar /
# this machine's TLS interception CA (a stand-in environment detail, not part of the project's image)
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN apt-get update && apt-get install -y --no-install-recommends python3-dev && rm -rf /var/lib/apt/lists/* && ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/pip3 /usr/local/bin/pip
ENV PIP_BREAK_SYSTEM_PACKAGES=1 PIP_FIND_LINKS=http://127.0.0.1:${WHEELS_PORT}/wheels/     PIP_EXTRA_INDEX_URL="http://127.0.0.1:${WHEELS_PORT}/pypi/simple http://127.0.0.1:${WHEELS_PORT}/pypi-more/simple"     PIP_TRUSTED_HOST=127.0.0.1 PIP_RETRIES=0 PIP_TIMEOUT=15 LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
